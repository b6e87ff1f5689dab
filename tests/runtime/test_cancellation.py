"""Cancellation at every place a run can be: it ends promptly, exactly once, with paired history.

Each test measures from ``RunHandle.cancel`` to the run's end. The bound asserted is generous
(CI machines are small and busy); the typical figure is a few milliseconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig, Runner, SideEffect, function_tool
from agentcycle.events import (
    TERMINAL_EVENT_TYPES,
    ApprovalRequested,
    AssistantDelta,
    RunEvent,
    RunStatus,
    SubRunCompleted,
    ToolCallCompleted,
    ToolCallStarted,
)
from agentcycle.handle import RunHandle
from agentcycle.hooks import HookContext, RuntimeHook
from agentcycle.messages import AssistantMessage, Message, ToolMessage
from agentcycle.models.base import EndpointTarget, ModelRequest, ModelStreamItem
from agentcycle.models.base import TextDelta as ModelTextDelta
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer

COOPERATIVE_BOUND_S = 0.5
"""Cancel-to-end bound for anything that awaits cooperatively (target: under 100 ms)."""
PROCESS_BOUND_S = 3.0
"""Cancel-to-end bound when a process group has to be killed."""


async def cancel_and_time(handle: RunHandle) -> float:
    started = time.perf_counter()
    await handle.cancel("stop requested")
    return time.perf_counter() - started


async def assert_cancelled_once(handle: RunHandle) -> list[Message]:
    result = await handle.result()
    assert result.status is RunStatus.CANCELLED
    events = [event async for event in handle.events()]
    ends = [e for e in events if e.type == "run_cancelled" and e.run_id == handle.run_id]
    assert len(ends) == 1 and events[-1] is ends[0]
    assert_paired(result.messages)
    return result.messages


def assert_paired(messages: Sequence[Message]) -> None:
    """Every tool call in history has exactly one result, and every result a call."""
    calls = [c.id for m in messages if isinstance(m, AssistantMessage) for c in m.tool_calls]
    results = [m.tool_call_id for m in messages if isinstance(m, ToolMessage)]
    assert sorted(calls) == sorted(results)


async def test_cancel_during_a_cooperative_async_tool() -> None:
    entered = asyncio.Event()

    @function_tool
    async def wait_forever() -> str:
        """Waits until cancelled."""
        entered.set()
        await asyncio.Event().wait()
        return "unreachable"

    model = ScriptedModel([call_tool("wait_forever", {})])
    handle = await Runner.start(Agent(model=model, tools=[wait_forever]), "x")
    await asyncio.wait_for(entered.wait(), 5)
    assert await cancel_and_time(handle) < COOPERATIVE_BOUND_S
    messages = await assert_cancelled_once(handle)
    assert "cancel" in str(messages[-1].content).lower()


class HangingModel:
    """Streams a few words, then waits forever: a model stream cut off mid-answer."""

    name = "hanging"
    backend = None

    def __init__(self) -> None:
        self.streaming = asyncio.Event()

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamItem]:
        yield ModelTextDelta("Thinking about ")
        self.streaming.set()
        await asyncio.Event().wait()
        yield ModelTextDelta("never")


async def test_cancel_during_a_streamed_model_call() -> None:
    model = HangingModel()
    handle = await Runner.start(Agent(model=model), "x")
    await asyncio.wait_for(model.streaming.wait(), 5)
    assert await cancel_and_time(handle) < COOPERATIVE_BOUND_S
    await assert_cancelled_once(handle)
    deltas = [e async for e in handle.events() if isinstance(e, AssistantDelta)]
    assert [d.delta for d in deltas] == ["Thinking about "]


arrived = threading.Event()


def reply_late(body: object) -> ChatReply:
    arrived.set()
    return ChatReply(text="too late", delay=30)


@pytest.fixture
def slow_server() -> Iterator[OpenAICompatServer]:
    arrived.clear()
    with OpenAICompatServer(handler=reply_late) as server:
        yield server


async def test_cancel_during_an_http_model_call(slow_server: OpenAICompatServer) -> None:
    target = EndpointTarget(
        endpoint_id="loop", api_base=slow_server.base_url, model_id="m", api_key="sk-x"
    )
    model = OpenAIChatModel([target], name="m", backend="test")
    handle = await Runner.start(Agent(model=model), "x")
    assert await asyncio.to_thread(arrived.wait, 5), "the request never reached the server"
    assert await cancel_and_time(handle) < COOPERATIVE_BOUND_S
    await assert_cancelled_once(handle)
    await handle.release_model_clients()


async def test_cancel_while_waiting_for_an_approval() -> None:
    ran: list[str] = []

    @function_tool(side_effect=SideEffect.EXECUTE)
    def deploy(target: str) -> str:
        """Deploy."""
        ran.append(target)
        return "deployed"

    model = ScriptedModel([call_tool("deploy", {"target": "prod"})])
    handle = await Runner.start(
        Agent(model=model, tools=[deploy]), "x", config=RunConfig(live_approvals=True)
    )
    async for event in handle.events():
        if isinstance(event, ApprovalRequested):
            break
    assert await cancel_and_time(handle) < COOPERATIVE_BOUND_S
    await assert_cancelled_once(handle)
    assert ran == []
    with pytest.raises(KeyError):
        handle.approve(event.request_id, "allow")  # nothing waits any more


async def test_cancel_during_bash_kills_the_process_group(tmp_path: Path) -> None:
    model = ScriptedModel(
        [call_tool("bash", {"command": "sleep 1000 & echo $! > child.pid; wait"})]
    )
    handle = await Runner.start(
        Agent(model=model, shell_tools=True),
        "x",
        # Unsandboxed: the test follows the host pid the command prints (a sandbox has a PID
        # namespace of its own; its tree cleanup is tested in tests/sandbox).
        config=RunConfig(
            workspace=tmp_path, policy=ToolPolicy.of(approval_mode="never"), sandbox="off"
        ),
    )
    pid_file = tmp_path / "child.pid"
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the command never started"
        await asyncio.sleep(0.01)  # polling a file the command writes, bounded
    child = int(pid_file.read_text())
    assert await cancel_and_time(handle) < PROCESS_BOUND_S
    await assert_cancelled_once(handle)
    deadline = time.monotonic() + PROCESS_BOUND_S
    while alive(child):  # the kill is sent; the kernel takes a moment to finish it
        assert time.monotonic() < deadline, "the background child survived the cancel"
        await asyncio.sleep(0.01)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def test_cancel_with_a_child_run_cancels_the_child_first() -> None:
    entered = asyncio.Event()
    child_history: list[Sequence[Message]] = []

    @function_tool
    async def dig() -> str:
        """Waits until cancelled."""
        entered.set()
        await asyncio.Event().wait()
        return "unreachable"

    class KeepHistory(RuntimeHook):
        async def before_run(self, ctx: HookContext) -> None:
            child_history.append(ctx.messages)

    child = Agent(
        name="digger",
        model=ScriptedModel([call_tool("dig", {})]),
        tools=[dig],
        hooks=[KeepHistory()],
    )
    model = ScriptedModel([call_tool("digger", {"task_description": "dig"})])
    handle = await Runner.start(Agent(model=model, tools=[child.as_tool()]), "x")
    await asyncio.wait_for(entered.wait(), 5)
    assert await cancel_and_time(handle) < COOPERATIVE_BOUND_S
    messages = await assert_cancelled_once(handle)
    events = [event async for event in handle.events()]
    ends = [e for e in events if e.type == "run_cancelled"]
    assert [e.run_id == handle.run_id for e in ends] == [False, True]  # one each, child first
    assert ends[0].parent_run_id == handle.run_id
    assert "parent run was cancelled: stop requested" in str(ends[0].reason)
    sub = next(e for e in events if isinstance(e, SubRunCompleted))
    assert sub.status == "cancelled" and events.index(sub) < events.index(ends[1])
    assert_paired(messages)
    assert_paired(child_history[0])
    interrupted = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert {e.error_code for e in interrupted} == {"tool_call_interrupted"}  # dig and digger


async def test_cancel_right_after_start_ends_the_run_with_its_terminal_event() -> None:
    model = ScriptedModel([call_tool("task_finish", {"message": "never"})])
    handle = await Runner.start(Agent(model=model), "x")
    subscriber = handle.events()  # a host listening from the start
    await handle.cancel("user pressed stop at once")  # before the run's task ever ran
    streamed = await asyncio.wait_for(_collect(subscriber), timeout=5)
    assert [e.type for e in streamed] == ["run_started", "agent_started", "run_cancelled"]
    await assert_cancelled_once(handle)
    assert model.requests == []


async def _collect(events: AsyncIterator[RunEvent]) -> list[RunEvent]:
    return [event async for event in events]


async def test_a_cancel_racing_the_end_of_the_run_still_ends_it_with_one_terminal_event() -> None:
    model = ScriptedModel([call_tool("task_finish", {"message": "done"})])
    handle = await Runner.start(Agent(model=model), "x")
    canceller = asyncio.create_task(handle.cancel("stop"))  # lands while the run is ending
    result = await asyncio.wait_for(handle.result(), timeout=5)
    await canceller
    events = await asyncio.wait_for(_collect(handle.events()), timeout=5)
    terminal = [e for e in events if e.type in TERMINAL_EVENT_TYPES]
    assert len(terminal) == 1 and events[-1] is terminal[0]
    assert (
        terminal[0].type
        == {
            RunStatus.COMPLETED: "run_completed",
            RunStatus.CANCELLED: "run_cancelled",
        }[result.status]
    )


async def test_pressing_stop_again_while_the_run_is_ending_does_not_lose_run_cancelled() -> None:
    @function_tool
    async def wait_forever() -> str:
        """Waits until cancelled."""
        await asyncio.Event().wait()
        return "unreachable"

    model = ScriptedModel([call_tool("wait_forever", {})])
    handle = await Runner.start(Agent(model=model, tools=[wait_forever]), "x")
    first: list[asyncio.Task[None]] = []

    async def host() -> None:
        async for event in handle.events():
            if isinstance(event, ToolCallStarted):
                first.append(asyncio.create_task(handle.cancel("stop")))
            elif isinstance(event, ToolCallCompleted):  # the interrupted call being closed
                await handle.cancel("stop, again")

    await asyncio.wait_for(host(), timeout=5)
    await first[0]
    await assert_cancelled_once(handle)


class CancellingAdapter:
    """A model adapter whose stream raises CancelledError although nobody cancelled the run
    (a library below it cancelled something of its own)."""

    name = "cancelling"
    backend = None

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamItem]:
        yield ModelTextDelta("Starting ")
        raise asyncio.CancelledError


async def test_a_stray_cancel_from_the_model_adapter_fails_the_run_it_does_not_vanish() -> None:
    handle = await Runner.start(Agent(model=CancellingAdapter()), "go")
    result = await handle.result()  # a result, not a CancelledError
    events = [e async for e in handle.events()]
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "model_call_cancelled"
    types = [e.type for e in events]
    assert types.count("model_call_started") == types.count("model_call_failed") == 1
    assert types[-1] == "run_failed" and types.count("run_failed") == 1


async def test_a_stray_cancel_from_a_tool_is_an_error_result_for_the_model() -> None:
    @function_tool
    async def flaky() -> str:
        """A tool whose library raises CancelledError on its own."""
        raise asyncio.CancelledError

    model = ScriptedModel([call_tool("flaky", {}), call_tool("task_finish", {"message": "ok"})])
    result = await Runner.run(Agent(model=model, tools=[flaky]), "go")
    assert result.completed
    (tool_result,) = [m for m in result.messages if isinstance(m, ToolMessage)][:1]
    assert tool_result.is_error and "CancelledError" in str(tool_result.content)
