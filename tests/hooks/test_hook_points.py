"""Every hook point fires once, in order, with its payload, whichever front door runs the run;
hooks layer agent -> runner -> run; request and response patches reach the model and history."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.errors import ConfigurationError
from agentcycle.events import AssistantMessageEvent, RunCompleted, RunEvent, RunStatus
from agentcycle.hooks import CycleEnd, HookContext, RunEnd, RuntimeHook, ToolCallInfo
from agentcycle.messages import AssistantMessage, ToolResult, UserMessage
from agentcycle.models.base import ModelRequest, ModelResponse, ModelSettings
from agentcycle.testing import ScriptedModel, call_tool, reply

timeline: list[Any] = []


@function_tool(run_in_thread=False)
def tick(n: int) -> str:
    """Count."""
    timeline.append(("tool", "tick", n))
    return f"tick {n}"


class Recorder(RuntimeHook):
    """Writes every point it sees, with the payload's key facts, to the shared timeline."""

    def __init__(self) -> None:
        self.contexts: list[HookContext] = []
        self.history_at_end = 0

    def _see(self, ctx: HookContext, *entry: Any) -> None:
        self.contexts.append(ctx)
        timeline.append(entry)

    async def before_run(self, ctx: HookContext) -> None:
        self._see(ctx, "before_run")

    async def after_run(self, ctx: HookContext, end: RunEnd) -> None:
        self.history_at_end = len(ctx.messages)
        self._see(ctx, "after_run", end.status, end.final_output)

    async def before_cycle(self, ctx: HookContext, cycle_index: int) -> None:
        self._see(ctx, "before_cycle", cycle_index)

    async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> None:
        roles = tuple(m.role for m in cycle.messages)
        self._see(ctx, "after_cycle", cycle.cycle_index, roles, cycle.ending)

    async def before_model_call(self, ctx: HookContext, request: ModelRequest) -> None:
        self._see(ctx, "before_model_call", request.cycle_index, len(request.messages))

    async def after_model_call(
        self, ctx: HookContext, request: ModelRequest, response: ModelResponse
    ) -> None:
        names = tuple(c.name for c in response.tool_calls)
        self._see(ctx, "after_model_call", request.cycle_index, names)

    async def before_tool_call(self, ctx: HookContext, call: ToolCallInfo) -> None:
        self._see(ctx, "before_tool_call", call.cycle_index, call.tool_name, call.arguments)

    async def after_tool_call(
        self, ctx: HookContext, call: ToolCallInfo, result: ToolResult
    ) -> None:
        self._see(ctx, "after_tool_call", call.tool_name, result.content)


EXPECTED = [
    ("before_run",),
    ("before_cycle", 1),
    ("before_model_call", 1, 2),
    ("after_model_call", 1, ("tick",)),
    ("before_tool_call", 1, "tick", {"n": 7}),
    ("tool", "tick", 7),
    ("after_tool_call", "tick", "tick 7"),
    ("after_cycle", 1, ("assistant", "tool"), None),
    ("before_cycle", 2),
    ("before_model_call", 2, 4),
    ("after_model_call", 2, ("task_finish",)),
    ("before_tool_call", 2, "task_finish", {"message": "done"}),
    ("after_tool_call", "task_finish", '{"ok":true,"finished":true}'),
    ("after_cycle", 2, ("assistant", "tool"), RunStatus.COMPLETED),
    ("after_run", RunStatus.COMPLETED, "done"),
]


def script() -> ScriptedModel:
    return ScriptedModel(
        [call_tool("tick", {"n": 7}), call_tool("task_finish", {"message": "done"})],
        stream_chunk_chars=3,
    )


async def _collect(stream: Any) -> list[RunEvent]:
    return [event async for event in stream]


@pytest.mark.parametrize("front_door", ["run_sync", "run", "stream", "stream_sync"])
def test_every_point_fires_in_order_with_its_payload(front_door: str) -> None:
    timeline.clear()
    hook = Recorder()
    agent = Agent(model=script(), tools=[tick])
    host_context = object()
    config = RunConfig(hooks=[hook], context=host_context)
    if front_door == "run_sync":
        result = Runner.run_sync(agent, "go", config=config)
        run_id, history = result.run_id, len(result.messages)
    elif front_door == "run":
        result = asyncio.run(Runner.run(agent, "go", config=config))
        run_id, history = result.run_id, len(result.messages)
    else:
        if front_door == "stream":
            events = asyncio.run(_collect(Runner.stream(agent, "go", config=config)))
        else:
            events = list(Runner.stream_sync(agent, "go", config=config))
        assert isinstance(events[-1], RunCompleted) and events[-1].final_output == "done"
        run_id, history = events[-1].run_id, 6  # system, user, 2 x (assistant, tool)
    assert timeline == EXPECTED
    ctx = hook.contexts[0]
    assert all(c is ctx for c in hook.contexts)  # one context per run
    assert ctx.run_id == run_id and ctx.agent_name == "agent" and ctx.context is host_context
    assert hook.history_at_end == history  # ctx.messages is the live history


def test_a_hook_may_override_with_plain_functions() -> None:
    class Plain(RuntimeHook):
        def before_cycle(self, ctx: HookContext, cycle_index: int) -> None:  # type: ignore[override]
            timeline.append(("plain", cycle_index))

    timeline.clear()
    result = Runner.run_sync(
        Agent(model=script(), tools=[tick]), "go", config=RunConfig(hooks=[Plain()])
    )
    assert result.completed
    assert [e for e in timeline if e[0] == "plain"] == [("plain", 1), ("plain", 2)]


class Named(RuntimeHook):
    def __init__(self, label: str, seen: list[str]) -> None:
        self.label = label
        self.seen = seen

    async def before_model_call(self, ctx: HookContext, request: ModelRequest) -> None:
        self.seen.append(f"{self.label}:before")

    async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> None:
        self.seen.append(f"{self.label}:after")


def test_hooks_run_agent_then_runner_then_run() -> None:
    seen: list[str] = []
    agent = Agent(
        model=ScriptedModel([call_tool("task_finish", {"message": "x"})]),
        hooks=[Named("agent", seen)],
    )
    runner = Runner(RunConfig(hooks=[Named("runner", seen)]))
    result = runner.run_sync(agent, "go", config=RunConfig(hooks=[Named("run", seen)]))
    assert result.completed
    assert seen == [
        "agent:before",
        "runner:before",
        "run:before",
        "agent:after",
        "runner:after",
        "run:after",
    ]


def test_something_that_is_not_a_hook_is_a_configuration_error() -> None:
    agent = Agent(model=script(), tools=[tick])
    with pytest.raises(ConfigurationError, match="RuntimeHook"):
        Runner.run_sync(agent, "go", config=RunConfig(hooks=[object()]))  # type: ignore[list-item]


class AddsContext(RuntimeHook):
    """Shows the model one extra message and a lower temperature, for this call only."""

    async def before_model_call(self, ctx: HookContext, request: ModelRequest) -> ModelRequest:
        extra = UserMessage(content=f"[cycle {request.cycle_index}] stay brief", synthetic=True)
        return replace(
            request,
            messages=[*request.messages, extra],
            settings=request.settings.merge(ModelSettings(temperature=0.1)),
        )


def test_a_patched_request_is_what_the_model_gets_and_history_is_unchanged() -> None:
    model = ScriptedModel(
        [call_tool("tick", {"n": 1}), call_tool("task_finish", {"message": "ok"})]
    )
    result = Runner.run_sync(
        Agent(model=model, tools=[tick]), "go", config=RunConfig(hooks=[AddsContext()])
    )
    assert result.completed
    for index, seen in enumerate(model.requests, start=1):
        assert seen.messages[-1].content == f"[cycle {index}] stay brief"
        assert seen.request.settings.temperature == 0.1
    assert not any("stay brief" in str(m.content) for m in result.messages)


class Redacts(RuntimeHook):
    """Rewrites what the model said and turns a plain reply into a finish call."""

    async def after_model_call(
        self, ctx: HookContext, request: ModelRequest, response: ModelResponse
    ) -> ModelResponse | None:
        if response.tool_calls:
            return None
        text = response.text.replace("hunter2", "[redacted]")
        return replace(call_tool("task_finish", {"message": text}), text=text, usage=response.usage)


def test_a_patched_response_is_what_the_run_records_and_acts_on() -> None:
    model = ScriptedModel([reply("the password is hunter2")])
    handle_events: list[RunEvent] = []

    async def main() -> Any:
        handle = await Runner.start(Agent(model=model), "go", config=RunConfig(hooks=[Redacts()]))
        result = await handle.result()
        handle_events.extend([e async for e in handle.events()])
        return result

    result = asyncio.run(main())
    assert result.completed and result.final_output == "the password is [redacted]"
    assistant = next(m for m in result.messages if isinstance(m, AssistantMessage))
    assert assistant.content == "the password is [redacted]"
    assert assistant.tool_calls[0].name == "task_finish"
    message_events = [e for e in handle_events if isinstance(e, AssistantMessageEvent)]
    assert [e.text for e in message_events] == ["the password is [redacted]"]
    assert result.cycles == 1
