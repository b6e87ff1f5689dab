"""SQLite specifics: the tables, the schema version and the migration from version 1, storage
failures, corrupt rows, the limits of integer keys."""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest

from agentcycle.errors import (
    CheckpointStorageError,
    CorruptRunRecord,
    DuplicateRecordKey,
    InvalidCheckpointRequest,
    RunNotFound,
    UnsupportedVersionError,
)
from agentcycle.stores import NewRecord, RecordKind, SQLiteCheckpointStore, sqlite_checkpoints
from agentcycle.stores._checkpoint_rules import header_record
from agentcycle.stores.checkpoints import Lease, LogStatus
from agentcycle.stores.run_records import RunRecord
from agentcycle.stores.sqlite_checkpoints import _AUTOCHECKPOINT_PAGES, _CHECKPOINT_EVERY
from agentcycle.testing._processes import released_together
from agentcycle.testing.checkpoint_conformance import cycle_records, event, waiting


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
        # The record's rowid is the run's number << 32 | its seq.
        rows = raw.execute(
            "SELECT rid & 0xFFFFFFFF, epoch, kind, key FROM ac_checkpoint_records"
            " WHERE run_no = (SELECT run_no FROM ac_checkpoint_runs WHERE run_id = 'r')"
            " ORDER BY rid"
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
        raw.execute("UPDATE ac_checkpoint_records SET payload = '{}' WHERE rid & 0xFFFFFFFF = 4")
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


# -- version 2: integer keys, and the migration from version 1 --------------------------------

V1_SCHEMA = (
    "CREATE TABLE ac_checkpoint_schema (version INTEGER NOT NULL)",
    "CREATE TABLE ac_checkpoint_runs ("
    " run_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, epoch INTEGER NOT NULL,"
    " status TEXT NOT NULL, lease_owner TEXT, lease_expires_ms INTEGER, cancel_reason TEXT,"
    " created_ms INTEGER NOT NULL)",
    "CREATE INDEX ac_checkpoint_runs_lease ON ac_checkpoint_runs (status, lease_expires_ms)",
    "CREATE TABLE ac_checkpoint_records ("
    " run_id TEXT NOT NULL, seq INTEGER NOT NULL, epoch INTEGER NOT NULL, kind TEXT NOT NULL,"
    " key TEXT NOT NULL, payload TEXT NOT NULL, digest TEXT NOT NULL, ts INTEGER NOT NULL,"
    " PRIMARY KEY (run_id, seq), UNIQUE (run_id, key))",
)
"""The layout of version 1, as that build created it."""
FAR_FUTURE_MS = 4_102_444_800_000  # 2100-01-01: a lease that is live throughout the test


def v1_runs() -> dict[str, list[RunRecord]]:
    """Two runs' logs as version 1 held them: "alpha" with a cycle at epoch 1 (its lease and a
    cancel request are in ``write_v1_file``), "beta" waiting after an event."""
    alpha = [header_record({"agent": "a", "input": "héllo"}), *cycle_records(1)]
    beta = [header_record({"agent": "b"}), event("ping", n=1), waiting()]
    return {
        "alpha": [
            RunRecord.stamped("alpha", seq, 0 if seq == 1 else 1, 1_000 + seq, record)
            for seq, record in enumerate(alpha, 1)
        ],
        "beta": [
            RunRecord.stamped("beta", seq, 0, 500 + seq, record)
            for seq, record in enumerate(beta, 1)
        ],
    }


def write_v1_file(path: Path) -> dict[str, list[RunRecord]]:
    """A version-1 file holding ``v1_runs()`` (beta created first), written the way version 1
    wrote it; its runs' records."""
    runs = v1_runs()
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("BEGIN IMMEDIATE")
        for statement in V1_SCHEMA:
            raw.execute(statement)
        raw.execute("INSERT INTO ac_checkpoint_schema (version) VALUES (1)")
        raw.execute(
            "INSERT INTO ac_checkpoint_runs VALUES"
            " ('alpha', 7, 1, 'running', 'w', ?, 'stop please', 1001),"
            " ('beta', 3, 0, 'waiting', NULL, NULL, NULL, 501)",
            (FAR_FUTURE_MS,),
        )
        raw.executemany(
            "INSERT INTO ac_checkpoint_records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (r.run_id, r.seq, r.epoch, r.kind.value, r.key, r.payload_json, r.digest, r.ts)
                for records in runs.values()
                for r in records
            ],
        )
        raw.execute("COMMIT")
    return runs


def schema_of(path: Path) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(path)) as raw:
        return raw.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name LIKE '%checkpoint%' ORDER BY name"
        ).fetchall()


def test_a_version_1_file_is_migrated_on_open_and_reads_back_the_same(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    runs = write_v1_file(path)
    store = SQLiteCheckpointStore(path)
    for run_id, records in runs.items():
        assert store.read(run_id) == records  # seq, epoch, kind, key, payload, digest, ts
        assert store.read(run_id, after_seq=2, limit=1) == records[2:3]
    alpha, beta = store.head("alpha"), store.head("beta")
    assert alpha is not None and beta is not None
    assert (alpha.last_seq, alpha.epoch, alpha.status, alpha.cancel_reason) == (
        7,
        1,
        LogStatus.RUNNING,
        "stop please",
    )
    assert alpha.lease == Lease("w", 1, FAR_FUTURE_MS)
    assert (beta.last_seq, beta.epoch, beta.status, beta.lease) == (3, 0, LogStatus.WAITING, None)
    assert store.cancel_requested("alpha") == "stop please"
    assert store.list_runs() == ["alpha", "beta"]  # beta was created first
    # The logs go on where they ended, under the same rules: a key is still taken once.
    appended = store.append("alpha", cycle_records(2), expected_seq=8, epoch=1)
    assert (appended.last_seq, appended.cancel_reason) == (13, "stop please")
    with pytest.raises(DuplicateRecordKey):
        store.append("beta", [event("ping", n=2)], expected_seq=4, epoch=0)
    store.append("beta", [event("pong")], expected_seq=4, epoch=0)
    assert [r.seq for r in store.read("beta")] == [1, 2, 3, 4]
    assert store.acquire_lease("alpha", "x", 1_000) is None  # w's lease is still live
    store.close()
    # Version 2 now, with exactly a new file's tables and indexes (the old ones are gone).
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT version FROM ac_checkpoint_schema").fetchall() == [(2,)]
        # Runs are numbered in the order they were created.
        assert raw.execute(
            "SELECT run_no, run_id FROM ac_checkpoint_runs ORDER BY run_no"
        ).fetchall() == [(1, "beta"), (2, "alpha")]
    fresh = SQLiteCheckpointStore(tmp_path / "fresh.db")
    assert fresh.head("r") is None  # creates the file
    fresh.close()
    assert schema_of(path) == schema_of(fresh.path)


MIGRATING_CHILD = """
import json, sys
from agentcycle.stores import SQLiteCheckpointStore
store = SQLiteCheckpointStore(sys.argv[1])  # opens the file on its first call, after "go"
print("ready", flush=True)
sys.stdin.readline()
print(json.dumps({run_id: len(store.read(run_id)) for run_id in ("alpha", "beta")}))
store.close()
"""


def test_processes_opening_a_version_1_file_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    runs = write_v1_file(path)
    processes = 4
    command = [sys.executable, "-c", MIGRATING_CHILD, str(path)]
    outputs = released_together([command] * processes)
    assert [json.loads(output) for output in outputs] == [{"alpha": 7, "beta": 3}] * processes
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT version FROM ac_checkpoint_schema").fetchall() == [(2,)]
        assert raw.execute("SELECT COUNT(*) FROM ac_checkpoint_runs").fetchone() == (2,)
        assert raw.execute("SELECT COUNT(*) FROM ac_checkpoint_records").fetchone() == (10,)
    store = SQLiteCheckpointStore(path)
    assert {run_id: store.read(run_id) for run_id in runs} == runs
    store.close()


def test_a_version_3_file_is_refused_byte_for_byte_untouched(tmp_path: Path) -> None:
    """Even its journal mode stays: the version is checked before the switch to WAL."""
    path = tmp_path / "v3.db"
    writer = SQLiteCheckpointStore(path)
    writer.create_run("r", {})
    writer.close()
    with closing(sqlite3.connect(path, isolation_level=None)) as raw:
        raw.execute("UPDATE ac_checkpoint_schema SET version = 3")
        raw.execute("PRAGMA journal_mode=DELETE")
    before = path.read_bytes()
    store = SQLiteCheckpointStore(path)
    with pytest.raises(UnsupportedVersionError) as caught:
        store.read("r")
    assert caught.value.details == {"path": str(path), "version": 3}
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()


def test_a_run_recreated_behind_a_stores_back_gets_its_appends(tmp_path: Path) -> None:
    """The store remembers run numbers; another instance deletes the run and creates it
    again, and hands the old number to another run. Appends through the first store go to the
    new run, and nothing of the old run or of the other one shows."""
    path = tmp_path / "runs.db"
    mine, theirs = SQLiteCheckpointStore(path), SQLiteCheckpointStore(path)
    mine.create_run("r", {"v": "old"})
    mine.append("r", cycle_records(1), expected_seq=2, epoch=0)  # "r"'s number is remembered
    assert theirs.delete_run("r")
    theirs.create_run("other", {"v": "other"})  # takes "r"'s old number (SQLite's max + 1)
    theirs.create_run("r", {"v": "new"})
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("SELECT run_id FROM ac_checkpoint_runs ORDER BY run_no").fetchall() == [
            ("other",),
            ("r",),
        ]
    # The same records again: the old run's keys are not the new run's.
    mine.append("r", cycle_records(1), expected_seq=2, epoch=0)
    mine.append("r", cycle_records(2), expected_seq=8, epoch=0)  # now on the common path
    records = theirs.read("r")
    assert records[0].payload == {"v": "new"}
    assert [r.key for r in records[1:]] == [r.key for r in cycle_records(1) + cycle_records(2)]
    assert [r.seq for r in records] == list(range(1, 14))
    assert [r.payload for r in theirs.read("other")] == [{"v": "other"}]
    other = theirs.head("other")
    assert other is not None and other.last_seq == 1
    # Deleted again, the run is gone for the store that remembered it.
    assert theirs.delete_run("r")
    with pytest.raises(RunNotFound):
        mine.append("r", cycle_records(3), expected_seq=14, epoch=0)
    mine.close()
    theirs.close()


def test_a_run_holds_seqs_up_to_2_to_the_32_minus_1(tmp_path: Path) -> None:
    """A record's rowid is the run's number << 32 | its seq: an append past the last seq is
    refused before anything is written, and the last seq does not reach the next run."""
    path = tmp_path / "runs.db"
    store = SQLiteCheckpointStore(path)
    store.create_run("r", {})
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute(f"UPDATE ac_checkpoint_runs SET last_seq = {2**32 - 2}")  # a long log
    store.append("r", [event("last")], expected_seq=2**32 - 1, epoch=0)
    store.create_run("next", {})
    with pytest.raises(InvalidCheckpointRequest) as caught:
        store.append("r", [event("past")], expected_seq=2**32, epoch=0)
    assert caught.value.details == {"run_id": "r", "seq": 2**32, "max_seq": 2**32 - 1}
    with pytest.raises(InvalidCheckpointRequest):
        store.append("next", cycle_records(1), expected_seq=2**32 - 3, epoch=0)
    head = store.head("r")
    assert head is not None and head.last_seq == 2**32 - 1
    assert [(r.seq, r.key) for r in store.read("r")] == [(1, "run"), (2**32 - 1, "event/last")]
    assert store.read("r", after_seq=2**32 - 1) == []
    assert store.read("r", after_seq=2**40) == []
    assert [r.seq for r in store.read("next")] == [1]
    store.close()


def test_run_numbers_run_out_with_a_storage_error_and_nothing_written(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    store = SQLiteCheckpointStore(path)
    store.create_run("first", {})
    with closing(sqlite3.connect(path)) as raw, raw:  # a run with the last number
        raw.execute(
            "INSERT INTO ac_checkpoint_runs (run_no, run_id, last_seq, epoch, status, created_ms)"
            f" VALUES ({2**31 - 1}, 'last', 0, 0, 'running', 0)"
        )
    with pytest.raises(CheckpointStorageError, match="no run number is left"):
        store.create_run("r", {})
    assert store.head("r") is None
    assert [r.key for r in store.read("first")] == ["run"]
    store.close()


def test_the_remembered_run_numbers_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_checkpoints, "_RUN_NOS_KEPT", 2)
    store = SQLiteCheckpointStore(tmp_path / "runs.db")
    for cycle in (1, 2):
        for run_id in ("a", "b", "c"):
            if cycle == 1:
                store.create_run(run_id, {})
            store.append(run_id, cycle_records(cycle), expected_seq=2 + 6 * (cycle - 1), epoch=0)
            assert len(store._run_nos) <= 2
    assert [len(store.read(run_id)) for run_id in ("a", "b", "c")] == [13, 13, 13]
    store.close()
