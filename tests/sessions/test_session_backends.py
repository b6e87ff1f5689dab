"""The shared session conformance suite on every shipped backend."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agentcycle.sessions import MemorySession, RedisSession, Session, SQLiteSession
from agentcycle.testing.session_conformance import SessionConformance, SessionFactory

from .conftest import REDIS_URL


class TestMemorySession(SessionConformance):
    @pytest.fixture
    def session_factory(self) -> SessionFactory:
        sessions: dict[str, MemorySession] = {}
        return lambda session_id: sessions.setdefault(session_id, MemorySession(session_id))


class TestSQLiteSession(SessionConformance):
    @pytest.fixture
    def session_factory(self, tmp_path: Path) -> Iterator[SessionFactory]:
        path = tmp_path / "sessions.sqlite3"
        opened: list[SQLiteSession] = []

        def factory(session_id: str) -> Session:
            opened.append(SQLiteSession(session_id, path))  # one connection per handle
            return opened[-1]

        yield factory
        for session in opened:
            session.close()


class TestRedisSession(SessionConformance):
    @pytest.fixture
    async def session_factory(self, redis_prefix: str) -> AsyncIterator[SessionFactory]:
        opened: list[RedisSession] = []

        def factory(session_id: str) -> Session:
            session = RedisSession(session_id, url=REDIS_URL, key_prefix=redis_prefix)
            opened.append(session)
            return session

        yield factory
        for session in opened:
            await session.aclose()
