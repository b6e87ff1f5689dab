"""Redis specifics: the key prefix, corrupt items, an unreachable server."""

from __future__ import annotations

from typing import Any

import pytest

from agentcycle.errors import SessionCorrupt, SessionStorageError
from agentcycle.sessions import RedisSession
from agentcycle.testing.session_conformance import sample_turn


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
