"""Fixtures for the checkpoint store tests: the local Redis and a key prefix per test.

Redis tests never skip: without a server at 127.0.0.1:6379 they fail (as on CI).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_client() -> Iterator[Any]:
    """A plain client on the test Redis, for looking behind a store's back."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: Any) -> Iterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards (never the
    whole database: other suites share this Redis)."""
    prefix = f"agentcycle-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)
