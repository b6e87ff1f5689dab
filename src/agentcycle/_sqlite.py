"""SQLite plumbing shared by the stores that keep a file open from many threads and processes.

Both rules come from running SQLite under concurrent writers: a write transaction takes the
write lock up front (``BEGIN IMMEDIATE``) so the reads inside it cannot go stale, and the switch
to WAL is retried, because SQLite does not run its busy handler for it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on an autocommit connection (``isolation_level=None``): the write
    lock is taken up front, so what the transaction reads cannot change before its commit."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def enable_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch the file to WAL (once per file; later calls find it done). A connection busy with
    the file makes the switch fail at once instead of waiting, so it is retried, backing off,
    for up to ``busy_timeout`` seconds."""
    deadline = time.monotonic() + busy_timeout
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.05)


def schema_version(conn: sqlite3.Connection, table: str) -> int | None:
    """The version recorded in ``table``, or ``None`` for a file without that table."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    if exists is None:
        return None
    (version,) = conn.execute(f"SELECT MAX(version) FROM {table}").fetchone()
    return None if version is None else int(version)


def install_schema(
    conn: sqlite3.Connection,
    table: str,
    statements: Sequence[str],
    version: int,
    migrations: Mapping[int, Callable[[sqlite3.Connection], None]] | None = None,
) -> int:
    """Inside the caller's write transaction: bring the file to ``version`` if it can be, and
    return the version it records in ``table`` then. A file without ``table`` gets the schema
    (``statements``, which create ``table`` too); a file of an older version is migrated if
    ``migrations`` has every step up (``migrations[n]`` takes a file from version ``n`` to
    ``n + 1``), in the same transaction, so no reader sees it half done and processes opening
    it at once migrate it once. Any other file (newer, or older with a step missing) is left
    untouched and its version returned."""
    found = schema_version(conn, table)
    if found is None:
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"INSERT INTO {table} (version) VALUES (?)", (version,))
        return version
    steps = range(found, version)
    known = migrations or {}
    if not steps or any(step not in known for step in steps):
        return found
    for step in steps:
        known[step](conn)
    conn.execute(f"UPDATE {table} SET version = ?", (version,))
    return version
