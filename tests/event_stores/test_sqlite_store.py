"""SQLite store specifics: schema version, WAL, corrupt rows, idempotent and conflicting
appends, many writers on one database."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agentcycle.errors import CorruptEventRecord, EventSeqConflict, UnsupportedVersionError
from agentcycle.stores import SQLiteRunEventStore
from agentcycle.stores.sqlite_events import SCHEMA_VERSION
from agentcycle.testing.event_store_conformance import cycle, dicts, finish, replayed, start_run


async def test_database_is_in_wal_mode_with_a_versioned_schema(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    store = SQLiteRunEventStore(path)
    await store.append_many(start_run("run_a").backlog)
    await store.aclose()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT version FROM ac_event_schema").fetchall() == [(SCHEMA_VERSION,)]
        indexes = {row[1] for row in db.execute("PRAGMA index_list(ac_events)")}
        assert "ac_events_run_seq" in indexes
        columns = [row[2] for row in db.execute("PRAGMA index_info(ac_events_run_seq)")]
        assert columns == ["run_id", "seq"]


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    store = SQLiteRunEventStore(path)
    await store.append_many(start_run("run_a").backlog)
    await store.aclose()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE ac_event_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(UnsupportedVersionError, match=f"schema version {SCHEMA_VERSION + 1}"):
        await SQLiteRunEventStore(path).runs()


async def test_a_corrupt_row_is_reported_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    bus = start_run("run_a")
    cycle(bus, 1)
    store = SQLiteRunEventStore(path)
    await store.append_many(bus.backlog)
    with sqlite3.connect(path) as db:
        (pos,) = db.execute("SELECT pos FROM ac_events WHERE seq = 4").fetchone()
        db.execute('UPDATE ac_events SET data = \'{"version": 1, "type": 7\' WHERE pos = ?', (pos,))
    with pytest.raises(CorruptEventRecord) as caught:
        await replayed(store, "run_a")
    assert caught.value.row == pos and caught.value.path == str(path)
    assert f"row {pos}" in str(caught.value)
    skipping = SQLiteRunEventStore(path, on_corrupt="skip")
    assert [e.seq for e in await replayed(skipping, "run_a")] == [1, 2, 3, *range(5, bus.seq + 1)]
    await store.aclose()
    await skipping.aclose()


async def test_a_retried_batch_is_not_stored_twice(tmp_path: Path) -> None:
    store = SQLiteRunEventStore(tmp_path / "events.sqlite3")
    bus = start_run("run_a")
    cycle(bus, 1)
    await store.append_many(bus.backlog[:4])
    await store.append_many(bus.backlog)  # a retry after an ambiguous failure
    assert dicts(await replayed(store, "run_a")) == dicts(bus.backlog)
    assert (await store.runs())[0].event_count == bus.seq
    await store.aclose()


async def test_two_writers_continuing_one_run_conflict(tmp_path: Path) -> None:
    store = SQLiteRunEventStore(tmp_path / "events.sqlite3")
    first = start_run("run_a")
    await store.append_many(first.backlog)
    rival = start_run("run_a")  # same run id and seqs, different events
    cycle(rival, 1)
    with pytest.raises(EventSeqConflict) as caught:
        await store.append_many(rival.backlog)
    assert caught.value.code == "event_seq_conflict"
    # all or nothing: none of the rival's later events were kept
    assert dicts(await replayed(store, "run_a")) == dicts(first.backlog)
    await store.aclose()


def test_writers_in_many_threads_with_their_own_connections(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    buses = [start_run(f"run_{n}") for n in range(8)]
    for bus in buses:
        for index in range(1, 11):
            cycle(bus, index)
        finish(bus)
    barrier = threading.Barrier(len(buses))

    def write(bus) -> None:
        async def append() -> None:
            store = SQLiteRunEventStore(path)
            await store.runs()  # schema created before the race starts
            barrier.wait()
            for start in range(0, len(bus.backlog), 5):
                await store.append_many(bus.backlog[start : start + 5])
            await store.aclose()

        asyncio.run(append())

    threads = [threading.Thread(target=write, args=(bus,)) for bus in buses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    async def check() -> None:
        store = SQLiteRunEventStore(path)
        for bus in buses:
            assert dicts(await replayed(store, bus.run_id)) == dicts(bus.backlog)
        runs = await store.runs()
        assert sorted(r.run_id for r in runs) == sorted(b.run_id for b in buses)
        assert all(r.status == "completed" and r.event_count == buses[0].seq for r in runs)
        await store.aclose()

    asyncio.run(check())


async def test_replay_pages_through_long_runs(tmp_path: Path) -> None:
    store = SQLiteRunEventStore(tmp_path / "events.sqlite3")
    bus = start_run("run_a")
    for index in range(1, 250):
        cycle(bus, index)
    await store.append_many(bus.backlog)
    events = await replayed(store, "run_a", since_seq=7)
    assert [e.seq for e in events] == list(range(8, bus.seq + 1))
    assert len(events) > 1000  # more than two pages
    await store.aclose()


RUN_IN_A_PROCESS = """
import sys
from agentcycle import Agent, RunConfig, Runner
from agentcycle.stores import SQLiteRunEventStore
from agentcycle.testing import ScriptedModel, call_tool

todo = {"todos": [{"title": "t", "status": "completed", "priority": "low"}]}
steps = [call_tool("todo_write", todo) for _ in range(5)] + [call_tool("task_finish", {})]
config = RunConfig(event_store=SQLiteRunEventStore(sys.argv[1]))
print(Runner.run_sync(Agent(model=ScriptedModel(steps)), "go", config=config).run_id)
"""


def test_runs_in_separate_processes_share_one_database(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RUN_IN_A_PROCESS, str(path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    run_ids = [process.communicate(timeout=60)[0].strip() for process in processes]
    assert all(process.returncode == 0 for process in processes)

    async def check() -> None:
        store = SQLiteRunEventStore(path)
        runs = {run.run_id: run for run in await store.runs()}
        assert sorted(runs) == sorted(run_ids)
        for run_id in run_ids:
            events = await replayed(store, run_id)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            assert events[-1].type == "run_completed" and runs[run_id].status == "completed"
        await store.aclose()

    asyncio.run(check())
