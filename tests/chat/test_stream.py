"""``ChatSession``'s one stream: numbered entries, late subscribers that replay with no gap and
no duplicate, positions it cannot serve, listeners that fail, and the session events on the
wire."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from agentcycle import Agent
from agentcycle.chat import ChatSession, StreamEntry
from agentcycle.errors import StreamPositionError
from agentcycle.events import Diagnostic, parse_event
from agentcycle.testing import ScriptedModel, call_tool
from tests.chat._helpers import Gate, echo_finish, first_entry, of_type, snapshot


async def test_a_late_subscriber_replays_from_its_position_then_goes_on_live() -> None:
    gate = Gate()
    model = ScriptedModel(
        [
            call_tool("task_finish", {"message": "one"}),
            call_tool("step", {"name": "slow"}),
            call_tool("task_finish", {"message": "two"}),
        ]
    )
    async with ChatSession(Agent(model=model, tools=[gate.step_tool()])) as chat:
        early: list[StreamEntry] = []
        chat.subscribe(early.append)
        await chat.prompt("first")
        await chat.wait_idle()
        await chat.prompt("second")
        await gate.entered.wait()  # mid-run: entries keep coming after the late subscriber joins
        seen = chat.last_position
        cut = seen // 2
        late: list[StreamEntry] = []
        chat.subscribe(late.append, since=cut)
        assert [e.position for e in late] == list(range(cut + 1, seen + 1))
        reader = asyncio.ensure_future(_read_all(chat, since=cut))
        gate.open()
        await chat.wait_idle()
    from_iterator = await reader

    positions = [e.position for e in early]
    assert positions == list(range(1, len(early) + 1))  # 1, 2, 3 … with no gap
    assert late == early[cut:]  # no gap, no duplicate, same objects in the same order
    assert from_iterator == early[cut:]
    assert early[-1].event.type == "session_closed"


async def test_a_subscriber_from_the_latest_position_sees_only_new_entries() -> None:
    async with ChatSession(Agent(model=ScriptedModel(echo_finish))) as chat:
        await chat.prompt("one")
        await chat.wait_idle()
        now = chat.last_position
        fresh: list[StreamEntry] = []
        chat.subscribe(fresh.append, since=now)
        assert fresh == []
        await chat.prompt("two")
        await chat.wait_idle()
    assert fresh[0].position == now + 1
    assert fresh[0].event.type == "session_input_queued"


async def test_positions_the_stream_cannot_serve_are_refused() -> None:
    async with ChatSession(Agent(model=ScriptedModel(echo_finish)), max_backlog=5) as chat:
        with pytest.raises(StreamPositionError, match="not in this stream"):
            chat.subscribe(lambda entry: None, since=1)  # nothing yet
        for text in ("one", "two"):
            await chat.prompt(text)
            await chat.wait_idle()
        last = chat.last_position
        with pytest.raises(StreamPositionError, match="not in this stream") as ahead:
            chat.subscribe(lambda entry: None, since=last + 1)
        assert ahead.value.code == "stream_position_unavailable"
        with pytest.raises(StreamPositionError, match="no longer kept") as trimmed:
            chat.subscribe(lambda entry: None, since=0)
        first_kept = trimmed.value.details["first_kept"]
        assert 1 < first_kept <= last - 4  # at least the latest five are kept
        with pytest.raises(StreamPositionError):
            async for _ in chat.events(since=-1):
                pass
        kept: list[StreamEntry] = []
        chat.subscribe(kept.append, since=first_kept - 1)
        assert [e.position for e in kept] == list(range(first_kept, last + 1))


async def test_a_reader_the_backlog_left_behind_gets_an_error_not_a_hole() -> None:
    async with ChatSession(Agent(model=ScriptedModel(echo_finish)), max_backlog=3) as chat:
        reader = chat.events()
        await chat.prompt("many events")
        first = await anext(reader)
        assert first.position == 1
        await chat.wait_idle()
        with pytest.raises(StreamPositionError, match="no longer kept"):
            await anext(reader)
        await reader.aclose()


async def test_a_listener_that_raises_is_dropped_and_reported() -> None:
    async with ChatSession(Agent(model=ScriptedModel(echo_finish))) as chat:
        calls: list[int] = []

        def broken(entry: StreamEntry) -> None:
            calls.append(entry.position)
            raise RuntimeError("renderer crashed")

        healthy: list[StreamEntry] = []
        subscription = chat.subscribe(broken)
        chat.subscribe(healthy.append)
        await chat.prompt("hello")
        await chat.wait_idle()
    assert len(calls) == 1 and not subscription.active
    report = next(
        e.event
        for e in healthy
        if isinstance(e.event, Diagnostic) and e.event.code == "session_listener_failed"
    )
    assert isinstance(report, Diagnostic)
    assert "renderer crashed" in report.details["error"]
    assert [e.position for e in healthy] == list(range(1, len(healthy) + 1))


async def test_session_events_read_back_from_their_wire_form() -> None:
    async with ChatSession(Agent(model=ScriptedModel(echo_finish))) as chat:
        await chat.prompt("hello")
        await chat.wait_idle()
        own = [e.event for e in snapshot(chat) if e.event.run_id == chat.stream_id]
    for event in own:
        data = event.to_dict()
        assert data["run_id"] == chat.stream_id and data["session_id"] == chat.session_id
        assert parse_event(data) == event


async def test_events_iterators_end_when_the_session_closes() -> None:
    chat = ChatSession(Agent(model=ScriptedModel(echo_finish)))
    reader = asyncio.ensure_future(_read_all(chat))
    await chat.prompt("hello")
    await first_entry(chat, of_type("session_idle"))
    await chat.close()
    entries = await asyncio.wait_for(reader, 10)
    assert entries[-1].event.type == "session_closed"
    await chat.close()  # idempotent: no second session_closed
    assert snapshot(chat)[-1] == entries[-1]


async def _read_all(chat: ChatSession, since: int | None = None) -> list[StreamEntry]:
    async with contextlib.aclosing(chat.events(since)) as entries:
        return [entry async for entry in entries]
