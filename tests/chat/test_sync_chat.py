"""``SyncChatSession``: the same conversation, queues and stream from synchronous code."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agentcycle import Agent, RunConfig, SideEffect, SyncChatSession, function_tool
from agentcycle.chat import ChatSession, StreamEntry
from agentcycle.errors import ChatSessionBusy, ChatSessionClosed, ConfigurationError
from agentcycle.events import ApprovalRequested, RunStatus, SessionInputDropped
from agentcycle.messages import content_text
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.sessions import MemorySession
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.base import Tool
from tests.chat._helpers import SlowStore, echo_finish, last_user_text

WAIT = 10.0


class ThreadGate:
    """Holds a tool call (run in a tool thread) until the test opens it."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.ran: list[str] = []

    def step_tool(self) -> Tool:
        gate = self

        @function_tool
        def step(name: str) -> str:
            """A step that waits for the test."""
            gate.ran.append(name)
            assert gate.opened.wait(WAIT)
            return f"did {name}"

        return step


def steer_script(request: ModelRequest) -> ModelResponse:
    """Two steps on the first input, then finish on whatever the user said last."""
    text = last_user_text(request)
    if text == "Do both steps.":
        return call_tool([("step", {"name": "one"}), ("step", {"name": "two"})])
    return call_tool("task_finish", {"message": f"re: {text}"})


def test_the_twin_behaves_as_the_async_session() -> None:
    async_gate, sync_gate = ThreadGate(), ThreadGate()
    async_store, sync_store = MemorySession("a"), MemorySession("s")

    async def with_async() -> list[StreamEntry]:
        agent = Agent(model=ScriptedModel(steer_script), tools=[async_gate.step_tool()])
        entries: list[StreamEntry] = []
        started = asyncio.Event()

        def listen(entry: StreamEntry) -> None:
            entries.append(entry)
            if entry.event.type == "tool_call_started":
                started.set()

        async with ChatSession(agent, session=async_store) as chat:
            chat.subscribe(listen)
            await chat.prompt("Do both steps.")
            await started.wait()
            await chat.steer("Only the first.")
            await chat.follow_up("And then?")
            async_gate.opened.set()
            await chat.wait_idle()
        return entries

    expected = asyncio.run(with_async())

    agent = Agent(model=ScriptedModel(steer_script), tools=[sync_gate.step_tool()])
    entries: list[StreamEntry] = []
    started = threading.Event()

    def listen(entry: StreamEntry) -> None:
        entries.append(entry)
        if entry.event.type == "tool_call_started":
            started.set()

    with SyncChatSession(agent, session=sync_store) as chat:
        chat.subscribe(listen)
        chat.prompt("Do both steps.")
        assert started.wait(WAIT)
        chat.steer("Only the first.")
        chat.follow_up("And then?")
        sync_gate.opened.set()
        result = chat.wait_idle(timeout=WAIT)
        assert result is not None and result.final_output == "re: And then?"
        assert not chat.busy and chat.queued == [] and chat.active_run_id is None

    assert [e.event.type for e in entries] == [e.event.type for e in expected]
    assert [e.position for e in entries] == [e.position for e in expected]
    assert sync_gate.ran == async_gate.ran == ["one"]
    stored = [asyncio.run(s.get_items()) for s in (async_store, sync_store)]
    assert [content_text(m.content) for m in stored[0]] == [
        content_text(m.content) for m in stored[1]
    ]


def test_events_read_from_another_thread_are_whole_and_end_at_close() -> None:
    chat = SyncChatSession(Agent(model=ScriptedModel(echo_finish)))
    read: list[StreamEntry] = []
    stream = chat.events()  # subscribed here; read on another thread
    reader = threading.Thread(target=lambda: read.extend(stream))
    reader.start()
    chat.prompt("one")
    chat.follow_up("two")
    chat.wait_idle(timeout=WAIT)
    late = list(_take_until_idle(chat, since=3))
    chat.close()
    reader.join(WAIT)
    assert not reader.is_alive()
    assert [e.position for e in read] == list(range(1, len(read) + 1))
    assert read[-1].event.type == "session_closed"
    assert late == read[3 : len(late) + 3]
    assert late[-1].event.type == "session_idle"


def test_approvals_cancel_and_timeouts_from_sync_code() -> None:
    launched: list[str] = []

    @function_tool(side_effect=SideEffect.EXECUTE)
    def launch(target: str) -> str:
        """Launch something (asks for approval first)."""
        launched.append(target)
        return target

    model = ScriptedModel(
        [
            call_tool("launch", {"target": "a"}),
            call_tool("task_finish", {"message": "ok"}),
            call_tool("launch", {"target": "b"}),
        ]
    )
    requests: list[ApprovalRequested] = []
    asked = threading.Event()

    def listen(entry: StreamEntry) -> None:
        if isinstance(entry.event, ApprovalRequested):
            requests.append(entry.event)
            asked.set()

    with SyncChatSession(Agent(model=model, tools=[launch])) as chat:
        chat.subscribe(listen)
        chat.prompt("launch a")
        assert asked.wait(WAIT)
        with pytest.raises(TimeoutError):
            chat.wait_idle(timeout=0.05)  # the run waits for the decision; the wait ends
        chat.approve(requests[0].request_id, "allow")
        assert chat.wait_idle(timeout=WAIT).status is RunStatus.COMPLETED  # type: ignore[union-attr]
        asked.clear()
        chat.prompt("launch b")
        assert asked.wait(WAIT)
        queued = chat.follow_up("never")
        with pytest.raises(ChatSessionBusy):
            chat.prompt("busy")
        chat.cancel("stop", timeout=WAIT)
        dropped: list[SessionInputDropped] = []
        chat.subscribe(
            lambda e: dropped.append(e.event) if isinstance(e.event, SessionInputDropped) else None
        ).close()
        assert chat.last_result is not None
        assert chat.last_result.status is RunStatus.CANCELLED
    assert launched == ["a"]
    assert [(d.input_id, d.reason) for d in dropped] == [(queued.input_id, "cancelled")]
    with pytest.raises(ChatSessionClosed):
        chat.prompt("after close")
    chat.close()  # idempotent


def test_construction_errors_reach_the_caller() -> None:
    agent = Agent(model=ScriptedModel(echo_finish))
    with pytest.raises(ConfigurationError, match="two session stores"):
        SyncChatSession(
            agent, session=MemorySession("a"), config=RunConfig(session=MemorySession("b"))
        )


def _take_until_idle(chat: SyncChatSession, since: int) -> list[StreamEntry]:
    taken: list[StreamEntry] = []
    for entry in chat.events(since=since):
        taken.append(entry)
        if entry.position == chat.last_position:
            break
    return taken


def test_a_timed_out_prompt_stops_the_wait_not_the_run() -> None:
    store = SlowStore("slow")
    with SyncChatSession(Agent(model=ScriptedModel(echo_finish)), session=store) as chat:
        with pytest.raises(TimeoutError):
            chat.prompt("slow start", timeout=0.05)  # the store holds the run's start
        assert chat.busy
        store.release.set()
        result = chat.wait_idle(timeout=WAIT)
    assert result is not None and result.final_output == "re: slow start"
