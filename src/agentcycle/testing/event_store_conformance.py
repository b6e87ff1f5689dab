"""Conformance suite for :class:`~agentcycle.stores.RunEventStore`.

Every event store agentcycle ships passes these tests; run them against your own::

    import pytest
    from agentcycle.testing.event_store_conformance import RunEventStoreConformance

    class TestMyStore(RunEventStoreConformance):
        @pytest.fixture
        def open_store(self, tmp_path):
            # a factory: every call opens the same, initially empty, storage again
            return lambda: MyStore(tmp_path / "events")

The suite needs pytest with pytest-asyncio in auto mode. Events are built with a real
``EventBus``, so they carry exactly the envelopes a run produces.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from agentcycle.events import (
    AgentStarted,
    AssistantDelta,
    CompletionReason,
    CycleStarted,
    ModelCallCompleted,
    RunCompleted,
    RunEvent,
    RunStarted,
    RunStatus,
    SubRunCompleted,
    SubRunStarted,
    ToolCallCompleted,
    ToolCallPlanned,
)
from agentcycle.messages import TokenUsage
from agentcycle.runtime.event_bus import EventBus
from agentcycle.stores.events import RunEventStore

__all__ = ["RunEventStoreConformance", "finish", "start_run"]


def start_run(
    run_id: str,
    *,
    parent: EventBus | None = None,
    start_seq: int = 0,
    input: Any = "go",
) -> EventBus:
    """A bus for ``run_id`` (a child of ``parent``) that has emitted ``run_started`` and
    ``agent_started``; a child forwards its events into the parent's backlog."""
    bus = EventBus(
        run_id=run_id,
        trace_id=parent.trace_id if parent else f"trace_{run_id}",
        agent_name="conformance",
        parent_run_id=parent.run_id if parent else None,
        start_seq=start_seq,
    )
    if parent is not None:
        bus.add_listener(parent.forward)
    bus.emit(RunStarted, input=input)
    bus.emit(AgentStarted)
    return bus


def cycle(bus: EventBus, index: int, *, tool: str = "todo_write") -> None:
    """One cycle's worth of typical events (deltas, usage, a tool call)."""
    bus.emit(CycleStarted, cycle_index=index)
    bus.emit(AssistantDelta, cycle_index=index, delta=f"step {index} — ünïcode ✓")
    bus.emit(
        ModelCallCompleted,
        cycle_index=index,
        call_id=f"mc_{index}",
        operation_id=f"op_{index}",
        model="m",
        usage=TokenUsage.of(10 * index, 3),
    )
    call_id = f"{bus.run_id}_call_{index}"
    bus.emit(
        ToolCallPlanned,
        cycle_index=index,
        tool_call_id=call_id,
        tool_name=tool,
        arguments={"n": index, "nested": [1, {"a": None}]},
    )
    bus.emit(
        ToolCallCompleted,
        cycle_index=index,
        tool_call_id=call_id,
        tool_name=tool,
        status="success",
        directive="continue",
        duration_ms=1.5,
    )


def finish(bus: EventBus, status: RunStatus = RunStatus.COMPLETED) -> None:
    """Emit the terminal ``run_completed``."""
    bus.emit(
        RunCompleted,
        status=status,
        final_output={"answer": 42},
        completion_reason=(
            CompletionReason.TOOL_FINISH
            if status is RunStatus.COMPLETED
            else CompletionReason.WAIT_USER
        ),
        completion_tool_name="task_finish",
    )


def dicts(events: list[RunEvent]) -> list[dict[str, Any]]:
    """The events as their JSON objects, for exact comparison."""
    return [e.to_dict() for e in events]


async def replayed(store: RunEventStore, run_id: str, **options: Any) -> list[RunEvent]:
    """Everything ``store.replay`` yields."""
    return [event async for event in store.replay(run_id, **options)]


class RunEventStoreConformance:
    """Behaviour every ``RunEventStore`` must have. Provide ``open_store``."""

    @pytest.fixture
    def open_store(self) -> Callable[[], RunEventStore]:
        """A factory opening the test's storage (the same one on every call)."""
        raise NotImplementedError("override the open_store fixture")

    @pytest.fixture
    async def store(self, open_store: Callable[[], RunEventStore]) -> AsyncIterator[RunEventStore]:
        store = open_store()
        yield store
        await store.aclose()

    async def test_replay_reproduces_the_appended_stream(self, store: RunEventStore) -> None:
        bus = start_run("run_a")
        for index in (1, 2, 3):
            cycle(bus, index)
        finish(bus)
        await store.append_many(bus.backlog[:5])
        for event in bus.backlog[5:]:
            await store.append(event)
        events = await replayed(store, "run_a")
        assert dicts(events) == dicts(bus.backlog)
        assert [type(e) for e in events] == [type(e) for e in bus.backlog]

    async def test_since_seq_is_an_exclusive_cursor(self, store: RunEventStore) -> None:
        bus = start_run("run_a")
        cycle(bus, 1)
        finish(bus)
        await store.append_many(bus.backlog)
        last = bus.seq
        assert [e.seq for e in await replayed(store, "run_a", since_seq=3)] == list(
            range(4, last + 1)
        )
        assert await replayed(store, "run_a", since_seq=last) == []
        assert len(await replayed(store, "run_a", since_seq=0)) == last

    async def test_runs_do_not_leak_into_each_other(self, store: RunEventStore) -> None:
        first, second = start_run("run_a"), start_run("run_b")
        for index in (1, 2):
            cycle(first, index)
            cycle(second, index)
            await store.append_many(first.backlog[-5:])
            await store.append_many(second.backlog[-5:])
        assert {e.run_id for e in await replayed(store, "run_a")} == {"run_a"}
        assert [e.seq for e in await replayed(store, "run_b")] == list(range(3, 13))
        assert await replayed(store, "run_unknown") == []

    async def test_child_runs_replay_in_stream_order(self, store: RunEventStore) -> None:
        parent = start_run("run_parent")
        cycle(parent, 1, tool="delegate")
        parent.emit(
            SubRunStarted, cycle_index=1, parent_tool_call_id="c1", child_run_id="run_child"
        )
        child = start_run("run_child", parent=parent)
        cycle(child, 1)
        grandchild = start_run("run_grandchild", parent=child)
        finish(grandchild)
        finish(child)
        parent.emit(SubRunCompleted, cycle_index=1, child_run_id="run_child", status="completed")
        finish(parent)
        unrelated = start_run("run_other")
        await store.append_many(parent.backlog[:8])
        await store.append_many(unrelated.backlog)
        await store.append_many(parent.backlog[8:])

        assert dicts(await replayed(store, "run_parent")) == dicts(parent.backlog)
        only_parent = await replayed(store, "run_parent", include_children=False)
        assert {e.run_id for e in only_parent} == {"run_parent"}
        assert [e.seq for e in only_parent] == list(range(1, parent.seq + 1))
        assert dicts(await replayed(store, "run_child")) == dicts(child.backlog)
        cursor = parent.backlog.index(
            next(e for e in parent.backlog if e.type == "sub_run_started")
        )
        after = await replayed(store, "run_parent", since_seq=parent.backlog[cursor].seq)
        assert dicts(after) == dicts(parent.backlog[cursor + 1 :])

    async def test_runs_lists_every_run_with_its_status(self, store: RunEventStore) -> None:
        parent = start_run("run_parent")
        child = start_run("run_child", parent=parent)
        finish(child)
        cycle(parent, 1)
        await store.append_many(parent.backlog)
        live = start_run("run_live")
        await store.append_many(live.backlog)
        runs = {r.run_id: r for r in await store.runs()}
        assert list(runs) == ["run_parent", "run_child", "run_live"]
        assert runs["run_child"].parent_run_id == "run_parent"
        assert runs["run_child"].status == "completed"
        assert runs["run_parent"].status is None and runs["run_parent"].last_seq == parent.seq
        assert runs["run_parent"].event_count == parent.seq
        assert runs["run_live"].trace_id == "trace_run_live"
        assert runs["run_parent"].started_at <= runs["run_parent"].updated_at

    async def test_a_resumed_run_continues_the_same_stored_run(self, store: RunEventStore) -> None:
        first = start_run("run_a")
        finish(first, RunStatus.WAIT_USER)
        await store.append_many(first.backlog)
        assert [r.status for r in await store.runs()] == ["wait_user"]
        second = start_run("run_a", start_seq=first.seq, input="the answer")
        finish(second)
        await store.append_many(second.backlog)
        events = await replayed(store, "run_a")
        assert dicts(events) == dicts(first.backlog + second.backlog)
        assert [e.seq for e in events] == list(range(1, second.seq + 1))
        resumed = await replayed(store, "run_a", since_seq=first.seq)
        assert dicts(resumed) == dicts(second.backlog)
        (run,) = await store.runs()
        assert (run.status, run.event_count, run.last_seq) == ("completed", second.seq, second.seq)

    async def test_large_and_unicode_payloads_round_trip(self, store: RunEventStore) -> None:
        text = 'ünïcode ✓ 漢字 \U0001f600 "quotes" \\ back\nslash ' * 5000
        bus = start_run("run_a", input=text)
        await store.append_many(bus.backlog)
        (started, _) = await replayed(store, "run_a")
        assert isinstance(started, RunStarted) and started.input == text

    async def test_a_reopened_store_sees_everything(
        self, open_store: Callable[[], RunEventStore]
    ) -> None:
        bus = start_run("run_a")
        cycle(bus, 1)
        writer = open_store()
        await writer.append_many(bus.backlog)
        await writer.aclose()
        reader = open_store()
        try:
            assert dicts(await replayed(reader, "run_a")) == dicts(bus.backlog)
        finally:
            await reader.aclose()

    async def test_concurrent_appends_keep_each_run_in_order(self, store: RunEventStore) -> None:
        buses = [start_run(f"run_{n}") for n in range(8)]

        async def write(bus: EventBus) -> None:
            await store.append_many(bus.backlog)
            for index in range(1, 6):
                cycle(bus, index)
                await store.append_many(bus.backlog[-5:])

        await asyncio.gather(*(write(bus) for bus in buses))
        for bus in buses:
            assert dicts(await replayed(store, bus.run_id)) == dicts(bus.backlog)
        assert [r.event_count for r in await store.runs()] == [bus.seq for bus in buses]
