"""``SQLiteCheckpointStore``: run logs in a SQLite file, shared by threads and processes.

Tables (prefixed ``ac_checkpoint_`` so the file can also hold the event and session stores):
``ac_checkpoint_runs(run_no INTEGER PRIMARY KEY, run_id UNIQUE, last_seq, epoch, status,
lease_owner, lease_expires_ms, cancel_reason, created_ms)`` and ``ac_checkpoint_records(rid
INTEGER PRIMARY KEY, run_no, epoch, kind, key, payload, digest, ts, UNIQUE (run_no, key))``,
plus ``ac_checkpoint_schema``. A run gets a number when it is created (SQLite's rowid), and a
record's ``rid`` is ``run_no << 32 | seq``: the records table is its own ``(run, seq)`` index,
so an append writes one B-tree page fewer than with a ``(run_id, seq)`` key (a separate index
beside the table), and a run's records are one rowid range. A run holds seqs up to
``2**32 - 1``: an append past that is refused (``InvalidCheckpointRequest``). A record stores
neither its run's id (its ``run_no`` says which run) nor its seq (``rid`` holds it). A file of
version 1 (records keyed by ``(run_id, seq)``) is migrated in place when first opened, inside
the opening transaction, so processes opening it at once migrate it once.

Every mutating call is one ``BEGIN IMMEDIATE`` transaction: it reads the run's row, applies the
store's rules and writes the row back, so concurrent writers in any process queue on SQLite's
write lock (up to ``timeout`` seconds) and never interleave. An append touches the run's row,
the batch's rows and their ``(run_no, key)`` entries: its cost does not grow with the log.
The instance remembers the run numbers it has seen, so the common append finds the run's row
by rowid; the row's ``run_id`` is checked too, so a number gone stale (the run deleted and
created again by another process) only sends that append down the path that reads the row.

The file is in WAL mode, so readers never wait for the writer. ``synchronous=NORMAL`` (the
default) keeps every committed append through a crash of the process, and the file consistent
through a power loss, which may lose the appends committed since the last checkpoint; ``"FULL"``
keeps those too, at the cost of a flush of the WAL per append. The clock is the machine's:
every process on the file must share it (one host, or a network file system is out of the
question anyway).

Checkpoints (copying the WAL into the database file, with a flush of each) run on a thread of
the instance's own (started when the first one is due), every ``_CHECKPOINT_EVERY`` write
transactions, not inside an append: on the writer's path they cost an append about a hundred
times its usual time every few hundred appends (measured: a 4-record append's mean 206 µs,
median 60 µs; with the thread, mean 72-93 µs). The writer's connection keeps SQLite's
automatic checkpoint, at a larger size, in case the thread falls behind (or is gone: threads
do not survive a fork).

Each instance keeps one connection, used by threads in turn under a lock (opened on first use,
``close()`` closes it and stops the checkpoint thread). Open instances after forking, not
before.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from agentcycle._sqlite import enable_wal, immediate, install_schema, schema_version
from agentcycle.errors import (
    CheckpointStorageError,
    InvalidCheckpointRequest,
    UnsupportedVersionError,
)
from agentcycle.stores import _checkpoint_rules as rules
from agentcycle.stores.checkpoints import AppendResult, Lease, LogStatus, RenewResult, RunHead
from agentcycle.stores.run_records import NewRecord, RunRecord

SCHEMA_VERSION = 2
"""The layout this build writes and reads. A file of version 1 is migrated to it when opened; a
file with a newer version is refused untouched."""

_SEQ_BITS = 32
_MAX_SEQ = (1 << _SEQ_BITS) - 1
"""The last seq a run can hold: a record's ``rid`` is ``run_no << 32 | seq``."""
_MAX_RUN_NO = (1 << 31) - 1
"""The last run number: the largest ``rid`` must fit SQLite's signed 64-bit integer."""
_RUN_NOS_KEPT = 4096
"""Run numbers an instance remembers (the oldest is forgotten first): a forgotten one costs
the run's next append a read of its row."""

_VERSION_TABLE = "ac_checkpoint_schema"
_TABLES = (
    "CREATE TABLE ac_checkpoint_runs ("
    " run_no INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, last_seq INTEGER NOT NULL,"
    " epoch INTEGER NOT NULL, status TEXT NOT NULL, lease_owner TEXT, lease_expires_ms INTEGER,"
    " cancel_reason TEXT, created_ms INTEGER NOT NULL)",
    # list_recoverable: running runs by lease expiry.
    "CREATE INDEX ac_checkpoint_runs_lease ON ac_checkpoint_runs (status, lease_expires_ms)",
    "CREATE TABLE ac_checkpoint_records ("
    " rid INTEGER PRIMARY KEY, run_no INTEGER NOT NULL, epoch INTEGER NOT NULL,"
    " kind TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, digest TEXT NOT NULL,"
    " ts INTEGER NOT NULL, UNIQUE (run_no, key))",
)
_SCHEMA = (f"CREATE TABLE {_VERSION_TABLE} (version INTEGER NOT NULL)", *_TABLES)


def _migrate_from_v1(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2: runs numbered in the order they were created, each record's
    ``(run_id, seq)`` folded into its ``rid``. The old tables are renamed out of the way, the
    new ones created as on a new file, the rows copied, the old tables dropped."""
    conn.execute("DROP INDEX ac_checkpoint_runs_lease")
    conn.execute("ALTER TABLE ac_checkpoint_runs RENAME TO ac_checkpoint_runs_v1")
    conn.execute("ALTER TABLE ac_checkpoint_records RENAME TO ac_checkpoint_records_v1")
    for statement in _TABLES:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO ac_checkpoint_runs (run_id, last_seq, epoch, status, lease_owner,"
        " lease_expires_ms, cancel_reason, created_ms)"
        " SELECT run_id, last_seq, epoch, status, lease_owner, lease_expires_ms, cancel_reason,"
        " created_ms FROM ac_checkpoint_runs_v1 ORDER BY created_ms, run_id"
    )
    conn.execute(
        "INSERT INTO ac_checkpoint_records (rid, run_no, epoch, kind, key, payload, digest, ts)"
        f" SELECT (r.run_no << {_SEQ_BITS}) | v.seq, r.run_no, v.epoch, v.kind, v.key, v.payload,"
        " v.digest, v.ts FROM ac_checkpoint_records_v1 v"
        " JOIN ac_checkpoint_runs r ON r.run_id = v.run_id"
    )
    conn.execute("DROP TABLE ac_checkpoint_records_v1")
    conn.execute("DROP TABLE ac_checkpoint_runs_v1")


_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _migrate_from_v1}
"""The migration from each older version to the next."""

_META = (
    "SELECT run_no, last_seq, epoch, status, lease_owner, lease_expires_ms, cancel_reason"
    " FROM ac_checkpoint_runs WHERE run_id = ?"
)
_SAVE_META = (
    "UPDATE ac_checkpoint_runs SET last_seq = ?, epoch = ?, status = ?, lease_owner = ?,"
    " lease_expires_ms = ?, cancel_reason = ? WHERE run_no = ?"
)
_ADVANCE = (
    "UPDATE ac_checkpoint_runs SET last_seq = ? WHERE run_no = ? AND run_id = ? AND last_seq = ?"
    " AND epoch = ? AND status = 'running' AND cancel_reason IS NULL"
)
"""The common append's move of the meta, with the rules as its condition: the batch continues
the tail, from the run's epoch, of a running run with no cancel pending (so the append's answer
about the cancel is ``None`` without reading it), and leaves the run running. Only
``last_seq`` changes: no index is touched. The row is found by the run number the instance
remembers, and must still carry the run's id: a number gone stale matches no row."""
_RECORDS = (
    "SELECT rid, epoch, kind, key, payload, digest, ts FROM ac_checkpoint_records"
    " WHERE rid > ? AND rid <= ? ORDER BY rid LIMIT ?"
)
_INSERT = (
    "INSERT INTO ac_checkpoint_records (rid, run_no, epoch, kind, key, payload, digest, ts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

_CHECKPOINT_EVERY = 256
"""Write transactions between two checkpoints on the checkpoint thread (~5 MB of WAL for a
run's commits of ~2.5 KB, 4-5 pages each). Each checkpoint costs the writer a little (its
thread takes the GIL to start and end, its fsync competes for the disk) whatever its size:
256 measured ~10 µs a cycle cheaper than 64 in ``benchmarks/durable.py``."""
_AUTOCHECKPOINT_PAGES = 16384
"""The writer connection's own automatic checkpoint (64 MiB of WAL in 4 KiB pages; SQLite's
default is 1,000 pages): only reached when the checkpoint thread falls behind."""

T = TypeVar("T")


class SQLiteCheckpointStore:
    """A ``CheckpointStore`` in the SQLite file ``path`` (created with its schema on first use;
    the directory must exist)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.synchronous = synchronous
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._checkpointer: _Checkpointer | None = None
        self._writes = 0
        # Run numbers seen, by run id: a hint for the common append, which checks it (_ADVANCE).
        self._run_nos: dict[str, int] = {}

    def create_run(self, run_id: str, header: Mapping[str, Any]) -> bool:
        """Create the run with ``header`` at seq 1 unless it exists."""
        rules.check_run_id(run_id)
        first = rules.header_record(header)

        def create(conn: sqlite3.Connection) -> bool:
            now = rules.now_ms()
            inserted = conn.execute(
                "INSERT OR IGNORE INTO ac_checkpoint_runs (run_id, last_seq, epoch, status,"
                " created_ms) VALUES (?, 1, 0, ?, ?) RETURNING run_no",
                (run_id, LogStatus.RUNNING.value, now),
            ).fetchall()
            if not inserted:
                return False
            ((run_no,),) = inserted
            if run_no > _MAX_RUN_NO:
                raise CheckpointStorageError(
                    f"checkpoint store {self.path}: no run number is left for run {run_id!r}"
                    f" (the last is {_MAX_RUN_NO})",
                    details={"path": str(self.path), "run_id": run_id},
                )
            conn.execute(_INSERT, _row(run_no, RunRecord.stamped(run_id, 1, 0, now, first)))
            self._remember(run_id, run_no)
            return True

        return self._write(create)

    def append(
        self, run_id: str, records: Sequence[NewRecord], *, expected_seq: int, epoch: int
    ) -> AppendResult:
        """Append the batch at ``expected_seq`` (see ``CheckpointStore.append``)."""
        rules.check_run_id(run_id)
        rules.check_batch(records, expected_seq, epoch)
        last = expected_seq + len(records) - 1
        if last > _MAX_SEQ:
            raise InvalidCheckpointRequest(
                f"run {run_id!r}: a SQLite checkpoint store holds seqs up to {_MAX_SEQ}; an"
                f" append ending at seq {last} is refused",
                details={"run_id": run_id, "seq": last, "max_seq": _MAX_SEQ},
            )

        running = rules.status_after(records) is LogStatus.RUNNING

        def append(conn: sqlite3.Connection) -> AppendResult:
            # The common append (the tail, the run's epoch, running before and after, no
            # cancel pending, the run's number known) moves the meta with one compare-and-set;
            # anything else, or a refusal, reads the meta and applies the rules in full.
            known = self._run_nos.get(run_id)
            if (
                running
                and known is not None
                and conn.execute(_ADVANCE, (last, known, run_id, expected_seq - 1, epoch)).rowcount
            ):
                run_no, cancel_reason = known, None
            else:
                run_no, meta = rules.found(run_id, self._load(conn, run_id))
                stored: list[RunRecord] = []

                def identities(first: int, last: int) -> dict[int, tuple[str, str]]:
                    stored.extend(_read(conn, run_id, run_no, first - 1, last - first + 1))
                    return {r.seq: (r.key, r.digest) for r in stored}

                if rules.is_retry(meta, records, expected_seq, identities):
                    return AppendResult(meta.last_seq, 0, tuple(stored), meta.cancel_reason)
                rules.check_writable(run_id, meta, expected_seq, epoch)
                rules.apply_append(meta, records)
                _save(conn, run_no, meta)
                cancel_reason = meta.cancel_reason
            now = rules.now_ms()
            written = tuple(
                RunRecord.stamped(run_id, expected_seq + i, epoch, now, record)
                for i, record in enumerate(records)
            )
            try:
                conn.executemany(_INSERT, [_row(run_no, r) for r in written])
            except sqlite3.IntegrityError:
                # UNIQUE (run_no, key) refused a key stored before (the seqs are free: the
                # meta says so, under the write lock). Found out only now, so the common
                # append pays no lookup; the transaction is rolled back, the meta's move too.
                raise _key_taken(conn, run_id, run_no, records, expected_seq) from None
            return AppendResult(last, len(written), written, cancel_reason)

        return self._write(append)

    def read(self, run_id: str, after_seq: int = 0, limit: int | None = None) -> list[RunRecord]:
        """Records after ``after_seq``, at most ``limit``."""
        rules.check_run_id(run_id)
        rules.check_read(after_seq, limit)

        def read(conn: sqlite3.Connection) -> list[RunRecord]:
            # One read transaction, so the existence check and the rows see one snapshot.
            with _snapshot(conn):
                run_no, _ = rules.found(run_id, self._load(conn, run_id))
                return _read(conn, run_id, run_no, after_seq, -1 if limit is None else limit)

        return self._call(read)

    def head(self, run_id: str) -> RunHead | None:
        """The run's state, or ``None``."""
        rules.check_run_id(run_id)

        def head(conn: sqlite3.Connection) -> RunHead | None:
            loaded = self._load(conn, run_id)
            return None if loaded is None else rules.head_of(run_id, loaded[1], rules.now_ms())

        return self._call(head)

    def acquire_lease(self, run_id: str, owner: str, ttl_ms: int) -> Lease | None:
        """A new epoch for ``owner`` unless the lease is live."""
        rules.check_run_id(run_id)
        rules.check_lease_args(owner, ttl_ms)
        return self._update(
            run_id, lambda meta: rules.acquire(run_id, meta, owner, ttl_ms, rules.now_ms())
        )

    def renew_lease(self, run_id: str, owner: str, epoch: int, ttl_ms: int) -> RenewResult:
        """Extend ``owner``'s live lease; carries the cancel flag."""
        rules.check_run_id(run_id)
        rules.check_lease_args(owner, ttl_ms, epoch)
        return self._update(
            run_id, lambda meta: rules.renew(meta, owner, epoch, ttl_ms, rules.now_ms())
        )

    def release_lease(self, run_id: str, owner: str, epoch: int) -> bool:
        """Give the run up."""
        rules.check_run_id(run_id)
        rules.check_lease_args(owner, epoch=epoch)
        return self._update(run_id, lambda meta: rules.release(meta, owner, epoch))

    def request_cancel(self, run_id: str, reason: str) -> bool:
        """Ask the run to stop."""
        rules.check_run_id(run_id)
        rules.check_reason(reason)
        return self._update(run_id, lambda meta: rules.cancel(meta, reason))

    def cancel_requested(self, run_id: str) -> str | None:
        """The pending cancel reason, or ``None``."""
        rules.check_run_id(run_id)
        return self._call(
            lambda conn: rules.found(run_id, self._load(conn, run_id))[1].cancel_reason
        )

    def list_recoverable(self, limit: int | None = None) -> list[str]:
        """Running runs whose lease expired, longest expired first."""
        rules.check_read(0, limit)
        rows = self._call(
            lambda conn: conn.execute(
                "SELECT run_id FROM ac_checkpoint_runs WHERE status = ?"
                " AND lease_owner IS NOT NULL AND lease_expires_ms <= ?"
                " ORDER BY lease_expires_ms, run_id LIMIT ?",
                (LogStatus.RUNNING.value, rules.now_ms(), -1 if limit is None else limit),
            ).fetchall()
        )
        return [run_id for (run_id,) in rows]

    def list_runs(self, *, limit: int | None = None) -> list[str]:
        """Run ids, newest first: by run number, given in the order the runs were created (a
        new row's rowid is one more than the largest, also after a deletion; a file migrated
        from version 1 numbered its runs by their creation time)."""
        rules.check_read(0, limit)
        rows = self._call(
            lambda conn: conn.execute(
                "SELECT run_id FROM ac_checkpoint_runs ORDER BY run_no DESC LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        )
        return [run_id for (run_id,) in rows]

    def delete_run(self, run_id: str) -> bool:
        """Delete the run unless its lease is live."""
        rules.check_run_id(run_id)

        def delete(conn: sqlite3.Connection) -> bool:
            loaded = self._load(conn, run_id)
            if loaded is None:
                return False
            run_no, meta = loaded
            rules.check_deletable(run_id, meta, rules.now_ms())
            first = run_no << _SEQ_BITS
            conn.execute(
                "DELETE FROM ac_checkpoint_records WHERE rid > ? AND rid <= ?",
                (first, first + _MAX_SEQ),
            )
            conn.execute("DELETE FROM ac_checkpoint_runs WHERE run_no = ?", (run_no,))
            self._run_nos.pop(run_id, None)
            return True

        return self._write(delete)

    def close(self) -> None:
        """Close the connection and stop the checkpoint thread (the next call opens a new
        connection and starts another)."""
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()
            checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()

    # ------------------------------------------------------------------ plumbing

    def _update(self, run_id: str, change: Callable[[rules.RunMeta], T]) -> T:
        """Apply ``change`` to the run's meta in one write transaction and store the result."""

        def update(conn: sqlite3.Connection) -> T:
            run_no, meta = rules.found(run_id, self._load(conn, run_id))
            result = change(meta)
            _save(conn, run_no, meta)
            return result

        return self._write(update)

    def _load(self, conn: sqlite3.Connection, run_id: str) -> tuple[int, rules.RunMeta] | None:
        """The run's number and meta, or ``None``; what it finds refreshes ``_run_nos``."""
        row = conn.execute(_META, (run_id,)).fetchone()
        if row is None:
            self._run_nos.pop(run_id, None)
            return None
        run_no, last_seq, epoch, status, owner, expires_ms, cancel_reason = row
        self._remember(run_id, run_no)
        meta = rules.RunMeta(last_seq, epoch, LogStatus(status), owner, expires_ms, cancel_reason)
        return run_no, meta

    def _remember(self, run_id: str, run_no: int) -> None:
        """Keep ``run_id``'s number, forgetting the oldest kept one if ``_RUN_NOS_KEPT`` are."""
        if run_id not in self._run_nos and len(self._run_nos) >= _RUN_NOS_KEPT:
            del self._run_nos[next(iter(self._run_nos))]
        self._run_nos[run_id] = run_no

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` inside one ``BEGIN IMMEDIATE`` transaction."""

        def write(conn: sqlite3.Connection) -> T:
            with immediate(conn):
                result = fn(conn)
            self._writes += 1
            if self._writes % _CHECKPOINT_EVERY == 0:
                # Started by the first checkpoint due: a store that only reads, or writes a
                # little (a status query, a cancel), never runs the thread.
                if self._checkpointer is None:
                    self._checkpointer = _Checkpointer(self.path, self.timeout)
                self._checkpointer.due()
            return result

        return self._call(write)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn`` on this instance's connection, one thread at a time; a failure of SQLite
        drops the connection and becomes ``CheckpointStorageError``."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._open()
                return fn(self._conn)
            except sqlite3.Error as exc:
                if self._conn is not None:
                    conn, self._conn = self._conn, None
                    conn.close()
                # SQLite says only "unable to open database file" for a folder that is missing.
                folder = self.path.parent
                missing = "" if folder.is_dir() else f" (the folder {folder.resolve()} is missing)"
                raise CheckpointStorageError(
                    f"checkpoint store {self.path}: {exc}{missing}",
                    details={"path": str(self.path)},
                ) from exc

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.timeout,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # threads take turns under self._lock
        )
        try:
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT_PAGES}")
            # A file this build cannot read is refused before the switch to WAL changes it.
            self._check_version(schema_version(conn, _VERSION_TABLE))
            enable_wal(conn, self.timeout)
            with immediate(conn):
                self._check_version(
                    install_schema(conn, _VERSION_TABLE, _SCHEMA, SCHEMA_VERSION, _MIGRATIONS)
                )
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_version(self, version: int | None) -> None:
        """Refuse a file that is neither new, of this build's version, nor one it migrates."""
        if version is not None and version != SCHEMA_VERSION and version not in _MIGRATIONS:
            raise UnsupportedVersionError(
                f"checkpoint store {self.path} has schema version {version}; this build reads "
                f"version {SCHEMA_VERSION} and migrates version "
                f"{', '.join(map(str, _MIGRATIONS))} to it",
                details={"path": str(self.path), "version": version},
            )


class _Checkpointer:
    """Checkpoints the WAL of ``path`` on a daemon thread with a connection of its own, when
    told it is ``due``. ``PASSIVE``: it never waits for the file's readers or writer, and the
    writer never waits for it (what it cannot copy now, a later checkpoint does)."""

    def __init__(self, path: Path, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._due = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name=f"agentcycle-checkpoint:{path}", daemon=True
        )
        self._thread.start()

    def due(self) -> None:
        """Ask for a checkpoint (requests made while one runs become one more)."""
        self._due.set()

    def stop(self) -> None:
        """End the thread (after the checkpoint it is running, if any)."""
        self._stopping = True
        self._due.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._stopping:
                    return
                # A failed checkpoint loses nothing (the WAL holds every commit): the next
                # one, or the writer's automatic checkpoint, copies it.
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: every statement inside sees the same state of the file."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _key_taken(
    conn: sqlite3.Connection,
    run_id: str,
    run_no: int,
    records: Sequence[NewRecord],
    expected_seq: int,
) -> Exception:
    """The error for a batch a key of which is stored at a seq before ``expected_seq``."""
    keys = [r.key for r in records]
    # Looked up on the (run_no, key) index. No ORDER BY: ordering by rid makes SQLite walk the
    # run's records in seq order instead. Rows of this batch inserted before the refused one
    # are in the transaction too: only seqs before the batch count.
    taken = conn.execute(
        "SELECT rid, key FROM ac_checkpoint_records WHERE run_no = ? AND key IN"
        f" ({', '.join('?' * len(keys))})",
        (run_no, *keys),
    ).fetchall()
    first = run_no << _SEQ_BITS
    earlier = [(rid - first, key) for rid, key in taken if rid - first < expected_seq]
    if not earlier:
        return CheckpointStorageError(
            f"run {run_id!r}: records at seq {expected_seq} and after exist beyond the run's "
            "last seq",
            details={"run_id": run_id, "expected_seq": expected_seq},
        )
    seq, key = min(earlier)
    return rules.key_taken(run_id, key, seq)


def _save(conn: sqlite3.Connection, run_no: int, meta: rules.RunMeta) -> None:
    conn.execute(
        _SAVE_META,
        (
            meta.last_seq,
            meta.epoch,
            meta.status.value,
            meta.owner,
            meta.expires_ms,
            meta.cancel_reason,
            run_no,
        ),
    )


def _read(
    conn: sqlite3.Connection, run_id: str, run_no: int, after_seq: int, limit: int
) -> list[RunRecord]:
    # The run's records are the rids after run_no << 32, up to its last possible seq (a larger
    # after_seq would reach into the next run's).
    first = run_no << _SEQ_BITS
    return [
        RunRecord.from_storage(run_id, rid - first, epoch, kind, key, payload, digest, ts)
        for rid, epoch, kind, key, payload, digest, ts in conn.execute(
            _RECORDS, (first + min(after_seq, _MAX_SEQ), first + _MAX_SEQ, limit)
        )
    ]


def _row(run_no: int, record: RunRecord) -> tuple[Any, ...]:
    return (
        (run_no << _SEQ_BITS) | record.seq,
        run_no,
        record.epoch,
        record.kind.value,
        record.key,
        record.payload_json,
        record.digest,
        record.ts,
    )
