"""Context providers: fragments rendered into the system prompt in a stable order within the
character budget, asked once per run; a failing provider is left out and reported."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentcycle import (
    Agent,
    ContextProvider,
    InstructionsContext,
    PromptFragment,
    RunConfig,
    Runner,
)
from agentcycle.context_providers import DEFAULT_CONTEXT_BUDGET_CHARS
from agentcycle.errors import ConfigurationError
from agentcycle.events import Diagnostic, RunEvent
from agentcycle.messages import SystemMessage
from agentcycle.runtime.prompts import runtime_note
from agentcycle.testing import ScriptedModel, call_tool, reply


class Static:
    """Returns fixed fragments and counts how often it was asked."""

    def __init__(self, *fragments: PromptFragment, name: str | None = None) -> None:
        self._fragments = list(fragments)
        self.asked: list[InstructionsContext] = []
        if name is not None:
            self.name = name

    async def fragments(self, ctx: InstructionsContext) -> list[PromptFragment]:
        self.asked.append(ctx)
        return self._fragments


class Broken:
    name = "crm"

    async def fragments(self, ctx: InstructionsContext) -> list[PromptFragment]:
        raise ConnectionError("crm unreachable")


class WrongShape:
    async def fragments(self, ctx: InstructionsContext) -> Any:
        return "just a string"


def finish() -> Any:
    return call_tool("task_finish", {"message": "ok"})


def run(
    agent_providers: list[Any], config: RunConfig | None = None, *, cycles: int = 1
) -> tuple[str, Any, list[RunEvent], ScriptedModel]:
    """Run once; return the system prompt the model saw, the result, events and the model."""
    model = ScriptedModel([*[reply(f"step {i}") for i in range(cycles - 1)], finish()])
    agent = Agent(model=model, instructions="Be useful.", context_providers=agent_providers)

    async def main() -> tuple[Any, list[RunEvent]]:
        handle = await Runner.start(agent, "question", config=config)
        result = await handle.result()
        return result, [e async for e in handle.events()]

    result, events = asyncio.run(main())
    system = model.requests[0].messages[0]
    assert isinstance(system, SystemMessage)
    return system.content, result, events, model


def diagnostics(events: list[RunEvent], code: str) -> list[Diagnostic]:
    return [e for e in events if isinstance(e, Diagnostic) and e.code == code]


def test_fragments_follow_the_instructions_and_runtime_note_in_a_stable_order() -> None:
    agent_side = Static(
        PromptFragment("A2", order=2), PromptFragment("A0"), PromptFragment("A1", order=1)
    )
    run_side = Static(PromptFragment("R0"), PromptFragment("R1", order=1))
    system, result, events, _ = run([agent_side], RunConfig(context_providers=[run_side]))
    note = runtime_note("en-US")
    assert system == f"Be useful.\n\n{note}\n\nA0\n\nR0\n\nA1\n\nR1\n\nA2"
    assert result.completed
    assert not [e for e in events if isinstance(e, Diagnostic)]


def test_providers_layer_agent_then_runner_then_run() -> None:
    model = ScriptedModel([finish()])
    agent = Agent(model=model, context_providers=[Static(PromptFragment("agent"))])
    runner = Runner(RunConfig(context_providers=[Static(PromptFragment("runner"))]))
    runner.run_sync(agent, "q", config=RunConfig(context_providers=[Static(PromptFragment("run"))]))
    assert model.requests[0].messages[0].content.endswith("agent\n\nrunner\n\nrun")


def test_fragments_that_do_not_fit_are_dropped_whole_lowest_priority_first() -> None:
    provider = Static(
        PromptFragment("x" * 40, priority=5, source="policies"),
        PromptFragment("y" * 50, priority=1, source="history"),
        PromptFragment("z" * 30, priority=3, source="profile"),
        PromptFragment("w" * 15, priority=0, source="tips"),
    )
    system, result, events, _ = run([provider], RunConfig(context_budget_chars=90))
    assert result.completed
    # 40 (priority 5) + 30 (priority 3) fit; 50 does not fit in the 20 left; 15 does.
    assert system.endswith("x" * 40 + "\n\n" + "z" * 30 + "\n\n" + "w" * 15)
    assert "y" * 50 not in system
    (omitted,) = diagnostics(events, "context_fragments_omitted")
    assert omitted.details == {
        "omitted": 1,
        "sources": ["history"],
        "budget_chars": 90,
        "used_chars": 85,
    }


def test_the_budget_is_the_runs_setting_then_the_agents_then_the_default() -> None:
    big = PromptFragment("b" * (DEFAULT_CONTEXT_BUDGET_CHARS + 1))
    system, _, events, _ = run([Static(big)])
    assert "bbbb" not in system
    assert diagnostics(events, "context_fragments_omitted")[0].details["omitted"] == 1

    model = ScriptedModel([finish()])
    agent = Agent(
        model=model, context_providers=[Static(PromptFragment("fits"))], context_budget_chars=3
    )
    assert Runner.run_sync(agent, "q").completed
    assert "fits" not in model.requests[0].messages[0].content
    model = ScriptedModel([finish()])
    agent = Agent(
        model=model, context_providers=[Static(PromptFragment("fits"))], context_budget_chars=3
    )
    Runner.run_sync(agent, "q", config=RunConfig(context_budget_chars=4))
    assert model.requests[0].messages[0].content.endswith("fits")


def test_a_negative_budget_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="context_budget_chars"):
        run([Static(PromptFragment("x"))], RunConfig(context_budget_chars=-1))


@pytest.mark.parametrize(
    ("provider", "name", "error_type"),
    [(Broken(), "crm", "ConnectionError"), (WrongShape(), "WrongShape", "TypeError")],
)
def test_a_failing_provider_is_left_out_and_reported(
    provider: Any, name: str, error_type: str
) -> None:
    good = Static(PromptFragment("known good"))
    system, result, events, _ = run([provider, good])
    assert result.completed
    assert system.endswith("known good")
    (failed,) = diagnostics(events, "context_provider_failed")
    assert failed.level == "warning"
    assert failed.details["provider"] == name and failed.details["error_type"] == error_type
    order = [e.type for e in events]
    assert order.index("diagnostic") == order.index("agent_started") + 1


def test_providers_are_asked_once_per_run_and_the_prompt_is_stable_across_cycles() -> None:
    provider = Static(PromptFragment("today is Tuesday", source="calendar"))
    _, result, _, model = run([provider], RunConfig(context={"tenant": "acme"}), cycles=3)
    assert result.cycles == 3
    assert len(provider.asked) == 1
    assert len({r.messages[0].content for r in model.requests}) == 1
    ctx = provider.asked[0]
    assert ctx.run_id == result.run_id
    assert ctx.input == "question" and ctx.context == {"tenant": "acme"}
    run([provider])
    assert len(provider.asked) == 2


def test_a_resumed_run_keeps_its_prompt_and_does_not_ask_again() -> None:
    provider = Static(PromptFragment("v1 context"))
    model = ScriptedModel([call_tool("ask_user", {"question": "which?"}), finish()])
    agent = Agent(model=model, context_providers=[provider])
    first = Runner.run_sync(agent, "go")
    assert first.status == "wait_user"
    resumed = Runner.resume_sync(agent, first.to_state(), input="the blue one")
    assert resumed.completed
    assert len(provider.asked) == 1
    assert model.requests[1].messages[0].content.endswith("v1 context")


def test_something_without_fragments_is_a_configuration_error() -> None:
    assert isinstance(Static(), ContextProvider)
    with pytest.raises(ConfigurationError, match="fragments"):
        Runner.run_sync(
            Agent(model=ScriptedModel([finish()]), context_providers=[object()]),  # type: ignore[list-item]
            "go",
        )


def test_a_provider_over_its_timeout_is_left_out_and_the_run_goes_on() -> None:
    class Hangs:
        name = "slow-crm"
        timeout = 0.05

        async def fragments(self, ctx: InstructionsContext) -> list[PromptFragment]:
            await asyncio.Event().wait()
            return []

    good = Static(PromptFragment("known good"))
    system, result, events, _ = run([Hangs(), good])
    assert result.completed and system.endswith("known good")
    (failed,) = diagnostics(events, "context_provider_failed")
    assert failed.details["provider"] == "slow-crm"
    assert failed.details["error_type"] == "TimeoutError"
    assert "0.05 s" in failed.details["error"]


def test_a_provider_timeout_that_is_not_seconds_is_a_configuration_error() -> None:
    class Misconfigured(Static):
        timeout = "10"

    with pytest.raises(ConfigurationError, match=r"Misconfigured\.timeout must be a positive"):
        Runner.run_sync(
            Agent(model=ScriptedModel([finish()]), context_providers=[Misconfigured()]), "go"
        )
