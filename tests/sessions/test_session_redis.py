"""Redis specifics: the key prefix, corrupt items, an unreachable server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner
from agentcycle.errors import SessionCorrupt, SessionStorageError
from agentcycle.events import RunStatus
from agentcycle.messages import UserMessage
from agentcycle.sessions import RedisSession
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.testing.session_conformance import sample_turn

from .conftest import REDIS_URL


@pytest.fixture
async def session(redis_client: Any, redis_prefix: str) -> RedisSession:
    """Session ``s`` holding one turn, on a client the test owns."""
    session = RedisSession("s", client=redis_client, key_prefix=redis_prefix)
    await session.add_items(sample_turn("a"), turn_id="t1")
    return session


async def test_keys_live_under_the_prefix_with_one_hash_tag(
    session: RedisSession, redis_client: Any, redis_prefix: str
) -> None:
    assert session.keys == (f"{redis_prefix}{{s}}:items", f"{redis_prefix}{{s}}:turns")
    assert await redis_client.llen(session.keys[0]) == 4
    assert await redis_client.smembers(session.keys[1]) == {b"t1"}
    await session.clear()
    assert await redis_client.exists(*session.keys) == 0


async def test_aclose_leaves_a_client_passed_in_open(
    session: RedisSession, redis_client: Any
) -> None:
    await session.aclose()
    assert await redis_client.ping() is True
    assert len(await session.get_items()) == 4


async def test_a_corrupt_item_names_the_session_and_position(
    session: RedisSession, redis_client: Any
) -> None:
    await redis_client.lset(session.keys[0], 2, b'{"role": "tool"}')
    with pytest.raises(SessionCorrupt) as caught:
        await session.get_items()
    assert caught.value.details == {"session_id": "s", "position": 2}
    assert "session 's'" in caught.value.message and "item 2" in caught.value.message
    assert await session.get_items(limit=1) == sample_turn("a")[3:]


async def test_popping_a_corrupt_last_item_raises_and_keeps_it(
    session: RedisSession, redis_client: Any
) -> None:
    await redis_client.rpush(session.keys[0], b"\xff not json")
    with pytest.raises(SessionCorrupt, match="item 4"):
        await session.pop_item()
    assert await redis_client.llen(session.keys[0]) == 5


async def test_an_unreachable_server_is_a_storage_error() -> None:
    session = RedisSession("s", url="redis://127.0.0.1:1/0")
    with pytest.raises(SessionStorageError) as caught:
        await session.add_items(sample_turn("a"))
    assert caught.value.code == "session_storage_error"
    await session.aclose()


def test_one_session_serves_consecutive_sync_runs_each_on_its_own_loop() -> None:
    import redis

    prefix = f"agentcycle-test:{uuid.uuid4().hex}:"
    session = RedisSession("chat", url=REDIS_URL, key_prefix=prefix)

    def finishing(message: str) -> Agent:
        return Agent(model=ScriptedModel([call_tool("task_finish", {"message": message})]))

    try:
        # run_sync and start_sync each run on a fresh event loop.
        first = Runner.run_sync(finishing("one"), "first", config=RunConfig(session=session))
        second = Runner.run_sync(finishing("two"), "second", config=RunConfig(session=session))
        with Runner.start_sync(
            finishing("three"), "third", config=RunConfig(session=session)
        ) as handle:
            third = handle.result()
        assert [r.status for r in (first, second, third)] == [RunStatus.COMPLETED] * 3
        stored = asyncio.run(session.get_items())
        users = [m.content for m in stored if isinstance(m, UserMessage)]
        assert users == ["first", "second", "third"]
    finally:
        cleanup = redis.Redis.from_url(REDIS_URL)
        keys = list(cleanup.scan_iter(match=f"{prefix}*"))
        if keys:
            cleanup.delete(*keys)
        cleanup.close()


@pytest.mark.parametrize("count", [999, 1_000, 1_001, 2_500])
async def test_a_large_add_keeps_every_item_in_order(
    redis_client: Any, redis_prefix: str, count: int
) -> None:
    """The append script pushes in slices of 1,000 arguments: every slice edge keeps its item."""
    session = RedisSession("big", client=redis_client, key_prefix=redis_prefix)
    items = [UserMessage(content=f"item {i}") for i in range(count)]
    assert await session.add_items(items, turn_id="t") is True
    stored = await session.get_items()
    assert [m.content for m in stored] == [f"item {i}" for i in range(count)]  # type: ignore[union-attr]
