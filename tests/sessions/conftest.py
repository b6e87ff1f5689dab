"""Fixtures for the session tests: a Redis client and a unique key prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    """A plain client on the test Redis, for looking behind a session's back."""
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_prefix(redis_client: Any) -> AsyncIterator[str]:
    """A key prefix no other test uses; every key under it is deleted afterwards (never the
    whole database: other suites share this Redis)."""
    prefix = f"agentcycle-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = [key async for key in redis_client.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis_client.delete(*keys)
