"""Shared pieces of the multi-agent tests: scripted agents and event-stream helpers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentcycle import Agent, RunConfig, Runner
from agentcycle.events import RunEvent
from agentcycle.handle import RunHandle
from agentcycle.hooks import HookContext, RuntimeHook
from agentcycle.messages import AssistantMessage, Message, TokenUsage, ToolMessage
from agentcycle.result import RunResult
from agentcycle.testing import ScriptedModel, call_tool

PARENT_USAGE = TokenUsage.of(100, 10)
CHILD_USAGE = TokenUsage.of(40, 5)


def researcher(steps: Sequence[Any] | None = None, **fields: Any) -> Agent:
    """A child agent that answers "X is 42" in one cycle unless given other steps."""
    script = steps or [call_tool("task_finish", {"message": "X is 42"}, usage=CHILD_USAGE)]
    return Agent(name="Researcher", model=ScriptedModel(list(script)), **fields)


def planner(child: Agent, *, task: dict[str, Any] | None = None, **fields: Any) -> Agent:
    """A parent that delegates once to ``child`` (as the tool ``researcher``), then finishes."""
    arguments = task or {"task_description": "find X", "output_requirements": "a number"}
    model = ScriptedModel(
        [
            call_tool("researcher", arguments, usage=PARENT_USAGE),
            call_tool("task_finish", {"message": "planned"}, usage=PARENT_USAGE),
        ]
    )
    return Agent(name="Planner", model=model, tools=[child.as_tool()], **fields)


async def run_with_events(
    agent: Agent, text: str = "go", config: RunConfig | None = None
) -> tuple[RunResult, list[RunEvent]]:
    """Run to the end; the result and every event of the parent's stream."""
    handle = await Runner.start(agent, text, config=config)
    result = await handle.result()
    return result, await stream_of(handle)


async def stream_of(handle: RunHandle) -> list[RunEvent]:
    return [event async for event in handle.events()]


def of_run(events: Sequence[RunEvent], run_id: str) -> list[RunEvent]:
    return [event for event in events if event.run_id == run_id]


def types(events: Sequence[RunEvent]) -> list[str]:
    return [event.type for event in events]


def child_run_ids(events: Sequence[RunEvent], parent_run_id: str) -> list[str]:
    """The child runs of ``parent_run_id``, in the order they started."""
    return [
        e.run_id for e in events if e.type == "run_started" and e.parent_run_id == parent_run_id
    ]


def assert_paired(messages: Sequence[Message]) -> None:
    """Every tool call in history has exactly one result, and every result a call."""
    calls = [c.id for m in messages if isinstance(m, AssistantMessage) for c in m.tool_calls]
    results = [m.tool_call_id for m in messages if isinstance(m, ToolMessage)]
    assert sorted(calls) == sorted(results)


class HistoryProbe(RuntimeHook):
    """Keeps a reference to the live history of every run it is a hook of."""

    def __init__(self) -> None:
        self.histories: list[Sequence[Message]] = []

    async def before_run(self, ctx: HookContext) -> None:
        self.histories.append(ctx.messages)
