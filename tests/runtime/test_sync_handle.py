"""``Runner.start_sync``: the live handle for synchronous code, on a private loop in a thread."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time

import pytest

from agentcycle import Agent, RunConfig, Runner, SideEffect, function_tool
from agentcycle.errors import ConfigurationError
from agentcycle.events import ApprovalRequested, RunEvent, RunStatus, ToolCallStarted
from agentcycle.messages import UserMessage
from agentcycle.testing import ScriptedModel, call_tool

launched: list[str] = []


@function_tool(side_effect=SideEffect.EXECUTE)
def launch(target: str) -> str:
    """Launch something (asks for approval first)."""
    launched.append(target)
    return f"launched {target}"


@function_tool(run_in_thread=False)
async def wait_forever() -> str:
    """Waits until cancelled."""
    await asyncio.Event().wait()
    return "never"


def finish(message: str = "ok") -> object:
    return call_tool("task_finish", {"message": message})


def test_events_and_result_match_an_async_run() -> None:
    def agent() -> Agent:
        return Agent(model=ScriptedModel([call_tool("todo_write", {"todos": []}), finish()]))

    with Runner.start_sync(agent(), "go") as handle:
        sync_types = [event.type for event in handle.events()]
        result = handle.result()
        assert handle.done() and handle.state().spec.run_id == handle.run_id
        # A second subscriber after the end reads the whole backlog again.
        assert [event.type for event in handle.events()] == sync_types

    async def async_types() -> list[str]:
        handle = await Runner.start(agent(), "go")
        return [event.type async for event in handle.events()]

    assert result.status is RunStatus.COMPLETED and result.final_output == "ok"
    assert sync_types == asyncio.run(async_types())
    assert sync_types[-1] == "run_completed"


def test_a_sync_host_approves_a_call_live() -> None:
    launched.clear()
    model = ScriptedModel([call_tool("launch", {"target": "a"}), finish()])
    config = RunConfig(live_approvals=True)
    with Runner.start_sync(Agent(model=model, tools=[launch]), "x", config=config) as handle:
        for event in handle.events():
            if isinstance(event, ApprovalRequested):
                assert launched == []
                with pytest.raises(KeyError):
                    handle.approve("apr_unknown", "allow")
                handle.approve(event.request_id, "allow")
        assert handle.result().status is RunStatus.COMPLETED
    assert launched == ["a"]


def test_cancel_from_another_thread_ends_a_waiting_tool_promptly() -> None:
    model = ScriptedModel([call_tool("wait_forever", {})])
    with Runner.start_sync(Agent(model=model, tools=[wait_forever]), "x") as handle:
        for event in handle.events():
            if isinstance(event, ToolCallStarted):
                break
        began = time.monotonic()
        canceller = threading.Thread(target=handle.cancel, args=("user pressed stop",))
        canceller.start()
        result = handle.result(timeout=10)
        canceller.join()
        assert time.monotonic() - began < 3
    assert result.status is RunStatus.CANCELLED


def test_steer_reaches_the_next_model_call() -> None:
    started = threading.Event()
    release = threading.Event()

    @function_tool
    def slow() -> str:
        """Blocks until the test lets it go."""
        started.set()
        release.wait(10)
        return "done"

    model = ScriptedModel([call_tool("slow", {}), finish()])
    with Runner.start_sync(Agent(model=model, tools=[slow]), "x") as handle:
        assert started.wait(10)
        handle.steer("Also mention the weather.")
        release.set()
        assert handle.result(timeout=10).status is RunStatus.COMPLETED
    steered = [m for m in model.requests[1].messages if isinstance(m, UserMessage)]
    assert steered[-1].content == "Also mention the weather."


def test_a_result_timeout_leaves_the_run_going_and_close_cancels_it() -> None:
    model = ScriptedModel([call_tool("wait_forever", {})])
    handle = Runner.start_sync(Agent(model=model, tools=[wait_forever]), "x")
    with pytest.raises(TimeoutError):
        handle.result(timeout=0.05)
    assert not handle.done()
    handle.close()
    handle.close()  # idempotent
    with pytest.raises(ConfigurationError, match="closed"):
        handle.result()


def test_configuration_errors_surface_in_the_caller_and_leave_no_thread() -> None:
    before = threading.active_count()
    with pytest.raises(ConfigurationError, match="no model"):
        Runner.start_sync(Agent(), "x")
    assert threading.active_count() == before


def test_start_sync_refuses_a_running_event_loop() -> None:
    async def inside() -> None:
        Runner.start_sync(Agent(model=ScriptedModel([finish()])), "x")

    with pytest.raises(ConfigurationError, match="start_sync"):
        asyncio.run(inside())


def test_a_stopped_run_resumes_through_the_sync_twin() -> None:
    launched.clear()
    model = ScriptedModel([call_tool("launch", {"target": "b"}), finish("resumed")])
    agent = Agent(model=model, tools=[launch])
    first = Runner.run_sync(agent, "x")
    assert first.status is RunStatus.WAIT_USER
    (pending,) = first.to_state().pending_tool_calls
    assert pending.request_id is not None
    with Runner.start_resumed_sync(
        agent, first.to_state(), approvals={pending.request_id: "allow"}
    ) as handle:
        assert handle.result().final_output == "resumed"
    assert launched == ["b"]


def _interrupt_main_thread_once_it_waits_on_the_run() -> None:
    """Send Ctrl+C to the main thread once it is blocked waiting on the handle's loop."""
    main = threading.main_thread().ident
    assert main is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(main)
        names = []
        while frame is not None:
            names.append(frame.f_code.co_name)
            frame = frame.f_back
        if names and names[0] == "wait" and "submit" in names:
            signal.pthread_kill(main, signal.SIGINT)
            return
        time.sleep(0.005)  # polling the main thread's stack, with a deadline


def test_ctrl_c_while_waiting_for_events_raises_keyboard_interrupt() -> None:
    model = ScriptedModel([call_tool("wait_forever", {})])
    handle = Runner.start_sync(Agent(model=model, tools=[wait_forever]), "x")
    interrupter = threading.Thread(target=_interrupt_main_thread_once_it_waits_on_the_run)
    with pytest.raises(KeyboardInterrupt), handle:
        for event in handle.events():
            if isinstance(event, ToolCallStarted):
                interrupter.start()
    interrupter.join()


def test_a_reader_still_iterating_when_another_thread_closes_gets_the_whole_stream() -> None:
    model = ScriptedModel([call_tool("wait_forever", {})])
    handle = Runner.start_sync(Agent(model=model, tools=[wait_forever]), "x")
    tool_started, closed = threading.Event(), threading.Event()
    read: list[RunEvent] = []
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            for event in handle.events():
                read.append(event)
                if isinstance(event, ToolCallStarted):
                    tool_started.set()
                    assert closed.wait(10)  # the UI thread closes the handle meanwhile
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    assert tool_started.wait(10)
    handle.close()
    closed.set()
    thread.join(10)
    assert not thread.is_alive() and failures == []
    assert [e.seq for e in read] == list(range(1, len(read) + 1))  # nothing lost or repeated
    assert read[-1].type == "run_cancelled"
