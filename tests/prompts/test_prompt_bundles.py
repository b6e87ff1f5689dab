"""Prompt bundles in runs: the sections the model sees, a stable hash that holds across cycles
and resume, the prefix-change diagnostic, and the errors bad bundles get."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentcycle import Agent, InstructionsContext, RunConfig, Runner, RunStatus, handoff
from agentcycle.errors import ConfigurationError
from agentcycle.events import Diagnostic
from agentcycle.hooks import HookContext, RuntimeHook
from agentcycle.messages import SystemMessage
from agentcycle.models.base import ModelRequest
from agentcycle.prompts import (
    PromptBundle,
    PromptSection,
    current_time_section,
    message_stable_hash,
    stable_hash,
)
from agentcycle.runtime.prompts import runtime_note
from agentcycle.state import RunState
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.testing import ScriptedModel, call_tool

RULES = PromptSection(id="agent", text="You review pull requests.")
STYLE = PromptSection(id="style", text="Answer in short bullet points.")
NOON = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def system_of(request_messages: object) -> SystemMessage:
    messages = list(request_messages)  # type: ignore[call-overload]
    assert isinstance(messages[0], SystemMessage)
    return messages[0]


def ticking(cycles: int) -> ScriptedModel:
    return ScriptedModel(
        [
            *(call_tool("todo_write", {"todos": []}) for _ in range(cycles - 1)),
            call_tool("task_finish", {"message": "done"}),
        ]
    )


async def test_a_bundle_becomes_ordered_sections_stable_first() -> None:
    model = ticking(1)
    bundle = PromptBundle.of(RULES, current_time_section(NOON), STYLE)

    await Runner.run(Agent(instructions=bundle, model=model), "review #12")

    system = system_of(model.requests[0].messages)
    assert [(s.id, s.stable) for s in system.sections] == [
        ("agent", True),
        ("style", True),
        ("tools", True),
        ("current_time", False),
    ]
    assert system.content == "\n\n".join(s.text for s in system.sections)
    assert "2026-03-01T12:00:00+00:00" in system.content
    assert message_stable_hash(system) == stable_hash([RULES, STYLE, system.sections[2]])


async def test_a_string_is_one_stable_agent_section_and_the_prompt_text_is_unchanged() -> None:
    model = ticking(1)

    await Runner.run(Agent(instructions="Be brief.  \n", model=model), "hi")

    system = system_of(model.requests[0].messages)
    assert system.content == f"Be brief.\n\n{runtime_note('en-US')}"
    assert [s.id for s in system.sections] == ["agent", "tools"]


async def test_the_stable_hash_is_the_same_on_every_cycle() -> None:
    model = ticking(3)
    agent = Agent(
        instructions=lambda ctx: PromptBundle.of(RULES, current_time_section()), model=model
    )

    assert await diagnostics(agent, "go") == []
    assert len(model.requests) == 3
    assert len({message_stable_hash(system_of(r.messages)) for r in model.requests}) == 1


async def test_a_resumed_run_reuses_the_frozen_bundle_without_calling_the_callable() -> None:
    calls: list[str] = []

    def instructions(ctx: InstructionsContext) -> PromptBundle:
        calls.append(ctx.run_id)
        return PromptBundle.of(RULES, current_time_section())  # reads the clock

    first = ScriptedModel([call_tool("ask_user", {"question": "Which branch?"})])
    waiting = await Runner.run(Agent(instructions=instructions, model=first), "review")
    assert waiting.status is RunStatus.WAIT_USER
    state = RunState.from_json(waiting.to_state().to_json())  # as if stored and reloaded

    second = ScriptedModel([call_tool("task_finish", {"message": "done"})])
    result = await Runner.resume(
        Agent(instructions=instructions, model=second), state, input="main"
    )

    assert result.status is RunStatus.COMPLETED
    assert calls == [waiting.run_id]  # not called again on resume
    before = system_of(first.requests[0].messages)
    after = system_of(second.requests[0].messages)
    assert after == before  # the same time text: no clock read
    assert message_stable_hash(after) == message_stable_hash(before)


class RewriteSystem(RuntimeHook):
    """Replaces the system message on one cycle (a patch for that call only)."""

    def __init__(self, cycle: int, *, stable: bool) -> None:
        self.cycle = cycle
        self.stable = stable

    async def before_model_call(
        self, ctx: HookContext, request: ModelRequest
    ) -> ModelRequest | None:
        if request.cycle_index != self.cycle:
            return None
        system = system_of(request.messages)
        extra = PromptSection(id="hook", text="Also check the tests.", stable=self.stable)
        patched = PromptBundle(sections=(*system.sections, extra)).to_message()
        return dataclasses.replace(request, messages=[patched, *request.messages[1:]])


async def diagnostics(agent: Agent, text: str) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    async for event in Runner.stream(agent, text):
        if isinstance(event, Diagnostic) and event.code == "prompt_prefix_changed":
            found.append(event)
    return found


async def test_a_changed_stable_section_emits_the_diagnostic() -> None:
    agent = Agent(instructions="Review.", model=ticking(3), hooks=[RewriteSystem(2, stable=True)])

    found = await diagnostics(agent, "go")

    # Cycle 2 adds a stable section; cycle 3 goes back to the run's own prompt.
    assert [(e.cycle_index, e.level, e.details["changed_sections"]) for e in found] == [
        (2, "info", ["hook"]),
        (3, "info", ["hook"]),
    ]
    assert found[0].details["previous_hash"] == found[1].details["stable_hash"]
    assert found[0].details["stable_hash"] == found[1].details["previous_hash"]


async def test_a_changed_volatile_section_emits_nothing() -> None:
    agent = Agent(instructions="Review.", model=ticking(3), hooks=[RewriteSystem(2, stable=False)])

    assert await diagnostics(agent, "go") == []


async def test_a_run_whose_prompt_never_changes_emits_nothing() -> None:
    assert await diagnostics(Agent(instructions="Review.", model=ticking(3)), "go") == []


def test_bundles_reject_empty_and_repeated_ids() -> None:
    with pytest.raises(ConfigurationError, match="appears twice"):
        PromptBundle.of(RULES, PromptSection(id="agent", text="again"))
    with pytest.raises(ConfigurationError, match="non-empty id"):
        PromptBundle.of(PromptSection(id="", text="x"))


async def test_a_bundle_may_not_use_a_runtime_section_id() -> None:
    bundle = PromptBundle.of(PromptSection(id="tools", text="mine"))
    with pytest.raises(ConfigurationError, match="reserved for the runtime"):
        await Runner.run(Agent(instructions=bundle, model=ticking(1)), "go")


@pytest.mark.parametrize("bad", [lambda ctx: 42, 42])
async def test_instructions_of_the_wrong_type_are_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="instructions"):
        await Runner.run(Agent(instructions=bad, model=ticking(1)), "go")  # type: ignore[arg-type]


def test_the_stable_hash_ignores_volatile_sections_and_tells_sections_apart() -> None:
    now, later = current_time_section(NOON), current_time_section(datetime(2027, 1, 1, tzinfo=UTC))
    assert PromptBundle.of(RULES, now).stable_hash == PromptBundle.of(RULES, later).stable_hash
    assert stable_hash([PromptSection(id="ab", text="c")]) != stable_hash(
        [PromptSection(id="a", text="bc")]
    )
    assert PromptBundle.of(RULES, STYLE).stable_hash != PromptBundle.of(STYLE, RULES).stable_hash


async def test_a_handoff_changes_the_prefix_and_a_resume_keeps_the_targets_bundle() -> None:
    billing_bundle = PromptBundle.of(
        PromptSection(id="agent", text="You handle refunds."), current_time_section(NOON)
    )
    billing_model = ScriptedModel(
        [
            call_tool("ask_user", {"question": "Which order?"}),
            call_tool("task_finish", {"message": "Refunded."}),
        ]
    )
    billing = Agent(name="Billing", instructions=billing_bundle, model=billing_model)
    triage = Agent(
        name="Triage",
        instructions="Route requests.",
        model=ScriptedModel([call_tool("transfer_to_billing", {"input": "refund"})]),
        handoffs=[handoff(billing, "refunds")],
    )

    handle = await Runner.start(triage, "refund me")
    found = [
        e
        async for e in handle.events()
        if isinstance(e, Diagnostic) and e.code == "prompt_prefix_changed"
    ]
    waiting = await handle.result()

    assert [(e.agent_name, e.details["changed_sections"]) for e in found] == [
        ("Billing", ["agent"])
    ]
    state = RunState.from_json(waiting.to_state().to_json())
    restored = state.messages()[0]
    assert isinstance(restored, SystemMessage)
    assert restored == system_of(billing_model.requests[0].messages)
    assert restored.sections[-1].id == "current_time"

    await Runner.resume(triage, state, input="A-17")
    assert system_of(billing_model.requests[1].messages) == restored


async def test_a_durable_run_resumed_from_its_sqlite_log_keeps_its_bundle(tmp_path: Path) -> None:
    calls: list[str] = []

    def instructions(ctx: InstructionsContext) -> PromptBundle:
        calls.append(ctx.run_id)
        return PromptBundle.of(RULES, current_time_section())

    url = f"sqlite:///{tmp_path / 'runs.db'}"
    first = ScriptedModel([call_tool("ask_user", {"question": "Which branch?"})])
    store = open_checkpoint_store(url)
    try:
        waiting = await Runner.run(
            Agent(instructions=instructions, model=first),
            "review",
            config=RunConfig(checkpoint_store=store, run_id="pr-7"),
        )
    finally:
        store.close()
    assert waiting.status is RunStatus.WAIT_USER

    second = ScriptedModel([call_tool("task_finish", {"message": "done"})])
    reopened = open_checkpoint_store(url)  # as another process would
    try:
        done = await Runner.resume_run(
            Agent(instructions=instructions, model=second),
            "pr-7",
            input="main",
            config=RunConfig(checkpoint_store=reopened),
        )
    finally:
        reopened.close()

    assert done.final_output == "done"
    assert calls == ["pr-7"]
    assert system_of(second.requests[0].messages) == system_of(first.requests[0].messages)
