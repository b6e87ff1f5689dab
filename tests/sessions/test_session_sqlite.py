"""SQLite specifics: WAL, the schema version guard, corrupt rows, unusable files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from agentcycle.errors import SessionCorrupt, SessionStorageError, UnsupportedVersionError
from agentcycle.messages import UserMessage
from agentcycle.sessions import SQLiteSession
from agentcycle.sessions.sqlite import SCHEMA_VERSION
from agentcycle.testing.session_conformance import sample_turn


def execute(path: Path, sql: str, *params: object) -> list[tuple]:
    """Run one statement on the file behind the session's back."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
async def store(tmp_path: Path) -> Path:
    """A store file holding one turn in session ``s``, its connection closed: a handle left
    to the garbage collector closes whenever a collection runs, and closing the last
    connection checkpoints the WAL into the file."""
    path = tmp_path / "sessions.sqlite3"
    session = SQLiteSession("s", path)
    await session.add_items(sample_turn("a"), turn_id="t1")
    session.close()
    return path


async def test_the_file_is_in_wal_mode_with_a_schema_version(store: Path) -> None:
    assert execute(store, "PRAGMA journal_mode") == [("wal",)]
    assert execute(store, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


async def test_a_newer_schema_version_is_refused_without_touching_the_file(store: Path) -> None:
    execute(store, "UPDATE schema_version SET version = ?", SCHEMA_VERSION + 1)
    before = await asyncio.to_thread(store.read_bytes)
    session = SQLiteSession("s", store)
    for operation in (
        session.get_items(),
        session.add_items([UserMessage(content="hi")], turn_id="t2"),
        session.pop_item(),
        session.clear(),
    ):
        with pytest.raises(UnsupportedVersionError) as caught:
            await operation
        assert caught.value.code == "unsupported_version"
        assert str(store) in caught.value.message
        assert f"schema version {SCHEMA_VERSION + 1}" in caught.value.message
    assert await asyncio.to_thread(store.read_bytes) == before
    assert execute(store, "SELECT COUNT(*) FROM session_items") == [(4,)]


async def test_a_corrupt_row_names_the_session_and_position(store: Path) -> None:
    execute(store, 'UPDATE session_items SET message = \'{"role": "robot"}\' WHERE position = 1')
    session = SQLiteSession("s", store)
    with pytest.raises(SessionCorrupt) as caught:
        await session.get_items()
    assert caught.value.code == "session_corrupt"
    assert "session 's'" in caught.value.message and "item 1" in caught.value.message
    assert caught.value.details == {"session_id": "s", "position": 1}
    assert await session.get_items(limit=2) == sample_turn("a")[2:]  # the rest stays readable


async def test_popping_a_corrupt_last_row_raises_and_keeps_it(store: Path) -> None:
    execute(store, "UPDATE session_items SET message = 'not json' WHERE position = 3")
    session = SQLiteSession("s", store)
    with pytest.raises(SessionCorrupt, match="item 3"):
        await session.pop_item()
    assert execute(store, "SELECT COUNT(*) FROM session_items") == [(4,)]
    await session.clear()  # the way out
    assert await session.get_items() == []


async def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("just some text, long enough to fill a sqlite header " * 4)
    with pytest.raises(SessionStorageError) as caught:
        await SQLiteSession("s", path).get_items()
    assert caught.value.code == "session_storage_error"
    assert str(path) in caught.value.message and "'s'" in caught.value.message


async def test_a_missing_directory_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(SessionStorageError):
        await SQLiteSession("s", tmp_path / "missing" / "s.sqlite3").add_items([])


async def test_sessions_of_one_file_keep_their_own_rows(store: Path) -> None:
    other = SQLiteSession("other", store)
    await other.add_items(sample_turn("b"), turn_id="t1")
    await other.clear()
    assert await SQLiteSession("s", store).get_items() == sample_turn("a")
