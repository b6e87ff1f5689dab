"""The three shipped checkpoint stores pass the CheckpointStore conformance suite: memory in
one process, SQLite on a real file and Redis on the local server also across processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agentcycle.stores import (
    CheckpointStore,
    MemoryCheckpointStore,
    RedisCheckpointStore,
    SQLiteCheckpointStore,
)
from agentcycle.testing.checkpoint_conformance import CheckpointStoreConformance
from agentcycle.testing.checkpoint_process_conformance import CrossProcessCheckpointConformance

from .conftest import REDIS_URL


class TestMemoryStore(CheckpointStoreConformance):
    @pytest.fixture
    def open_store(self) -> Callable[[], CheckpointStore]:
        shared = MemoryCheckpointStore()  # the memory store's data is the instance
        return lambda: shared


class TestSQLiteStore(CrossProcessCheckpointConformance):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'runs.db'}"  # tmp_path is absolute: four slashes


class TestRedisStore(CrossProcessCheckpointConformance):
    @pytest.fixture
    def store_url(self, redis_prefix: str) -> str:
        return f"{REDIS_URL}?key_prefix={redis_prefix}"


def test_every_store_satisfies_the_protocol(tmp_path: Path, redis_prefix: str) -> None:
    stores = [
        MemoryCheckpointStore(),
        SQLiteCheckpointStore(tmp_path / "runs.db"),
        RedisCheckpointStore(REDIS_URL, key_prefix=redis_prefix),
    ]
    for store in stores:
        assert isinstance(store, CheckpointStore)
        store.close()
