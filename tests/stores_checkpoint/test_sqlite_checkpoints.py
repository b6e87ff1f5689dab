"""SQLite specifics: the tables, the schema version, storage failures, corrupt rows."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from agentcycle.errors import CheckpointStorageError, CorruptRunRecord, UnsupportedVersionError
from agentcycle.stores import NewRecord, RecordKind, SQLiteCheckpointStore
from agentcycle.stores.sqlite_checkpoints import _AUTOCHECKPOINT_PAGES, _CHECKPOINT_EVERY
from agentcycle.testing.checkpoint_conformance import cycle_records


def test_the_log_is_one_row_per_record_beside_one_row_per_run(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = SQLiteCheckpointStore(path)
    store.create_run("r", {"agent": "a"})
    lease = store.acquire_lease("r", "w", 60_000)
    assert lease is not None
    store.append("r", cycle_records(1), expected_seq=2, epoch=lease.epoch)
    store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        run = raw.execute(
            "SELECT last_seq, epoch, status, lease_owner, lease_expires_ms, cancel_reason"
            " FROM ac_checkpoint_runs WHERE run_id = 'r'"
        ).fetchone()
        assert run == (7, 1, "running", "w", lease.expires_ms, None)
        rows = raw.execute(
            "SELECT seq, epoch, kind, key FROM ac_checkpoint_records WHERE run_id = 'r'"
            " ORDER BY seq"
        ).fetchall()
    assert rows[0] == (1, 0, "run_created", "run")
    assert rows[1:] == [(2 + i, 1, r.kind.value, r.key) for i, r in enumerate(cycle_records(1))]


def test_a_file_of_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    SQLiteCheckpointStore(path).create_run("r", {})
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE ac_checkpoint_schema SET version = 99")
    store = SQLiteCheckpointStore(path)
    with pytest.raises(UnsupportedVersionError) as caught:
        store.head("r")
    assert caught.value.details == {"path": str(path), "version": 99}
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM ac_checkpoint_records").fetchone() == (1,)


def test_a_file_that_cannot_be_opened_is_a_storage_error(tmp_path: Path) -> None:
    store = SQLiteCheckpointStore(tmp_path / "missing-dir" / "runs.db")
    with pytest.raises(CheckpointStorageError) as caught:
        store.create_run("r", {})
    assert caught.value.code == "checkpoint_storage_error"
    assert str(tmp_path / "missing-dir") in caught.value.message


def test_a_row_changed_behind_the_stores_back_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = SQLiteCheckpointStore(path)
    store.create_run("r", {})
    store.append("r", cycle_records(1), expected_seq=2, epoch=0)
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE ac_checkpoint_records SET payload = '{}' WHERE seq = 4")
    with pytest.raises(CorruptRunRecord) as caught:
        store.read("r")
    assert caught.value.details["seq"] == 4
    assert [r.seq for r in store.read("r", limit=3)] == [1, 2, 3]
    store.close()


def test_an_append_costs_the_same_on_a_long_log(tmp_path: Path) -> None:
    """Counted in SQLite virtual-machine steps, not time: an append to a 5,000-record log does
    the work of an append to a 10-record one (an index lookup ordered by seq once walked the
    whole run)."""
    store = SQLiteCheckpointStore(tmp_path / "runs.db")

    def steps_to_append_at(size: int) -> int:
        run_id = f"run-{size}"
        store.create_run(run_id, {})
        fill = [
            NewRecord(RecordKind.EVENT, f"fill/{seq}", {"seq": seq}) for seq in range(2, size + 1)
        ]
        store.append(run_id, fill, expected_seq=2, epoch=0)
        conn = store._conn  # the store's own connection, to count the steps of its statements
        assert conn is not None
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0  # carry on

        conn.set_progress_handler(count, 1)
        try:
            store.append(run_id, cycle_records(1), expected_seq=size + 1, epoch=0)
        finally:
            conn.set_progress_handler(None, 1)
        return steps[0]

    short, long = steps_to_append_at(10), steps_to_append_at(5_000)
    assert long <= short * 1.3, (short, long)
    store.close()


def test_checkpoints_run_on_a_thread_the_store_stops_when_closed(tmp_path: Path) -> None:
    """A checkpoint flushes the file: the writer's connection leaves it to the store's thread
    (its own automatic checkpoint only for a WAL the thread let grow to 64 MiB), started when
    the first checkpoint is due, and ``close()`` ends that thread."""
    path = tmp_path / "runs.db"
    store = SQLiteCheckpointStore(path)

    def checkpointers() -> list[threading.Thread]:
        name = f"agentcycle-checkpoint:{path}"
        return [t for t in threading.enumerate() if t.name == name]

    store.create_run("r", {})
    assert store.read("r") and checkpointers() == []  # a store that barely wrote has none
    for cycle in range(1, 2 * _CHECKPOINT_EVERY):  # past two checkpoint requests
        store.append("r", cycle_records(cycle), expected_seq=2 + 6 * (cycle - 1), epoch=0)
    assert len(checkpointers()) == 1
    conn = store._conn
    assert conn is not None
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (_AUTOCHECKPOINT_PAGES,)
    store.close()
    assert checkpointers() == []
    reopened = SQLiteCheckpointStore(path)
    assert len(reopened.read("r")) == 1 + 6 * (2 * _CHECKPOINT_EVERY - 1)
    reopened.close()
