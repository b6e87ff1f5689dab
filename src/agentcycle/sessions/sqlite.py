"""``SQLiteSession``: sessions in a SQLite file, shared safely by threads and processes.

Many sessions live in one file (rows keyed by session id). The file runs in WAL mode so readers
never block the writer; every write is one ``BEGIN IMMEDIATE`` transaction, so a turn's items get
consecutive positions whatever other threads or processes append at the same time, and a
concurrent writer waits up to ``busy_timeout`` seconds for its turn. ``sqlite3`` is blocking, so
operations run in worker threads, taking turns on the handle's one connection (opened on first
use; ``close()`` or garbage collection closes it). Create handles after forking, not before.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from os import PathLike
from pathlib import Path

from agentcycle._sqlite import enable_wal, immediate, install_schema, schema_version
from agentcycle.errors import SessionStorageError, UnsupportedVersionError
from agentcycle.messages import Message
from agentcycle.sessions._codec import check_limit, decode_item, encode_items

SCHEMA_VERSION = 1
"""The layout this build writes and reads; a file with another version is refused untouched."""

_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE session_items ("
    " session_id TEXT NOT NULL, position INTEGER NOT NULL, turn_id TEXT, message TEXT NOT NULL,"
    " PRIMARY KEY (session_id, position)) WITHOUT ROWID",
    "CREATE TABLE session_turns ("
    " session_id TEXT NOT NULL, turn_id TEXT NOT NULL,"
    " PRIMARY KEY (session_id, turn_id)) WITHOUT ROWID",
)


class SQLiteSession:
    """The session ``session_id`` in the SQLite file ``path`` (created with its schema on
    first use; the directory must exist). One handle may serve many threads and event
    loops."""

    def __init__(
        self, session_id: str, path: str | PathLike[str], *, busy_timeout: float = 30.0
    ) -> None:
        self._session_id = session_id
        self._path = Path(path)
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def session_id(self) -> str:
        """The conversation's id."""
        return self._session_id

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    def close(self) -> None:
        """Close the handle's connection (the next operation opens a new one)."""
        with self._lock:
            self._drop_connection()

    async def get_items(self, limit: int | None = None) -> list[Message]:
        """The stored messages, oldest first (the latest ``limit`` when given)."""
        check_limit(self._session_id, limit)
        if limit == 0:
            return []
        return await asyncio.to_thread(self._get_items, limit)

    async def add_items(self, items: Sequence[Message], *, turn_id: str | None = None) -> bool:
        """Append ``items`` in one transaction unless ``turn_id`` was recorded before."""
        encoded = encode_items(self._session_id, items)
        return await asyncio.to_thread(self._add_items, encoded, turn_id)

    async def pop_item(self) -> Message | None:
        """Remove and return the latest message (a corrupt one raises and stays)."""
        return await asyncio.to_thread(self._pop_item)

    async def clear(self) -> None:
        """Forget all messages and turn ids of this session (other sessions in the file stay)."""
        await asyncio.to_thread(self._clear)

    # ------------------------------------------------------------------ worker-thread side

    def _get_items(self, limit: int | None) -> list[Message]:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT position, message FROM session_items WHERE session_id = ?"
                " ORDER BY position DESC LIMIT ?",
                (self._session_id, -1 if limit is None else limit),
            ).fetchall()
        return [decode_item(self._session_id, pos, raw) for pos, raw in reversed(rows)]

    def _add_items(self, encoded: list[str], turn_id: str | None) -> bool:
        sid = self._session_id
        with self._connect() as conn, immediate(conn):
            if turn_id is not None:
                inserted = conn.execute(
                    "INSERT OR IGNORE INTO session_turns (session_id, turn_id) VALUES (?, ?)",
                    (sid, turn_id),
                ).rowcount
                if not inserted:
                    return False
            (start,) = conn.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM session_items WHERE session_id = ?",
                (sid,),
            ).fetchone()
            conn.executemany(
                "INSERT INTO session_items (session_id, position, turn_id, message)"
                " VALUES (?, ?, ?, ?)",
                [(sid, start + i, turn_id, text) for i, text in enumerate(encoded)],
            )
            return True

    def _pop_item(self) -> Message | None:
        sid = self._session_id
        with self._connect() as conn, immediate(conn):
            row = conn.execute(
                "SELECT position, message FROM session_items WHERE session_id = ?"
                " ORDER BY position DESC LIMIT 1",
                (sid,),
            ).fetchone()
            if row is None:
                return None
            message = decode_item(sid, row[0], row[1])
            conn.execute(
                "DELETE FROM session_items WHERE session_id = ? AND position = ?", (sid, row[0])
            )
            return message

    def _clear(self) -> None:
        with self._connect() as conn, immediate(conn):
            conn.execute("DELETE FROM session_items WHERE session_id = ?", (self._session_id,))
            conn.execute("DELETE FROM session_turns WHERE session_id = ?", (self._session_id,))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """This handle's connection, held exclusively for one operation. It is opened (and the
        file checked) on first use and dropped after a storage failure, which becomes a
        ``SessionStorageError`` naming the session and the file."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._open()
                yield self._conn
            except sqlite3.Error as exc:
                self._drop_connection()
                raise SessionStorageError(
                    f"session {self._session_id!r} in {self._path}: {exc}",
                    details={"session_id": self._session_id, "path": str(self._path)},
                ) from exc

    def _open(self) -> sqlite3.Connection:
        """A connection in autocommit mode (transactions are explicit) on a checked file."""
        conn = sqlite3.connect(
            self._path,
            timeout=self._busy_timeout,
            isolation_level=None,
            check_same_thread=False,  # worker threads take turns under self._lock
        )
        try:
            # WAL with NORMAL sync survives a crash of the process; only a power loss can
            # drop the latest turns. FULL would fsync every append.
            conn.execute("PRAGMA synchronous=NORMAL")
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check the schema version before touching the file, then switch to WAL and create
        the schema if the file is new."""
        self._check_version(schema_version(conn, "schema_version"))
        enable_wal(conn, self._busy_timeout)
        with immediate(conn):
            self._check_version(install_schema(conn, "schema_version", _SCHEMA, SCHEMA_VERSION))

    def _check_version(self, version: int | None) -> None:
        if version is not None and version != SCHEMA_VERSION:
            raise UnsupportedVersionError(
                f"session store {self._path} has schema version {version}; this build of "
                f"agentcycle reads version {SCHEMA_VERSION} (upgrade agentcycle or use "
                "another file)",
                details={"path": str(self._path), "version": version},
            )
