"""``ChatSession`` control and misuse: approvals through the session, a run that cannot start,
and the typed errors of inputs it cannot take."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig, SideEffect, function_tool
from agentcycle.chat import ChatSession
from agentcycle.errors import (
    ChatSessionBusy,
    ChatSessionClosed,
    ConfigurationError,
    ModelNotFoundError,
)
from agentcycle.events import (
    ApprovalRequested,
    RunStatus,
    SessionIdle,
    SessionInputDropped,
)
from agentcycle.sessions import MemorySession
from agentcycle.stores import JsonlRunEventStore
from agentcycle.testing import ScriptedModel, call_tool
from tests.chat._helpers import (
    Gate,
    SlowStore,
    echo_finish,
    first_entry,
    of_type,
    snapshot,
)

launched: list[str] = []


@function_tool(side_effect=SideEffect.EXECUTE)
def launch(target: str) -> str:
    """Launch something (asks for approval first)."""
    launched.append(target)
    return f"launched {target}"


async def test_the_host_approves_through_the_session() -> None:
    launched.clear()
    model = ScriptedModel(
        [call_tool("launch", {"target": "docs"}), call_tool("task_finish", {"message": "ok"})]
    )
    async with ChatSession(Agent(model=model, tools=[launch])) as chat:
        await chat.prompt("launch the docs")
        request = (await first_entry(chat, of_type("approval_requested"))).event
        assert isinstance(request, ApprovalRequested) and launched == []
        with pytest.raises(KeyError):
            chat.approve("apr_unknown", "allow")
        chat.approve(request.request_id, "allow")
        result = await chat.wait_idle()
        with pytest.raises(KeyError):  # no run is going: nothing waits for a decision
            chat.approve(request.request_id, "allow")
    assert result is not None and result.status is RunStatus.COMPLETED
    assert launched == ["docs"]


async def test_misuse_gets_typed_errors() -> None:
    gate = Gate()
    model = ScriptedModel(
        [call_tool("step", {"name": "slow"}), call_tool("task_finish", {"message": "ok"})]
    )
    chat = ChatSession(Agent(model=model, tools=[gate.step_tool()]))
    for empty in ("", "   "):
        with pytest.raises(ConfigurationError, match="non-empty text"):
            await chat.prompt(empty)
    await chat.prompt("start")
    with pytest.raises(ChatSessionBusy, match="steer\\(\\) adds to it") as busy:
        await chat.prompt("another")
    assert busy.value.code == "chat_session_busy"
    await gate.entered.wait()
    with pytest.raises(ConfigurationError, match="non-empty text"):
        await chat.steer(" ")
    with pytest.raises(ConfigurationError, match="non-empty text"):
        await chat.follow_up("")
    gate.open()
    await chat.close()
    for method in (chat.prompt, chat.steer, chat.follow_up):
        with pytest.raises(ChatSessionClosed, match="closed chat session") as closed:
            await method("hello")
        assert closed.value.code == "chat_session_closed"
    assert chat.closed and not chat.busy


def test_two_session_stores_and_a_bad_backlog_are_configuration_errors() -> None:
    agent = Agent(model=ScriptedModel(echo_finish))
    with pytest.raises(ConfigurationError, match="two session stores"):
        ChatSession(agent, session=MemorySession("a"), config=RunConfig(session=MemorySession("b")))
    with pytest.raises(ConfigurationError, match="max_backlog"):
        ChatSession(agent, max_backlog=0)
    one = MemorySession("same")
    assert ChatSession(agent, session=one, config=RunConfig(session=one)).store is one
    assert ChatSession(agent, config=RunConfig(session=one)).session_id == "same"


async def test_a_run_that_cannot_start_raises_and_is_dropped() -> None:
    agent = Agent(model="no-such-model")
    config = RunConfig(model_provider=_NoModels())
    async with ChatSession(agent, config=config) as chat:
        with pytest.raises(ConfigurationError, match="no-such-model"):
            await chat.prompt("hello")
        assert not chat.busy
        events = [e.event for e in snapshot(chat)]
    dropped = next(e for e in events if isinstance(e, SessionInputDropped))
    assert dropped.reason == "start_failed" and "no-such-model" in (dropped.error or "")
    idle = next(e for e in events if isinstance(e, SessionIdle))
    assert idle.last_run_id is None and idle.last_status is None


async def test_steer_and_follow_up_on_an_idle_session_start_a_run() -> None:
    async with ChatSession(Agent(model=ScriptedModel(echo_finish))) as chat:
        steer = await chat.steer("nothing runs yet")
        first = await chat.wait_idle()
        follow = await chat.follow_up("still nothing")
        second = await chat.wait_idle()
    assert (steer.kind, follow.kind) == ("steer", "follow_up")
    assert first is not None and first.final_output == "re: nothing runs yet"
    assert second is not None and second.final_output == "re: still nothing"


class _NoModels:
    """A model provider that knows no model."""

    def get_model(self, ref: object) -> object:
        raise ModelNotFoundError(f"no model named {ref!r}")


async def test_a_failing_event_store_does_not_stop_the_conversation(tmp_path: Path) -> None:
    store = JsonlRunEventStore(tmp_path / "no-such-dir" / "events.jsonl")
    async with ChatSession(
        Agent(model=ScriptedModel(echo_finish)), config=RunConfig(event_store=store)
    ) as chat:
        await chat.prompt("one")
        await chat.follow_up("two")
        result = await chat.wait_idle()
        events = [e.event for e in snapshot(chat)]
    assert result is not None and result.final_output == "re: two"
    failures = [
        e for e in events if e.type == "diagnostic" and e.code == "event_store_write_failed"
    ]  # type: ignore[attr-defined]
    assert failures and events[-1].type == "session_idle"


async def test_a_caller_that_cancels_its_prompt_frees_the_session() -> None:
    store = SlowStore("slow")
    async with ChatSession(Agent(model=ScriptedModel(echo_finish)), session=store) as chat:
        starting = asyncio.ensure_future(chat.prompt("never mind"))
        await asyncio.to_thread(store.loading.wait, 30)  # the run is being started
        queued = await chat.follow_up("queued meanwhile")
        assert chat.busy
        starting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await starting
        assert not chat.busy
        dropped = [e.event for e in snapshot(chat) if isinstance(e.event, SessionInputDropped)]
        assert [(d.text, d.reason) for d in dropped] == [
            ("never mind", "cancelled"),
            ("queued meanwhile", "cancelled"),
        ]
        assert dropped[1].input_id == queued.input_id
        store.release.set()
        await chat.prompt("again")
        result = await chat.wait_idle()
    assert result is not None and result.final_output == "re: again"


async def test_cancel_while_a_run_is_starting_cancels_it_once_it_exists() -> None:
    store = SlowStore("slow")
    async with ChatSession(Agent(model=ScriptedModel(echo_finish)), session=store) as chat:
        starting = asyncio.ensure_future(chat.prompt("stop me"))
        await asyncio.to_thread(store.loading.wait, 30)
        cancelling = asyncio.ensure_future(chat.cancel("changed my mind"))
        store.release.set()
        await starting
        await cancelling
        result = chat.last_result
        assert not chat.busy
    assert result is not None and result.status is RunStatus.CANCELLED
