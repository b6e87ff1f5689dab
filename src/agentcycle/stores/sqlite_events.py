"""``SQLiteRunEventStore``: events in a SQLite database (stdlib ``sqlite3``), shared safely by
concurrent runs, threads and processes.

Every call runs in a worker thread (never on the event loop) on one connection per store
instance. The database is in WAL mode, so readers never block the writer; each append is one
``BEGIN IMMEDIATE`` transaction, so concurrent writers (other instances, other processes)
queue on SQLite's lock (``timeout`` seconds) rather than fail. ``synchronous=NORMAL`` (the
default here) keeps every committed batch through a crash of the process; pass
``synchronous="FULL"`` to also survive power loss at the cost of a disk flush per batch.

Tables (prefixed so the file can be shared with other stores):
``ac_events(pos, run_id, seq, event_id, type, data)`` with a unique index on ``(run_id, seq)``
and ``pos`` as the stream order; ``ac_event_runs`` with one row per run (parent, counts, status);
``ac_event_schema(version)``. A database written by a newer schema raises
``UnsupportedVersionError``. Appending an event already stored (same ``run_id``, ``seq`` and
``event_id``) is a no-op, so a retried batch is not duplicated; a *different* event at a stored
``(run_id, seq)`` raises ``EventSeqConflict``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from agentcycle._json import dumps
from agentcycle._sqlite import enable_wal
from agentcycle.errors import (
    AgentcycleError,
    CorruptEventRecord,
    EventSeqConflict,
    EventStoreError,
    UnsupportedVersionError,
)
from agentcycle.events import RunEvent, parse_event
from agentcycle.stores.events import OnCorrupt, StoredRun, terminal_status

SCHEMA_VERSION = 1

_log = logging.getLogger(__name__)

_PAGE = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ac_events (
    pos INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ac_events_run_seq ON ac_events (run_id, seq);
CREATE TABLE IF NOT EXISTS ac_event_runs (
    run_id TEXT PRIMARY KEY,
    parent_run_id TEXT,
    trace_id TEXT NOT NULL,
    agent_name TEXT,
    event_count INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    status TEXT,
    first_pos INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ac_event_runs_parent ON ac_event_runs (parent_run_id);
"""

_UPSERT_RUN = """
INSERT INTO ac_event_runs (run_id, parent_run_id, trace_id, agent_name, event_count, last_seq,
                           started_at, updated_at, status, first_pos)
VALUES (:run_id, :parent_run_id, :trace_id, :agent_name, :event_count, :last_seq,
        :started_at, :updated_at, :status,
        (SELECT pos FROM ac_events WHERE run_id = :run_id ORDER BY seq LIMIT 1))
ON CONFLICT (run_id) DO UPDATE SET
    event_count = event_count + excluded.event_count,
    last_seq = max(last_seq, excluded.last_seq),
    updated_at = excluded.updated_at,
    status = excluded.status
"""

_INSERT_EVENT = """
INSERT INTO ac_events (run_id, seq, event_id, type, data) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (run_id, seq) DO NOTHING
"""

_TREE = """
WITH RECURSIVE tree (id) AS (
    SELECT :run_id
    UNION SELECT r.run_id FROM ac_event_runs r JOIN tree ON r.parent_run_id = tree.id
)
"""

T = TypeVar("T")


class SQLiteRunEventStore:
    """A ``RunEventStore`` in a SQLite database file (created with its schema on first use)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 30.0,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        on_corrupt: OnCorrupt = "raise",
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.synchronous = synchronous
        self.on_corrupt: OnCorrupt = on_corrupt
        self._connection: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def append(self, event: RunEvent) -> None:
        """Persist one event."""
        await self.append_many((event,))

    async def append_many(self, events: Sequence[RunEvent]) -> None:
        """Persist events in order in one transaction (all or nothing)."""
        if events:
            await self._call(self._insert, events)

    def replay(
        self, run_id: str, *, since_seq: int | None = None, include_children: bool = True
    ) -> AsyncIterator[RunEvent]:
        """The run's events in stream order (see ``RunEventStore.replay``), read page by page."""
        return self._replay(run_id, since_seq, include_children)

    async def runs(self) -> list[StoredRun]:
        """Every stored run, in the order each first appeared."""
        return await self._call(self._list_runs)

    async def aclose(self) -> None:
        """Close the connection (reopened by the next call)."""

        def close() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.to_thread(self._locked, close)

    # ------------------------------------------------------------------ plumbing

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` in a worker thread, one call at a time."""
        return await asyncio.to_thread(self._locked, lambda: fn(self._connect(), *args))

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._lock:
            try:
                return fn()
            except sqlite3.Error as exc:
                raise EventStoreError(
                    f"event store {self.path}: {exc}",
                    code="event_store_io_error",
                    details={"path": str(self.path)},
                ) from exc

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None:
            return self._connection
        connection = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            enable_wal(connection, self.timeout)  # retried: SQLite won't wait for the switch
            connection.execute(f"PRAGMA synchronous={self.synchronous}")
            self._migrate(connection)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS ac_event_schema (version INTEGER)")
            row = connection.execute("SELECT max(version) FROM ac_event_schema").fetchone()
            version = row[0] if row else None
            if version is not None and version > SCHEMA_VERSION:
                raise UnsupportedVersionError(
                    f"event store {self.path} has schema version {version}; this build reads "
                    f"up to {SCHEMA_VERSION}"
                )
            if version is None:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(
                    "INSERT INTO ac_event_schema (version) VALUES (?)", (SCHEMA_VERSION,)
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ writing

    def _insert(self, connection: sqlite3.Connection, events: Sequence[RunEvent]) -> None:
        rows = [
            (event.run_id, event.seq, event.event_id, event.type, dumps(event.to_dict()))
            for event in events
        ]
        connection.execute("BEGIN IMMEDIATE")
        try:
            before = connection.total_changes
            connection.executemany(_INSERT_EVENT, rows)
            if connection.total_changes - before == len(rows):
                fresh = list(events)
            else:  # some were stored already (a retried batch): find which, refuse conflicts
                connection.execute("ROLLBACK")
                connection.execute("BEGIN IMMEDIATE")
                fresh = [
                    event
                    for event, row in zip(events, rows, strict=True)
                    if connection.execute(_INSERT_EVENT, row).rowcount
                    or self._check_duplicate(connection, event)
                ]
            connection.executemany(_UPSERT_RUN, _run_rows(fresh))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def _check_duplicate(self, connection: sqlite3.Connection, event: RunEvent) -> bool:
        """``False`` for the same event stored already; a different one is a conflict."""
        (stored,) = connection.execute(
            "SELECT event_id FROM ac_events WHERE run_id = ? AND seq = ?", (event.run_id, event.seq)
        ).fetchone()
        if stored != event.event_id:
            raise EventSeqConflict(
                f"run {event.run_id} already has event {stored} at seq {event.seq}; refusing "
                f"{event.event_id} (two writers continued the same run)",
                details={"run_id": event.run_id, "seq": event.seq, "stored_event_id": stored},
            )
        return False

    # ------------------------------------------------------------------ reading

    async def _replay(
        self, run_id: str, since_seq: int | None, include_children: bool
    ) -> AsyncIterator[RunEvent]:
        position = await self._call(self._cursor_position, run_id, since_seq or 0)
        while True:
            page = await self._call(self._page, run_id, position, include_children)
            for _, event in page:
                if event is not None:
                    yield event
            if len(page) < _PAGE:
                return
            position = page[-1][0]

    def _cursor_position(self, connection: sqlite3.Connection, run_id: str, since: int) -> int:
        row = connection.execute(
            "SELECT pos FROM ac_events WHERE run_id = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
            (run_id, since),
        ).fetchone()
        return int(row[0]) if row else 0

    def _page(
        self, connection: sqlite3.Connection, run_id: str, after: int, include_children: bool
    ) -> list[tuple[int, RunEvent | None]]:
        if include_children:
            rows = connection.execute(
                _TREE + "SELECT pos, data FROM ac_events "
                "WHERE run_id IN tree AND pos > :after ORDER BY pos LIMIT :limit",
                {"run_id": run_id, "after": after, "limit": _PAGE},
            ).fetchall()
        else:
            rows = connection.execute(
                "SELECT pos, data FROM ac_events WHERE run_id = ? AND pos > ? ORDER BY pos LIMIT ?",
                (run_id, after, _PAGE),
            ).fetchall()
        return [(pos, self._decode(pos, data)) for pos, data in rows]

    def _decode(self, pos: int, data: str) -> RunEvent | None:
        try:
            value = json.loads(data)
            if not isinstance(value, dict):
                raise ValueError("not a JSON object")
            return parse_event(value)
        except (AgentcycleError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = f"{self.path}: row {pos}: corrupt event record: {reason}"
            if self.on_corrupt == "skip":
                _log.warning("skipped %s", message)
                return None
            raise CorruptEventRecord(message, path=str(self.path), row=pos) from exc

    def _list_runs(self, connection: sqlite3.Connection) -> list[StoredRun]:
        rows = connection.execute(
            "SELECT run_id, trace_id, parent_run_id, agent_name, event_count, last_seq, "
            "started_at, updated_at, status FROM ac_event_runs ORDER BY first_pos"
        ).fetchall()
        return [StoredRun(*row) for row in rows]


def _run_rows(events: Sequence[RunEvent]) -> list[dict[str, Any]]:
    """One ``ac_event_runs`` upsert per run of a batch of newly stored events."""
    runs: dict[str, dict[str, Any]] = {}
    for event in events:
        entry = runs.get(event.run_id)
        if entry is None:
            runs[event.run_id] = {
                "run_id": event.run_id,
                "parent_run_id": event.parent_run_id,
                "trace_id": event.trace_id,
                "agent_name": event.agent_name,
                "event_count": 1,
                "last_seq": event.seq,
                "started_at": event.created_at,
                "updated_at": event.created_at,
                "status": terminal_status(event),
            }
            continue
        entry["event_count"] += 1
        entry["last_seq"] = max(entry["last_seq"], event.seq)
        entry["updated_at"] = event.created_at
        entry["status"] = terminal_status(event)
    return list(runs.values())
