"""The event stream: envelope, ordering, independent subscribers, streamed == non-streamed."""

from __future__ import annotations

import asyncio
import itertools
import json

import pydantic_core
import pytest
from pydantic import ValidationError

from agentcycle import Agent, Runner
from agentcycle.errors import UnsupportedVersionError
from agentcycle.events import CycleStarted, Diagnostic, RunEvent, parse_event
from agentcycle.runtime._model_call import PROGRESS_STEP_CHARS
from agentcycle.runtime.event_bus import EventBus
from agentcycle.testing import ScriptedModel, call_tool, reply


def script() -> list:
    return [
        call_tool(
            "todo_write",
            {"todos": [{"title": "t", "status": "completed", "priority": "low"}]},
            text="planning",
        ),
        reply("a thought"),
        call_tool("task_finish", {"message": "done"}),
    ]


async def collect(agent: Agent) -> list[RunEvent]:
    return [event async for event in Runner.stream(agent, "go")]


async def test_envelope_and_gap_free_sequence() -> None:
    events = await collect(Agent(name="ops", model=ScriptedModel(script())))
    run_ids = {e.run_id for e in events}
    assert len(run_ids) == 1 and next(iter(run_ids)).startswith("run_")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len({e.event_id for e in events}) == len(events)
    assert all(e.event_id.startswith("evt_") and e.agent_name == "ops" for e in events)
    assert all(e.created_at <= f.created_at for e, f in itertools.pairwise(events))


async def test_order_of_one_cycle_with_a_tool_call() -> None:
    steps = script()
    model = ScriptedModel(steps, stream_chunk_chars=4)
    events = await collect(Agent(model=model))
    types = [e.type for e in events]
    assert types[:2] == ["run_started", "agent_started"]
    first_cycle = [e.type for e in events if e.cycle_index == 1]
    assert first_cycle[:2] == ["cycle_started", "model_call_started"]
    assert first_cycle.index("model_call_completed") < first_cycle.index("assistant_message")
    tail = first_cycle[first_cycle.index("assistant_message") :]
    assert tail == [
        "assistant_message",
        "tool_call_planned",
        "tool_call_started",
        "tool_call_completed",
    ]
    deltas = [e.delta for e in events if e.type == "assistant_delta" and e.cycle_index == 1]
    assert "".join(deltas) == "planning" and len(deltas) == 2
    started = [e for e in events if e.type == "model_tool_call_started" and e.cycle_index == 1]
    assert [(e.tool_name, e.tool_call_index) for e in started] == [("todo_write", 0)]
    # A short call's arguments (under one progress step) report no progress.
    assert not [e for e in events if e.type == "model_tool_call_progress"]
    assert types[-1] == "run_completed" and types.count("run_completed") == 1


async def test_tool_call_progress_comes_in_steps_not_per_streamed_piece() -> None:
    long_text = "x" * (3 * PROGRESS_STEP_CHARS + 100)
    model = ScriptedModel(
        [
            call_tool("task_finish", {"message": long_text}),
        ],
        stream_chunk_chars=4,
    )
    events = await collect(Agent(model=model))
    progress = [e for e in events if e.type == "model_tool_call_progress"]
    sizes = [p.arguments_chars for p in progress]
    # Hundreds of 4-character pieces, three reports: one per step written.
    assert len(sizes) == 3
    assert all(b - a >= PROGRESS_STEP_CHARS for a, b in itertools.pairwise([0, *sizes]))
    assert all(size - PROGRESS_STEP_CHARS < 4 for size in [sizes[0]])
    assert {(p.tool_name, p.tool_call_index) for p in progress} == {("task_finish", 0)}


async def test_refused_call_has_no_started_event() -> None:
    model = ScriptedModel([call_tool("nope", {}), call_tool("task_finish", {"message": "x"})])
    events = await collect(Agent(model=model))
    first = [e for e in events if e.cycle_index == 1 and e.type.startswith("tool_call")]
    assert [e.type for e in first] == ["tool_call_planned", "tool_call_completed"]
    assert first[1].execution_started is False and first[1].error_code == "tool_not_found"


async def test_subscribers_are_independent_and_start_from_the_backlog() -> None:
    handle = await Runner.start(Agent(model=ScriptedModel(script())), "go")
    first = [e async for e in handle.events()]
    second = [e async for e in handle.events()]
    resumed = [e async for e in handle.events(since_seq=5)]
    assert first == second
    assert resumed == first[5:]
    await handle.result()


async def test_streamed_and_awaited_runs_produce_the_same_events() -> None:
    streamed = await collect(Agent(model=ScriptedModel(script())))
    handle = await Runner.start(Agent(model=ScriptedModel(script())), "go")
    result = await handle.result()
    awaited = [e async for e in handle.events()]
    assert [e.type for e in streamed] == [e.type for e in awaited]
    assert result.final_output == "done"


def test_stream_sync_yields_the_same_typed_events() -> None:
    events = list(Runner.stream_sync(Agent(model=ScriptedModel(script())), "go"))
    assert events[0].type == "run_started" and events[-1].type == "run_completed"
    assert events[-1].final_output == "done"


async def test_events_round_trip_through_json() -> None:
    events = await collect(Agent(model=ScriptedModel(script())))
    for event in events:
        text = json.dumps(event.to_dict())
        assert parse_event(json.loads(text)) == event


async def test_events_written_as_the_durable_log_writes_them_read_back_equal() -> None:
    # The durable log serialises ``to_wire`` with pydantic's JSON serializer; stores and
    # resumed runs read that text back with ``parse_event``.
    events = await collect(Agent(model=ScriptedModel(script())))
    bus = EventBus(run_id="run_x", trace_id="trace_x", session_id="s", parent_run_id="run_p")
    tagged = Diagnostic(cycle_index=None, level="warning", code="x", details={"n": 1})
    tagged.metadata = {"host": "tag"}
    events.append(bus.publish(tagged))
    for event in events:
        written = json.loads(pydantic_core.to_json(event.to_wire()))
        assert parse_event(written) == event
        assert written == event.to_dict()


async def test_an_event_id_of_another_form_reads_back_as_written() -> None:
    events = await collect(Agent(model=ScriptedModel(script())))
    wire = events[3].to_dict() | {"event_id": "evt_written_elsewhere"}
    event = parse_event(wire)
    assert event.event_id == "evt_written_elsewhere"
    assert event.to_dict() == wire


async def test_a_malformed_envelope_is_rejected() -> None:
    events = await collect(Agent(model=ScriptedModel(script())))
    wire = events[0].to_dict()
    without_id = {key: value for key, value in wire.items() if key != "event_id"}
    with pytest.raises(ValidationError, match="event_id"):
        parse_event(without_id)
    with pytest.raises(ValidationError, match="run_id"):
        parse_event(wire | {"run_id": 7})
    with pytest.raises(ValueError, match="origin"):
        parse_event(wire | {"origin": {"run_id": "r", "trace_id": "t"}})
    # The bus stamps seq and created_at on what it publishes; a stored event must carry both.
    for key in ("seq", "created_at"):
        with pytest.raises(ValidationError, match=key):
            parse_event({k: v for k, v in wire.items() if k != key})


def test_publish_stamps_the_envelope_in_order() -> None:
    bus = EventBus(run_id="run_x", trace_id="trace_x", agent_name="ops")
    first = bus.publish(CycleStarted(cycle_index=1))
    second = bus.emit(CycleStarted, cycle_index=2)
    assert (first.seq, second.seq) == (1, 2)
    assert first.run_id == "run_x" and first.agent_name == "ops"
    assert 0 < first.created_at <= second.created_at
    assert first.event_id != second.event_id
    assert bus.backlog == [first, second]
    assert parse_event(first.to_dict()) == first


def test_unknown_event_version_is_rejected() -> None:
    with pytest.raises(UnsupportedVersionError):
        parse_event({"version": 99, "type": "run_started"})


async def test_usage_unknown_stays_null() -> None:
    events = await collect(Agent(model=ScriptedModel(script())))
    completed = [e for e in events if e.type == "model_call_completed"]
    assert completed and all(e.usage.input_tokens is None for e in completed)
    assert completed[0].to_dict()["usage"]["input_tokens"] is None


async def test_a_slow_subscriber_misses_nothing() -> None:
    handle = await Runner.start(Agent(model=ScriptedModel(script())), "go")
    seen = []
    async for event in handle.events():
        seen.append(event.seq)
        await asyncio.sleep(0)  # yield to the loop: the run races ahead of this subscriber
    assert seen == list(range(1, len(seen) + 1))
