"""The durable store: threads, turns, items, the event log and approvals in SQLite.

One server process per store file (an exclusive lock on ``<store>.lock``). The file runs in WAL
mode with ``synchronous=NORMAL``: a commit survives the process being killed (it is in the
WAL), which is what a restart needs. Writes happen on the event loop thread and gather in one
open transaction that the server commits (``commit``) right before it writes the messages
those writes back: persist first, then send, at one commit per batch rather than per
notification. Opening a store applies the restart rules: running
threads become idle, unfinished turns fail as cancelled, pending approvals time out; the
notifications that would have said so go to the event log.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agentcycle.app_server._jsonrpc import compact_json as _json

SCHEMA_VERSION = 2
"""The layout this build writes; an older one is migrated on open (``_MIGRATIONS``), an
unknown (newer) version is refused without touching the file."""

MEMORY = ":memory:"

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE threads (thread_id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE,"
    " agent_key TEXT NOT NULL, cwd TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,"
    " archived_at REAL, status TEXT NOT NULL, metadata TEXT NOT NULL)",
    "CREATE TABLE turns (turn_id TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE,"
    " thread_id TEXT NOT NULL, run_id TEXT, status TEXT NOT NULL, started_at REAL NOT NULL,"
    " completed_at REAL, input TEXT NOT NULL, result TEXT NOT NULL, checkpoint TEXT)",
    "CREATE INDEX turns_by_thread ON turns (thread_id, number)",
    "CREATE TABLE items (thread_id TEXT NOT NULL, sequence INTEGER NOT NULL,"
    " item_id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (thread_id, sequence))"
    " WITHOUT ROWID",
    "CREATE UNIQUE INDEX items_by_id ON items (thread_id, item_id)",
    "CREATE TABLE event_log (thread_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " method TEXT NOT NULL, params_json TEXT NOT NULL, created_at REAL NOT NULL,"
    " PRIMARY KEY (thread_id, seq)) WITHOUT ROWID",
    "CREATE TABLE approvals (request_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL,"
    " turn_id TEXT NOT NULL, status TEXT NOT NULL, decision TEXT, reason TEXT,"
    " created_at REAL NOT NULL, resolved_at REAL)",
)

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 1 -> 2: a turn keeps its run's last CheckpointSummary once the run's log is pruned.
    1: ("ALTER TABLE turns ADD COLUMN checkpoint TEXT",),
}
"""The statements that take a store from each version to the next."""

RESTART_ERROR = "app server restarted"

ItemsClosing = Callable[[str, str, list[dict[str, Any]]], list[dict[str, Any]]]
"""``(thread_id, turn_id, the turn's items) -> the items that close what it left open``."""


class StoreError(Exception):
    """The store cannot be used (locked by another server, unknown version, unreadable)."""


def seconds(value: float) -> float:
    """A stored timestamp as unix seconds (values of 1e11 and more are milliseconds)."""
    return value / 1000.0 if value >= 1e11 else value


@dataclass(slots=True)
class ThreadRow:
    """A stored thread."""

    thread_id: str
    agent_key: str
    cwd: str | None
    created_at: float
    updated_at: float
    archived_at: float | None
    status: str
    metadata: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        """The ``AppThread`` object."""
        return {
            "threadId": self.thread_id,
            "agentKey": self.agent_key,
            "cwd": self.cwd,
            "createdAt": seconds(self.created_at),
            "updatedAt": seconds(self.updated_at),
            "archivedAt": None if self.archived_at is None else seconds(self.archived_at),
            "status": self.status,
            "metadata": self.metadata,
        }


class ItemConflict(Exception):
    """An item id came again with other content; the item was not stored."""


class Store:
    """The app server's SQLite store (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self._lock_file: IO[bytes] | None = None
        self.on_begin: Callable[[], None] | None = None
        """Called when a write opens a batch (a transport schedules its commit)."""
        self.artifacts: Path | None = None
        """Where full item payloads over the bound go (``None``: a temporary directory)."""
        location = str(path)
        if location != MEMORY:
            file = Path(location).expanduser()
            self.artifacts = file.with_name(f"{file.name}.artifacts")
            file.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = _lock(file)
            _check_version(file)
            location = str(file)
        self._conn = sqlite3.connect(location, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._init_schema()
        self.commit()
        self.epoch = self._meta("store_epoch") or ""
        self._item_seq: dict[str, int] = {}
        self._event_seq: dict[str, int] = {}

    # ------------------------------------------------------------------ setup

    def _init_schema(self) -> None:
        with self._transaction() as conn:
            exists = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            if exists:
                version = int(self._meta("schema_version") or SCHEMA_VERSION)
                for step in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[step]:
                        conn.execute(statement)
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )
                return
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("store_epoch", secrets.token_hex(8)),
                    ("next_thread", "1"),
                    ("next_turn", "1"),
                ],
            )

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _begin(self) -> None:
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN IMMEDIATE")
            if self.on_begin is not None:
                self.on_begin()

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        self._begin()
        return self._conn.execute(sql, args)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Statements that stand or fall together, inside the open batch."""
        conn = self._conn
        self._begin()
        conn.execute("SAVEPOINT unit")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO unit")
            raise
        finally:
            conn.execute("RELEASE unit")

    def commit(self) -> None:
        """Make every write so far durable."""
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Commit, close the database and release the store lock."""
        self.commit()
        self._conn.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _next(self, conn: sqlite3.Connection, key: str) -> int:
        (value,) = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (str(int(value) + 1), key))
        return int(value)

    # ------------------------------------------------------------------ restart rules

    def recover(
        self, now: float, closing: ItemsClosing | None = None
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """Apply the restart rules (§11.1) and return the notifications they imply as
        ``(thread_id, method, params)``, already written to the event log. ``closing`` gives,
        for a turn the restart fails and its items, the items that end what it left open (as
        ``item/completed``, stored and logged before the turn's end)."""
        logged: list[tuple[str, str, dict[str, Any]]] = []
        closed: list[dict[str, Any]] = []
        with self._transaction() as conn:
            approvals = conn.execute(
                "SELECT request_id, thread_id, turn_id FROM approvals WHERE status = 'pending'"
                " ORDER BY created_at"
            ).fetchall()
            for request_id, thread_id, turn_id in approvals:
                conn.execute(
                    "UPDATE approvals SET status = 'resolved', decision = 'timeout', reason = ?,"
                    " resolved_at = ? WHERE request_id = ?",
                    (RESTART_ERROR, now, request_id),
                )
                params = {
                    "requestId": request_id,
                    "threadId": thread_id,
                    "turnId": turn_id,
                    "decision": "timeout",
                    "reason": RESTART_ERROR,
                }
                logged.append((thread_id, "approval/resolved", params))
            turns = conn.execute(
                "SELECT turn_id, thread_id, run_id FROM turns"
                " WHERE status IN ('queued', 'running') ORDER BY number"
            ).fetchall()
            if closing is not None:
                for turn_id, thread_id, _run_id in turns:
                    closed += closing(thread_id, turn_id, self.turn_items(thread_id, turn_id))
            logged += [(item["threadId"], "item/completed", item) for item in closed]
            running = {
                row[0]
                for row in conn.execute("SELECT thread_id FROM threads WHERE status = 'running'")
            }
            for thread_id in sorted(running):
                conn.execute(
                    "UPDATE threads SET status = 'idle', updated_at = ? WHERE thread_id = ?",
                    (now, thread_id),
                )
                logged.append(
                    (thread_id, "thread/status/changed", {"threadId": thread_id, "status": "idle"})
                )
            for turn_id, thread_id, run_id in turns:
                result = {"completionReason": "cancelled", "error": RESTART_ERROR}
                conn.execute(
                    "UPDATE turns SET status = 'failed', completed_at = ?, result = ?"
                    " WHERE turn_id = ?",
                    (now, _json(result), turn_id),
                )
                completed: dict[str, Any] = {
                    "threadId": thread_id,
                    "turnId": turn_id,
                    "status": "failed",
                }
                if run_id is not None:
                    completed["runId"] = run_id
                completed.update(result)
                logged.append((thread_id, "turn/completed", completed))
        for item in closed:
            self.put_item(item, _json(item))
        for thread_id, method, params in logged:
            self.append_event(thread_id, method, _json(params), now)
        self.commit()
        return logged

    # ------------------------------------------------------------------ threads

    def create_thread(
        self, agent_key: str, cwd: str | None, metadata: dict[str, Any], now: float
    ) -> ThreadRow:
        """A new idle thread ``thread_N``."""
        with self._transaction() as conn:
            number = self._next(conn, "next_thread")
            row = ThreadRow(f"thread_{number}", agent_key, cwd, now, now, None, "idle", metadata)
            conn.execute(
                "INSERT INTO threads VALUES (?, ?, ?, ?, ?, ?, NULL, 'idle', ?)",
                (row.thread_id, number, agent_key, cwd, now, now, _json(metadata)),
            )
        return row

    def thread(self, thread_id: str) -> ThreadRow | None:
        """The thread, or ``None``."""
        row = self._conn.execute(
            "SELECT thread_id, agent_key, cwd, created_at, updated_at, archived_at, status,"
            " metadata FROM threads WHERE thread_id = ?",
            (thread_id,),
        ).fetchone()
        return None if row is None else _thread_row(row)

    def threads(self, archived: bool | None, offset: int, limit: int | None) -> list[ThreadRow]:
        """Threads in creation order; ``archived`` filters to archived (True), unarchived
        (False) or all (None)."""
        where = ""
        if archived is True:
            where = "WHERE archived_at IS NOT NULL"
        elif archived is False:
            where = "WHERE archived_at IS NULL"
        rows = self._conn.execute(
            "SELECT thread_id, agent_key, cwd, created_at, updated_at, archived_at, status,"
            f" metadata FROM threads {where} ORDER BY number LIMIT ? OFFSET ?",
            (-1 if limit is None else limit, offset),
        ).fetchall()
        return [_thread_row(row) for row in rows]

    def set_thread_status(
        self, thread_id: str, status: str, now: float, *, archived: bool = False
    ) -> None:
        """Change a thread's status (and set ``archivedAt`` when archiving)."""
        if archived:
            self._write(
                "UPDATE threads SET status = ?, updated_at = ?, archived_at = ?"
                " WHERE thread_id = ?",
                (status, now, now, thread_id),
            )
        else:
            self._write(
                "UPDATE threads SET status = ?, updated_at = ? WHERE thread_id = ?",
                (status, now, thread_id),
            )

    # ------------------------------------------------------------------ turns

    def create_turn(self, thread_id: str, input_items: list[Any], now: float) -> str:
        """A new running turn ``turn_N`` on the thread, which becomes running."""
        with self._transaction() as conn:
            number = self._next(conn, "next_turn")
            turn_id = f"turn_{number}"
            conn.execute(
                "INSERT INTO turns (turn_id, number, thread_id, status, started_at, input,"
                " result) VALUES (?, ?, ?, 'running', ?, ?, '{}')",
                (turn_id, number, thread_id, now, _json(input_items)),
            )
            conn.execute(
                "UPDATE threads SET status = 'running', updated_at = ? WHERE thread_id = ?",
                (now, thread_id),
            )
        return turn_id

    def delete_turn(self, turn_id: str) -> None:
        """Forget a turn whose run could not start (its number is not reused)."""
        self._write("DELETE FROM turns WHERE turn_id = ?", (turn_id,))

    def reopen_turn(self, turn_id: str, thread_id: str, now: float) -> None:
        """A turn resumed from its run's checkpoint (``turn/resume``) runs again: its end
        (a restart's ``failed``) is forgotten, and its thread becomes running."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE turns SET status = 'running', completed_at = NULL, result = '{}'"
                " WHERE turn_id = ?",
                (turn_id,),
            )
            conn.execute(
                "UPDATE threads SET status = 'running', updated_at = ? WHERE thread_id = ?",
                (now, thread_id),
            )

    def set_turn_run(self, turn_id: str, run_id: str) -> None:
        """Record the run answering the turn."""
        self._write("UPDATE turns SET run_id = ? WHERE turn_id = ?", (run_id, turn_id))

    def finish_turn(self, turn_id: str, status: str, result: dict[str, Any], now: float) -> None:
        """Record how a turn ended."""
        self._write(
            "UPDATE turns SET status = ?, completed_at = ?, result = ? WHERE turn_id = ?",
            (status, now, _json(result), turn_id),
        )

    def keep_checkpoint(self, turn_id: str, checkpoint: dict[str, Any]) -> None:
        """Keep the last ``CheckpointSummary`` of the turn's run, whose log is pruned."""
        self._write(
            "UPDATE turns SET checkpoint = ? WHERE turn_id = ?", (_json(checkpoint), turn_id)
        )

    def kept_checkpoint(self, turn_id: str) -> dict[str, Any] | None:
        """The summary ``keep_checkpoint`` kept (``None``: the run's log was not pruned)."""
        row = self._conn.execute(
            "SELECT checkpoint FROM turns WHERE turn_id = ?", (turn_id,)
        ).fetchone()
        return None if row is None or row[0] is None else dict(json.loads(row[0]))

    def turns(self, thread_id: str) -> list[dict[str, Any]]:
        """The thread's turns as ``AppTurn`` objects, oldest first."""
        rows = self._conn.execute(
            "SELECT turn_id, run_id, status, started_at, completed_at, input, result FROM turns"
            " WHERE thread_id = ? ORDER BY number",
            (thread_id,),
        ).fetchall()
        return [
            {
                "turnId": turn_id,
                "threadId": thread_id,
                "runId": run_id,
                "status": status,
                "startedAt": seconds(started),
                "completedAt": None if completed is None else seconds(completed),
                "input": json.loads(input_items),
                "result": json.loads(result),
            }
            for turn_id, run_id, status, started, completed, input_items, result in rows
        ]

    # ------------------------------------------------------------------ items

    def has_item(self, thread_id: str, item_id: str) -> bool:
        """Whether the thread holds item ``item_id``."""
        row = self._conn.execute(
            "SELECT 1 FROM items WHERE thread_id = ? AND item_id = ?", (thread_id, item_id)
        ).fetchone()
        return row is not None

    def put_item(self, item: dict[str, Any], body: str) -> bool:
        """Store an ``AppItem`` (``body``: its JSON text); ``False``
        when the same item is stored already. Raises ``ItemConflict`` when its id is stored
        with other content."""
        thread_id = item["threadId"]
        sequence = self._next_sequence(self._item_seq, "items", "sequence", thread_id)
        try:
            self._write(
                "INSERT INTO items (thread_id, sequence, item_id, body) VALUES (?, ?, ?, ?)",
                (thread_id, sequence, item["itemId"], body),
            )
        except sqlite3.IntegrityError:
            row = self._conn.execute(
                "SELECT body FROM items WHERE thread_id = ? AND item_id = ?",
                (thread_id, item["itemId"]),
            ).fetchone()
            if row is not None and row[0] == body:
                return False
            raise ItemConflict(item["itemId"]) from None
        self._item_seq[thread_id] = sequence
        return True

    def _next_sequence(self, cache: dict[str, int], table: str, column: str, thread_id: str) -> int:
        last = cache.get(thread_id)
        if last is None:
            (last,) = self._conn.execute(
                f"SELECT COALESCE(MAX({column}), 0) FROM {table} WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
        return int(last) + 1

    def items_json(self, thread_id: str, after_item_id: str | None = None) -> list[str]:
        """The thread's items as JSON texts in store order (after ``after_item_id`` when it
        is a stored item)."""
        start = 0
        if after_item_id is not None:
            row = self._conn.execute(
                "SELECT sequence FROM items WHERE thread_id = ? AND item_id = ?",
                (thread_id, after_item_id),
            ).fetchone()
            if row is not None:
                start = int(row[0])
        return [
            body
            for (body,) in self._conn.execute(
                "SELECT body FROM items WHERE thread_id = ? AND sequence > ? ORDER BY sequence",
                (thread_id, start),
            )
        ]

    def turn_items(self, thread_id: str, turn_id: str) -> list[dict[str, Any]]:
        """One turn's items, parsed, in store order."""
        items = (json.loads(body) for body in self.items_json(thread_id))
        return [item for item in items if item.get("turnId") == turn_id]

    # ------------------------------------------------------------------ event log, approvals

    def append_event(self, thread_id: str, method: str, params_json: str, now: float) -> int:
        """Append a thread-scoped notification (its params as JSON text) to the log; returns
        its ``seq``."""
        seq = self._next_sequence(self._event_seq, "event_log", "seq", thread_id)
        self._write(
            "INSERT INTO event_log (thread_id, seq, method, params_json, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (thread_id, seq, method, params_json, now),
        )
        self._event_seq[thread_id] = seq
        return seq

    def events(
        self, thread_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[tuple[int, str, str]]:
        """The thread's event log after ``after_seq`` as ``(seq, method, params_json)``."""
        return list(
            self._conn.execute(
                "SELECT seq, method, params_json FROM event_log WHERE thread_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (thread_id, after_seq, -1 if limit is None else limit),
            )
        )

    def last_seq(self, thread_id: str) -> int:
        """The ``seq`` of the thread's latest logged notification (0: none)."""
        return self._next_sequence(self._event_seq, "event_log", "seq", thread_id) - 1

    def add_approval(self, request_id: str, thread_id: str, turn_id: str, now: float) -> None:
        """Record a pending approval request."""
        self._write(
            "INSERT OR IGNORE INTO approvals (request_id, thread_id, turn_id, status,"
            " created_at) VALUES (?, ?, ?, 'pending', ?)",
            (request_id, thread_id, turn_id, now),
        )

    def resolve_approval(self, request_id: str, decision: str, reason: str, now: float) -> None:
        """Record how an approval request was decided."""
        self._write(
            "UPDATE approvals SET status = 'resolved', decision = ?, reason = ?, resolved_at = ?"
            " WHERE request_id = ?",
            (decision, reason, now, request_id),
        )


def _thread_row(row: tuple[Any, ...]) -> ThreadRow:
    thread_id, agent_key, cwd, created, updated, archived, status, metadata = row
    return ThreadRow(
        thread_id, agent_key, cwd, created, updated, archived, status, json.loads(metadata)
    )


def _lock(file: Path) -> IO[bytes]:
    """Take the store's exclusive lock or raise ``StoreError`` (another server holds it)."""
    import fcntl

    handle = open(f"{file}.lock", "ab")  # noqa: SIM115 - held for the server's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreError(f"store {file} is in use by another app server process") from None
    return handle


def _check_version(file: Path) -> None:
    """Refuse a store of another version before anything writes to it."""
    if not file.exists() or file.stat().st_size == 0:
        return
    try:
        conn = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        try:
            has_meta = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
            ).fetchone()
            row = (
                conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if has_meta
                else None
            )
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"store {file} is not readable: {exc}") from None
    if not has_meta:
        raise StoreError(f"{file} is not an app server store")
    version = None if row is None else row[0]
    if version is None or not version.isdigit() or not 1 <= int(version) <= SCHEMA_VERSION:
        raise StoreError(
            f"store {file} has schema version {version}; this build reads {SCHEMA_VERSION}"
        )


def default_store_path() -> Path:
    """``<state dir>/app_server.sqlite``: ``$XDG_STATE_HOME/agentcycle`` or
    ``~/.local/state/agentcycle``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "agentcycle" / "app_server.sqlite"


def now() -> float:
    """The current time in unix seconds."""
    return time.time()
