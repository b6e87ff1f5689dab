"""Each budget limit ends the run with ``budget_exhausted`` and what was used; history stays
paired; a run without a budget behaves exactly as before."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentcycle import Agent, RunBudget, RunConfig, Runner, SideEffect, function_tool
from agentcycle.errors import ConfigurationError, RunFailedError
from agentcycle.events import CompletionReason, RunEvent, RunStatus, parse_event
from agentcycle.messages import AssistantMessage, Message, TokenUsage, ToolMessage
from agentcycle.models.base import ModelInfo, ModelRequest, ModelStreamItem, TextDelta
from agentcycle.pricing import ModelPrice, StaticPriceTable
from agentcycle.result import RunResult
from agentcycle.testing import ScriptedModel, call_tool

USAGE = TokenUsage.of(100, 20)


def finish() -> Any:
    return call_tool("task_finish", {"message": "done"})


def counting_tools() -> tuple[list[str], list[Any]]:
    """``tick`` and ``tock`` tools that record each execution, and a read-only ``look``."""
    ran: list[str] = []

    @function_tool(run_in_thread=False)
    def tick(n: int = 0) -> str:
        """Tick."""
        ran.append("tick")
        return "ok"

    @function_tool(run_in_thread=False)
    def tock(n: int = 0) -> str:
        """Tock."""
        ran.append("tock")
        return "ok"

    @function_tool(run_in_thread=False, read_only=True)
    def look(n: int = 0) -> str:
        """Look."""
        ran.append("look")
        return "seen"

    return ran, [tick, tock, look]


async def run_collecting(
    agent: Agent, config: RunConfig | None = None
) -> tuple[RunResult, list[RunEvent]]:
    handle = await Runner.start(agent, "go", config=config)
    result = await handle.result()
    events = [event async for event in handle.events()]
    return result, events


def assert_budget_failure(result: RunResult, events: list[RunEvent], limit: str) -> dict[str, Any]:
    """The shared shape of a budget failure; returns the error's ``used`` counters."""
    assert result.status is RunStatus.FAILED
    assert result.completion_reason is CompletionReason.BUDGET_EXHAUSTED
    assert result.error is not None and result.error["code"] == "budget_exhausted"
    details = result.error["details"]
    assert details["limit"] == limit
    assert limit in result.error["message"]
    exhausted, failed = events[-2], events[-1]
    assert exhausted.type == "budget_exhausted" and failed.type == "run_failed"
    assert exhausted.to_dict()["limit"] == limit
    assert exhausted.to_dict()["usage"] == details["used"]
    failed_data = failed.to_dict()
    assert failed_data["error_code"] == "budget_exhausted"
    assert failed_data["completion_reason"] == "budget_exhausted"
    for event in events:  # every event, budget ones included, survives JSON
        assert parse_event(json.loads(json.dumps(event.to_dict()))) == event
    assert_paired(result.messages)
    assert_paired(result.state.messages())
    return dict(details["used"])


def assert_paired(messages: list[Message]) -> None:
    """Every tool call of every assistant message has exactly one result right after it."""
    for i, message in enumerate(messages):
        if isinstance(message, AssistantMessage) and message.tool_calls:
            following = messages[i + 1 : i + 1 + len(message.tool_calls)]
            assert [m.tool_call_id for m in following if isinstance(m, ToolMessage)] == [
                c.id for c in message.tool_calls
            ]


async def test_token_limit_stops_before_the_next_model_call() -> None:
    ran, tools = counting_tools()
    model = ScriptedModel([call_tool("tick", {}, usage=USAGE) for _ in range(5)] + [finish()])
    agent = Agent(model=model, tools=tools)
    budget = RunBudget(max_total_tokens=300)
    result, events = await run_collecting(agent, RunConfig(budget=budget))
    used = assert_budget_failure(result, events, "max_total_tokens")
    # 120 tokens per call: the third call crosses 300, the fourth never starts.
    assert model.calls == 3 and ran == ["tick"] * 3
    assert used["total_tokens"] == 360 and used["model_calls"] == 3
    assert used["tool_calls"] == 3 and used["tool_calls_per_tool"] == {"tick": 3}
    assert result.error is not None and result.error["details"]["limit_value"] == 300
    assert result.usage.total_tokens == 360
    assert result.cycles == 3


async def test_cost_limit_counts_priced_calls() -> None:
    _, tools = counting_tools()
    usage = TokenUsage.of(1000, 100)  # $0.001 input + $0.001 output at the prices below
    model = ScriptedModel([call_tool("tick", {}, usage=usage) for _ in range(5)] + [finish()])
    prices = StaticPriceTable(
        {"scripted": ModelPrice(input_per_million=1.0, output_per_million=10.0)}
    )
    config = RunConfig(budget=RunBudget(max_cost_usd=0.005), price_table=prices)
    result, events = await run_collecting(Agent(model=model, tools=tools), config)
    used = assert_budget_failure(result, events, "max_cost_usd")
    assert model.calls == 3
    assert used["cost_usd"] == pytest.approx(0.006)
    assert used["model_calls_without_cost"] == 0


async def test_cost_limit_without_a_price_is_refused_at_start() -> None:
    agent = Agent(model=ScriptedModel([finish()]))
    with pytest.raises(ConfigurationError) as caught:
        await Runner.run(agent, "go", config=RunConfig(budget=RunBudget(max_cost_usd=1.0)))
    assert caught.value.code == "missing_price"
    assert "scripted" in caught.value.message


async def test_tool_call_limit_skips_the_rest_of_the_batch() -> None:
    ran, tools = counting_tools()
    batch = call_tool([("tick", {"n": 1}), ("tock", {"n": 2}), ("tick", {"n": 3})])
    model = ScriptedModel([call_tool("tick", {}), batch, finish()])
    config = RunConfig(budget=RunBudget(max_tool_calls=2))
    result, events = await run_collecting(Agent(model=model, tools=tools), config)
    used = assert_budget_failure(result, events, "max_tool_calls")
    assert ran == ["tick", "tick"]
    assert used["tool_calls"] == 2 and used["tool_calls_per_tool"] == {"tick": 2}
    results = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [m.is_error for m in results] == [False, False, True, True]
    for skipped in results[2:]:  # the call over the limit and the one after it
        assert "tool_call_skipped" in str(skipped.content) and "budget" in str(skipped.content)
    # The cycle that hit the limit is committed: a host sees every call answered.
    assert result.cycles == 2 and model.calls == 2


async def test_parallel_read_only_batch_that_would_cross_the_limit_stops_at_the_exact_call() -> (
    None
):
    ran, tools = counting_tools()
    batch = call_tool([("look", {"n": i}) for i in range(3)])
    model = ScriptedModel([batch, finish()])
    config = RunConfig(budget=RunBudget(max_tool_calls=2))
    result, events = await run_collecting(Agent(model=model, tools=tools), config)
    assert_budget_failure(result, events, "max_tool_calls")
    assert ran == ["look", "look"]


async def test_per_tool_limit_names_the_tool() -> None:
    ran, tools = counting_tools()
    script = [call_tool(name, {}) for name in ("tick", "tock", "tick", "tock", "tick", "tock")]
    model = ScriptedModel([*script, finish()])
    budget = RunBudget(max_tool_calls_per_tool={"tick": 2})
    result, events = await run_collecting(Agent(model=model, tools=tools), RunConfig(budget=budget))
    used = assert_budget_failure(result, events, "max_tool_calls_per_tool")
    assert ran == ["tick", "tock", "tick", "tock"]
    assert result.error is not None and result.error["details"]["tool"] == "tick"
    assert used["tool_calls_per_tool"] == {"tick": 2, "tock": 2}


async def test_task_finish_is_never_counted_or_refused() -> None:
    ran, tools = counting_tools()
    model = ScriptedModel([call_tool("tick", {}), finish()])
    config = RunConfig(budget=RunBudget(max_tool_calls=1, max_tool_calls_per_tool={"tick": 1}))
    result = await Runner.run(Agent(model=model, tools=tools), "go", config=config)
    assert result.status is RunStatus.COMPLETED and ran == ["tick"]


async def test_wall_time_cancels_a_slow_tool_promptly_and_keeps_history_paired() -> None:
    started = asyncio.Event()
    cancelled: list[bool] = []

    @function_tool
    async def crawl(url: str) -> str:
        """A tool that never returns on its own."""
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "unreachable"

    model = ScriptedModel([call_tool("crawl", {"url": "https://example.org"}), finish()])
    config = RunConfig(budget=RunBudget(max_wall_seconds=0.3))
    begin = time.monotonic()
    result, events = await run_collecting(Agent(model=model, tools=[crawl]), config)
    assert time.monotonic() - begin < 3.0
    assert started.is_set() and cancelled == [True]
    used = assert_budget_failure(result, events, "max_wall_seconds")
    assert used["wall_seconds"] >= 0.3
    # The call had started: the model and the host learn it was interrupted, not skipped.
    (closed,) = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert json.loads(str(closed.content))["error_code"] == "tool_call_interrupted"
    assert "wall-time budget" in str(closed.content)
    completed = [e.to_dict() for e in events if e.type == "tool_call_completed"]
    assert [(c["error_code"], c["execution_started"]) for c in completed] == [
        ("tool_call_interrupted", True)
    ]
    assert [e.type for e in events].count("tool_call_planned") == 1
    # The interrupted cycle is committed, so the state holds the same paired history.
    assert result.state.messages() == result.messages


class StallingModel:
    """Streams a few words, then waits forever: a provider that stopped sending."""

    def __init__(self) -> None:
        self.info = ModelInfo()
        self.closed = False

    @property
    def name(self) -> str:
        return "stalling"

    @property
    def backend(self) -> str | None:
        return None

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamItem]:
        try:
            yield TextDelta("Let me think")
            await asyncio.Event().wait()
        finally:
            self.closed = True


async def test_wall_time_cancels_a_stalled_model_stream_promptly() -> None:
    model = StallingModel()
    config = RunConfig(budget=RunBudget(max_wall_seconds=0.3))
    begin = time.monotonic()
    result, events = await run_collecting(Agent(model=model), config)
    assert time.monotonic() - begin < 3.0
    assert model.closed
    used = assert_budget_failure(result, events, "max_wall_seconds")
    assert used["model_calls"] == 0
    assert [e.type for e in events if e.type.startswith("assistant")] == ["assistant_delta"]
    assert not any(isinstance(m, AssistantMessage) for m in result.messages)


async def test_a_host_cancel_under_a_wall_time_budget_is_still_a_cancel() -> None:
    entered = asyncio.Event()

    @function_tool
    async def wait_here() -> str:
        """Blocks until cancelled."""
        entered.set()
        await asyncio.Event().wait()
        return "unreachable"

    model = ScriptedModel([call_tool("wait_here", {}), finish()])
    handle = await Runner.start(
        Agent(model=model, tools=[wait_here]),
        "go",
        config=RunConfig(budget=RunBudget(max_wall_seconds=60)),
    )
    await entered.wait()
    await handle.cancel("host stop")
    result = await handle.result()
    assert result.status is RunStatus.CANCELLED
    assert_paired(result.messages)
    (closed,) = [m for m in result.messages if isinstance(m, ToolMessage)]
    body = json.loads(str(closed.content))
    assert body["error_code"] == "tool_call_interrupted" and "run cancelled" in body["error"]


def event_shape(events: list[RunEvent]) -> list[tuple[str, Any]]:
    """Event types with the payload fields that do not vary between runs."""
    varying = {
        "event_id",
        "run_id",
        "trace_id",
        "created_at",
        "call_id",
        "operation_id",
        "tool_call_id",
        "tool_calls",
    }
    shape = []
    for event in events:
        data = event.to_dict()
        data.pop("duration_ms", None)
        shape.append((event.type, {k: v for k, v in data.items() if k not in varying}))
    return shape


async def test_no_budget_and_generous_budgets_change_nothing() -> None:
    def script() -> ScriptedModel:
        return ScriptedModel(
            [
                call_tool("tick", {}, usage=USAGE),
                call_tool([("look", {"n": 1}), ("look", {"n": 2})], usage=USAGE),
                call_tool("task_finish", {"message": "done"}, usage=USAGE),
            ]
        )

    shapes = []
    for budget in (
        None,
        RunBudget(),
        RunBudget(
            max_total_tokens=10_000,
            max_tool_calls=10,
            max_tool_calls_per_tool={"tick": 5},
            max_wall_seconds=60,
        ),
    ):
        ran, tools = counting_tools()
        result, events = await run_collecting(
            Agent(model=script(), tools=tools), RunConfig(budget=budget)
        )
        assert result.status is RunStatus.COMPLETED and ran == ["tick", "look", "look"]
        shapes.append(event_shape(events))
    assert shapes[0] == shapes[1] == shapes[2]


def test_budget_validation_and_layering() -> None:
    for bad in (
        {"max_total_tokens": 0},
        {"max_tool_calls": -1},
        {"max_wall_seconds": 0},
        {"max_cost_usd": -0.5},
        {"max_tool_calls_per_tool": {"tick": 0}},
        {"max_total_tokens": True},
    ):
        with pytest.raises(ConfigurationError):
            RunBudget(**bad)
    per_tool = {"tick": 2}
    budget = RunBudget(max_tool_calls_per_tool=per_tool)
    per_tool["tick"] = 99  # the budget keeps its own copy
    assert budget.max_tool_calls_per_tool == {"tick": 2}

    runner = RunConfig(
        budget=RunBudget(max_cost_usd=1.0, max_tool_calls=5, max_tool_calls_per_tool={"a": 1})
    )
    run = RunConfig(budget=RunBudget(max_tool_calls=3, max_tool_calls_per_tool={"b": 2}))
    merged = run.over(runner).budget
    assert merged == RunBudget(
        max_cost_usd=1.0, max_tool_calls=3, max_tool_calls_per_tool={"a": 1, "b": 2}
    )
    assert RunConfig().over(runner).budget == runner.budget


async def test_runner_level_budget_applies_to_its_runs() -> None:
    ran, tools = counting_tools()
    model = ScriptedModel([call_tool("tick", {}) for _ in range(3)] + [finish()])
    runner = Runner(RunConfig(budget=RunBudget(max_tool_calls=1)))
    result = await runner.run(Agent(model=model, tools=tools), "go")
    assert result.completion_reason is CompletionReason.BUDGET_EXHAUSTED and ran == ["tick"]
    with pytest.raises(RunFailedError, match="Budget exhausted"):
        result.raise_for_status()


async def test_resumed_calls_count_against_the_resumed_runs_budget() -> None:
    ran: list[str] = []

    @function_tool(side_effect=SideEffect.EXECUTE)
    def deploy(target: str) -> str:
        """Deploy (needs approval: it executes)."""
        ran.append(target)
        return f"deployed {target}"

    first = ScriptedModel([call_tool([("deploy", {"target": "a"}), ("deploy", {"target": "b"})])])
    waiting = await Runner.run(Agent(model=first, tools=[deploy]), "ship")
    assert waiting.status is RunStatus.WAIT_USER
    pending = waiting.to_state().pending_tool_calls
    approvals = {p.request_id or p.tool_call_id: "allow" for p in pending}
    config = RunConfig(budget=RunBudget(max_tool_calls_per_tool={"deploy": 1}))
    handle = await Runner.start_resumed(
        Agent(model=ScriptedModel([finish()]), tools=[deploy]),
        waiting.to_state(),
        approvals=approvals,
        config=config,
    )
    result = await handle.result()
    events = [event async for event in handle.events()]
    used = assert_budget_failure(result, events, "max_tool_calls_per_tool")
    assert ran == ["a"] and used["tool_calls_per_tool"] == {"deploy": 1}


async def test_wall_time_mid_batch_keeps_finished_results_and_closes_the_rest() -> None:
    ran, tools = counting_tools()

    @function_tool
    async def hang() -> str:
        """Never returns on its own."""
        await asyncio.Event().wait()
        return "unreachable"

    batch = call_tool([("tick", {"n": 1}), ("hang", {}), ("tock", {"n": 2})])
    model = ScriptedModel([batch, finish()])
    config = RunConfig(budget=RunBudget(max_wall_seconds=0.3))
    result, events = await run_collecting(Agent(model=model, tools=[*tools, hang]), config)
    assert_budget_failure(result, events, "max_wall_seconds")
    assert ran == ["tick"]
    tick, hung, tock = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert tick.content == "ok" and not tick.is_error  # it ran: its real result is kept
    assert json.loads(str(hung.content))["error_code"] == "tool_call_interrupted"
    assert json.loads(str(tock.content))["error_code"] == "tool_call_skipped"
    types = [e.type for e in events]
    assert types.count("tool_call_planned") == 3 and types.count("tool_call_completed") == 3
