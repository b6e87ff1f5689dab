"""Both shipped event stores pass the RunEventStore conformance suite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentcycle.stores import JsonlRunEventStore, RunEventStore, SQLiteRunEventStore
from agentcycle.testing.event_store_conformance import RunEventStoreConformance


class TestJsonlStore(RunEventStoreConformance):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> Callable[[], RunEventStore]:
        return lambda: JsonlRunEventStore(tmp_path / "events.jsonl")


class TestSQLiteStore(RunEventStoreConformance):
    @pytest.fixture
    def open_store(self, tmp_path: Path) -> Callable[[], RunEventStore]:
        return lambda: SQLiteRunEventStore(tmp_path / "events.sqlite3")


def test_both_stores_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(JsonlRunEventStore(tmp_path / "a.jsonl"), RunEventStore)
    assert isinstance(SQLiteRunEventStore(tmp_path / "a.db"), RunEventStore)
