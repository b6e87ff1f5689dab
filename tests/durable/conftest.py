"""Fixtures for durable runs: checkpoint stores on a real SQLite file and the local Redis.

Redis tests never skip: without a server at 127.0.0.1:6379 they fail (as on CI).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import CheckpointStore

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    import redis

    client: Any = redis.Redis.from_url(REDIS_URL)
    prefix = f"agentcycle-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL per backend (memory is only useful within one process)."""
    if request.param == "memory":
        return "memory:"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    prefix = request.getfixturevalue("redis_prefix")
    return f"{REDIS_URL}?key_prefix={prefix}"


@pytest.fixture
def store(store_url: str) -> Iterator[CheckpointStore]:
    """An open store of each backend."""
    opened = open_checkpoint_store(store_url)
    yield opened
    opened.close()
