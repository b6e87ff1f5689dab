"""Guardrails as typed options: input guardrails before the model is resolved, output guardrails
on the final answer, each stopping the run with ``guardrail_tripped`` and its own events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentcycle import (
    Agent,
    Guardrail,
    GuardrailContext,
    RunConfig,
    Runner,
    Tripwire,
)
from agentcycle.errors import ConfigurationError
from agentcycle.events import (
    TERMINAL_EVENT_TYPES,
    CompletionReason,
    GuardrailChecked,
    GuardrailTripped,
    RunEvent,
    RunStatus,
    parse_event,
)
from agentcycle.result import RunResult
from agentcycle.sessions.memory import MemorySession
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.testing import ScriptedModel, call_tool, reply


def no_passwords(ctx: GuardrailContext, value: Any) -> Tripwire | None:
    if "password" in str(value):
        return Tripwire("Passwords are not handled here.", code="secret_in_input", details=[1])
    return None


async def run_collecting(
    agent: Agent, input: Any = "hello", config: RunConfig | None = None
) -> tuple[RunResult, list[RunEvent]]:
    handle = await Runner.start(agent, input, config=config)
    result = await handle.result()
    events = [event async for event in handle.events()]
    for event in events:
        assert parse_event(json.loads(json.dumps(event.to_dict()))) == event
    assert sum(e.type in TERMINAL_EVENT_TYPES for e in events) == 1
    assert events[-1].type in TERMINAL_EVENT_TYPES
    return result, events


@pytest.fixture
def no_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No settings file anywhere: a model name cannot be resolved."""
    monkeypatch.delenv("AGENTCYCLE_SETTINGS", raising=False)
    monkeypatch.chdir(tmp_path)


async def test_an_input_guardrail_trips_before_the_model_is_resolved(no_settings: None) -> None:
    agent = Agent(name="ops", model="no-such-model", input_guardrails=[no_passwords])
    with pytest.raises(ConfigurationError, match="settings file"):
        await Runner.run(agent, "hello")  # the model really cannot be resolved

    result, events = await run_collecting(agent, "my password is hunter2")
    assert result.status is RunStatus.FAILED
    assert result.completion_reason is CompletionReason.GUARDRAIL_TRIPPED
    assert result.error is not None and result.error["code"] == "secret_in_input"
    assert result.error["details"] == {
        "guardrail": "no_passwords",
        "stage": "input",
        "details": [1],
    }
    assert result.model_calls == [] and result.partial_output is None
    assert result.model == "no-such-model"
    assert [e.type for e in events] == [
        "run_started",
        "agent_started",
        "guardrail_checked",
        "guardrail_tripped",
        "run_failed",
    ]
    checked = events[2]
    assert isinstance(checked, GuardrailChecked)
    assert (checked.stage, checked.guardrail, checked.outcome) == (
        "input",
        "no_passwords",
        "tripped",
    )
    tripped = events[3]
    assert isinstance(tripped, GuardrailTripped)
    assert (tripped.error_code, tripped.message) == (
        "secret_in_input",
        "Passwords are not handled here.",
    )
    wire = events[-1].to_dict()
    assert (wire["error_code"], wire["completion_reason"]) == (
        "secret_in_input",
        "guardrail_tripped",
    )


async def test_input_guardrails_run_in_layer_order_and_stop_at_the_first_trip() -> None:
    order: list[str] = []

    def named(name: str, trip: bool = False) -> Guardrail:
        async def check(ctx: GuardrailContext, value: Any) -> Tripwire | None:
            order.append(f"{name}:{ctx.stage}:{value}")
            return Tripwire(f"{name} said no") if trip else None

        return Guardrail(check, name=name)

    model = ScriptedModel([call_tool("task_finish", {"message": "done"})])
    agent = Agent(model=model, input_guardrails=[named("agent")])
    runner = Runner(RunConfig(input_guardrails=[named("runner")]))
    result = await runner.run(agent, "hi", config=RunConfig(input_guardrails=[named("run")]))
    assert result.status is RunStatus.COMPLETED
    assert order == ["agent:input:hi", "runner:input:hi", "run:input:hi"]

    order.clear()
    blocked = Agent(model=model, input_guardrails=[named("first", trip=True), named("second")])
    result, events = await run_collecting(blocked, "hi")
    assert order == ["first:input:hi"]
    assert result.error is not None and result.error["code"] == "guardrail_tripped"
    assert [e.guardrail for e in events if isinstance(e, GuardrailChecked)] == ["first"]


async def test_passing_input_guardrails_are_reported_before_the_first_cycle() -> None:
    model = ScriptedModel([call_tool("task_finish", {"message": "done"})])
    agent = Agent(model=model, input_guardrails=[no_passwords])
    result, events = await run_collecting(agent, "hello")
    assert result.final_output == "done"
    kinds = [e.type for e in events]
    assert kinds[:4] == ["run_started", "agent_started", "guardrail_checked", "cycle_started"]
    assert isinstance(events[2], GuardrailChecked) and events[2].outcome == "passed"


async def test_a_guardrail_that_raises_fails_the_run_closed(no_settings: None) -> None:
    def broken(ctx: GuardrailContext, value: Any) -> None:
        raise RuntimeError("classifier down")

    result, events = await run_collecting(Agent(model="no-such-model", input_guardrails=[broken]))
    assert result.status is RunStatus.FAILED
    assert result.completion_reason is CompletionReason.FAILED
    assert result.error is not None and result.error["code"] == "guardrail_failed"
    assert result.error["details"]["error_type"] == "RuntimeError"
    assert [e.type for e in events][2:] == ["guardrail_checked", "run_failed"]
    assert isinstance(events[2], GuardrailChecked) and events[2].outcome == "failed"


async def test_a_guardrail_returning_something_else_fails_the_run() -> None:
    model = ScriptedModel([reply("fine")])
    agent = Agent(model=model, no_tool_policy="finish", output_guardrails=[lambda c, v: "ok"])
    result, _ = await run_collecting(agent)
    assert result.error is not None and result.error["code"] == "guardrail_failed"
    assert "not Tripwire or None" in result.error["message"]


async def test_an_output_guardrail_withholds_the_answer_and_stores_no_turn() -> None:
    def no_card_numbers(ctx: GuardrailContext, value: Any) -> Tripwire | None:
        if "4111" in str(value):
            return Tripwire("A card number would leave the agent.", code="card_number")
        return None

    model = ScriptedModel([reply("Your card is 4111 1111 1111 1111.")])
    session = MemorySession("s")
    agent = Agent(model=model, no_tool_policy="finish", output_guardrails=[no_card_numbers])
    result, events = await run_collecting(agent, "my card?", RunConfig(session=session))
    assert result.status is RunStatus.FAILED
    assert result.completion_reason is CompletionReason.GUARDRAIL_TRIPPED
    assert result.error is not None and result.error["code"] == "card_number"
    assert result.partial_output is None
    assert events[-1].to_dict().get("partial_output") is None
    kinds = [e.type for e in events]
    assert kinds[kinds.index("assistant_message") :] == [
        "assistant_message",
        "guardrail_checked",
        "guardrail_tripped",
        "run_failed",
    ]
    assert await session.get_items() == []


async def test_output_guardrails_see_only_completed_runs() -> None:
    seen: list[Any] = []
    model = ScriptedModel([call_tool("ask_user", {"question": "Which one?"})])
    agent = Agent(model=model, output_guardrails=[lambda c, v: seen.append(v)])
    result, _ = await run_collecting(agent)
    assert result.status is RunStatus.WAIT_USER and seen == []


async def test_streamed_threaded_and_durable_blocked_runs_match(tmp_path: Path) -> None:
    def agent() -> Agent:
        return Agent(model=ScriptedModel([]), input_guardrails=[no_passwords])

    _, plain = await run_collecting(agent(), "password!")
    streamed = [e async for e in Runner.stream(agent(), "password!")]
    threaded, thread_events = await run_collecting(
        agent(), "password!", RunConfig(execution="thread")
    )
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    durable, durable_events = await run_collecting(
        agent(), "password!", RunConfig(checkpoint_store=url)
    )
    kinds = [e.type for e in plain]
    assert [e.type for e in streamed] == kinds
    assert [e.type for e in thread_events] == kinds
    assert [e.type for e in durable_events if not e.type.startswith("checkpoint_")] == kinds
    assert threaded.error == durable.error
    store = open_checkpoint_store(url)
    try:
        head = store.head(durable.run_id)
        assert head is not None and head.status == "terminal"  # the log holds the ending
    finally:
        store.close()


def test_bad_guardrail_options_are_configuration_errors() -> None:
    model = ScriptedModel([reply("x")])
    with pytest.raises(ConfigurationError, match="guardrails must be"):
        Runner.run_sync(Agent(model=model, input_guardrails=["strict"]), "x")  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="callable"):
        Guardrail(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="code"):
        Tripwire("no", code="")


async def test_a_resumed_runs_new_input_passes_the_input_guardrails() -> None:
    def agent(model: ScriptedModel) -> Agent:
        return Agent(model=model, input_guardrails=[no_passwords])

    first = await Runner.run(
        agent(ScriptedModel([call_tool("ask_user", {"question": "Which account?"})])), "reset"
    )
    assert first.status is RunStatus.WAIT_USER
    waiting = first.to_state()

    handle = await Runner.start_resumed(
        agent(ScriptedModel([])), waiting, input="the one with password 123"
    )
    blocked = await handle.result()
    kinds = [e.type async for e in handle.events()]
    assert blocked.completion_reason is CompletionReason.GUARDRAIL_TRIPPED
    assert kinds == [
        "run_started",
        "checkpoint_resumed",
        "agent_started",
        "guardrail_checked",
        "guardrail_tripped",
        "run_failed",
    ]

    done = ScriptedModel([call_tool("task_finish", {"message": "reset acct-9"})])
    resumed = await Runner.resume(agent(done), waiting, input="acct-9")
    assert resumed.final_output == "reset acct-9"
