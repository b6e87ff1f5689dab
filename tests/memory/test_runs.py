"""Memory inside whole runs: policy layering, unknown windows, resume and steering."""

from __future__ import annotations

from typing import Any

import pytest

from agentcycle import Agent, RunBudget, RunConfig, Runner, function_tool
from agentcycle.errors import PromptTooLongError
from agentcycle.events import ModelCallCompleted, RunStatus
from agentcycle.memory.compaction import is_memory_note
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.messages import Message, TokenUsage, UserMessage
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.pricing import ModelPrice, StaticPriceTable
from agentcycle.state import RunState
from agentcycle.testing import ScriptedModel, call_tool, reply

BIG = "y" * 4_000


@function_tool(run_in_thread=False)
def fetch(n: int) -> str:
    """Fetch one page."""
    return f"page {n} {BIG}"


def fetching(cycles: int, *, then: str = "finish") -> Any:
    """A model that fetches until ``cycles``, then finishes (or asks the user)."""

    def step(request: ModelRequest) -> ModelResponse:
        if request.operation == "memory_compaction":
            return reply("summary of the earlier pages")
        index = request.cycle_index or 0
        if index < cycles:
            return call_tool("fetch", {"n": index})
        if then == "ask":
            return call_tool("ask_user", {"question": "Continue?"})
        return call_tool("task_finish", {"message": "done"})

    return step


async def compactions(agent: Agent, config: RunConfig | None = None) -> tuple[Any, list[Any]]:
    handle = await Runner.start(agent, "go", config=config)
    result = await handle.result()
    events = [e async for e in handle.events() if e.type.startswith("memory_compact")]
    return result, events


async def test_an_unknown_window_never_compacts_on_threshold() -> None:
    agent = Agent(model=ScriptedModel(fetching(40)), tools=[fetch], max_cycles=40)
    result, events = await compactions(agent)
    assert result.completed and events == []


async def test_the_run_config_policy_replaces_the_agents() -> None:
    small = ScriptedModel(fetching(20), context_length=8_000)
    off = Agent(model=small, tools=[fetch], max_cycles=20, memory=MemoryPolicy(enabled=False))
    result, events = await compactions(off)
    # Nothing compacts: the history outgrows the window and the next prompt is refused unsent.
    assert events == []
    assert result.error is not None and result.error["code"] == "prompt_too_long"
    assert result.error["details"]["sent"] is False
    small = ScriptedModel(fetching(20), context_length=8_000)
    off = Agent(model=small, tools=[fetch], max_cycles=20, memory=MemoryPolicy(enabled=False))
    result, events = await compactions(off, RunConfig(memory=MemoryPolicy()))
    assert result.completed and events


async def test_a_window_from_the_policy_applies_to_a_model_that_declares_none() -> None:
    agent = Agent(model=ScriptedModel(fetching(20)), tools=[fetch], max_cycles=20)
    result, events = await compactions(agent, RunConfig(memory=MemoryPolicy(context_length=8_000)))
    assert result.completed and events


async def test_with_memory_disabled_a_rejected_prompt_fails_the_run_as_is() -> None:
    model = ScriptedModel([PromptTooLongError("too long")])
    agent = Agent(model=model, memory=MemoryPolicy(enabled=False))
    result = await Runner.run(agent, "x")
    assert result.error is not None and result.error["code"] == "prompt_too_long"


async def test_a_resumed_run_continues_from_the_compacted_history() -> None:
    agent = Agent(
        model=ScriptedModel(fetching(20, then="ask"), context_length=8_000),
        tools=[fetch],
        max_cycles=30,
    )
    waiting, events = await compactions(agent)
    assert waiting.status is RunStatus.WAIT_USER and events
    state = RunState.from_json(waiting.to_state().to_json())
    assert state.messages() == waiting.messages
    assert any(c.compaction is not None for c in state.cycles)
    assert len(waiting.messages) < 2 + 2 * 20  # shorter than the uncompacted history

    seen: list[list[Message]] = []

    def resumed(request: ModelRequest) -> ModelResponse:
        seen.append(list(request.messages))
        return call_tool("task_finish", {"message": "finished"})

    agent.model = ScriptedModel(resumed, context_length=8_000)
    result = await Runner.resume(agent, state, input="yes, continue")
    assert result.completed
    assert seen[0][: len(waiting.messages)] == waiting.messages
    assert seen[0][-1] == UserMessage(content="yes, continue")
    assert any(is_memory_note(m) for m in seen[0]) or any(
        "archived tool result" in str(m.content) for m in seen[0]
    )


async def test_a_compaction_during_recovery_keeps_the_cycles_steering_message_once() -> None:
    box: dict[str, Any] = {"rejected": False}

    def step(request: ModelRequest) -> ModelResponse:
        if request.operation == "memory_compaction":
            return reply("summary")
        index = request.cycle_index or 0
        if index == 7:
            box["handle"].steer("Please hurry.")
        if index == 8 and not box["rejected"]:
            box["rejected"] = True
            raise PromptTooLongError("too long")
        if index < 10:
            return call_tool("fetch", {"n": index})
        return call_tool("task_finish", {"message": "done"})

    agent = Agent(model=ScriptedModel(step), tools=[fetch], max_cycles=12)
    handle = await Runner.start(agent, "go")
    box["handle"] = handle
    result = await handle.result()
    assert result.completed and box["rejected"]
    steering = [m for m in result.messages if m == UserMessage(content="Please hurry.")]
    assert len(steering) == 1
    assert result.state.messages() == result.messages
    compaction = next(c for c in result.state.cycles if c.compaction is not None)
    assert compaction.compaction is not None and compaction.compaction.trigger == "prompt_too_long"
    assert compaction.index == 7  # recorded after the last committed cycle


async def test_the_providers_reported_prompt_tokens_drive_the_threshold() -> None:
    # Window 10,000: 5,000 reserved for output, 500 safety; compaction above 3,600 tokens.
    def step(request: ModelRequest) -> ModelResponse:
        if request.operation == "memory_compaction":
            return reply("summary")
        index = request.cycle_index or 0
        if index >= 8:
            return call_tool("task_finish", {"message": "done"})
        prompt = 4_000 if index == 5 else 1_000
        return call_tool("fetch", {"n": index}, usage=TokenUsage.of(prompt, 10))

    agent = Agent(model=ScriptedModel(step, context_length=10_000), tools=[fetch], max_cycles=9)
    handle = await Runner.start(agent, "go")
    result = await handle.result()
    events = [e async for e in handle.events() if e.type.startswith("memory_compact")]
    assert result.completed
    started, completed = events[0], events[1]
    # The local estimate passed the threshold cycles earlier; the provider's counts (1,000)
    # held compaction off until a call reported 4,000 prompt tokens.
    assert started.cycle_index == 6
    assert started.estimated_tokens > 4_000
    assert completed.tokens_before > 3_600
    assert completed.tokens_after < completed.tokens_before


def summarising_with_usage(summary_usage: TokenUsage) -> Any:
    """Fetches (no usage reported, so the window is estimated locally) with summaries that
    report ``summary_usage``."""

    def step(request: ModelRequest) -> ModelResponse:
        if request.operation == "memory_compaction":
            return reply("summary of the earlier pages", usage=summary_usage)
        index = request.cycle_index or 0
        if index < 20:
            return call_tool("fetch", {"n": index})
        return call_tool("task_finish", {"message": "done"})

    return step


def summarising_agent(summary_usage: TokenUsage) -> Agent:
    # Results under micro_min_chars are never archived, so only summaries can make room.
    return Agent(
        model=ScriptedModel(summarising_with_usage(summary_usage), context_length=8_000),
        tools=[fetch],
        max_cycles=20,
        memory=MemoryPolicy(micro_min_chars=10**6),
    )


PRICES = StaticPriceTable({"scripted": ModelPrice(input_per_million=1.0, output_per_million=10.0)})


async def test_summary_calls_are_priced_like_the_runs_own_calls() -> None:
    agent = summarising_agent(TokenUsage.of(5_000, 500))  # $0.005 + $0.005 at PRICES
    handle = await Runner.start(agent, "go", config=RunConfig(price_table=PRICES))
    result = await handle.result()
    summaries = [
        e
        async for e in handle.events()
        if isinstance(e, ModelCallCompleted) and e.operation == "memory_compaction"
    ]
    assert result.completed and summaries
    assert all(e.usage.cost_usd == pytest.approx(0.01) for e in summaries)
    assert result.usage.cost_usd == pytest.approx(0.01 * len(summaries))


async def test_summary_calls_count_toward_the_token_budget() -> None:
    agent = summarising_agent(TokenUsage.of(5_000, 500))
    config = RunConfig(budget=RunBudget(max_total_tokens=5_000))
    result = await Runner.run(agent, "go", config=config)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "budget_exhausted"
    assert result.error["details"]["used"]["total_tokens"] == 5_500
