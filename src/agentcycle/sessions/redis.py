"""``RedisSession``: sessions in Redis (``pip install 'agentcycle[redis]'``).

A session is two keys: a list of JSON messages and a set of recorded turn ids. A turn is appended
by one Lua script (check and record the turn id, then push every item), which Redis runs
atomically, so concurrent appends from any number of processes never interleave. Both keys share
a hash tag (``{session_id}``) so they live in one slot on Redis Cluster too. ``redis`` is
imported when a session is created, never by ``import agentcycle``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from agentcycle.errors import ConfigurationError, SessionStorageError
from agentcycle.messages import Message
from agentcycle.sessions._codec import check_limit, decode_item, encode_items

DEFAULT_KEY_PREFIX = "agentcycle:session:"

# KEYS: items list, turn-id set. ARGV: "1" + turn id, or "0" + ""; then the items.
_APPEND_TURN = """
if ARGV[1] == '1' and redis.call('SADD', KEYS[2], ARGV[2]) == 0 then
  return 0
end
for first = 3, #ARGV, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, first, math.min(first + 999, #ARGV)))
end
return 1
"""


class RedisSession:
    """The session ``session_id`` in Redis at ``url`` (or on a ``redis.asyncio.Redis``
    ``client`` you own). Keys are ``{key_prefix}{{session_id}}:items`` and ``...:turns``."""

    def __init__(
        self,
        session_id: str,
        *,
        url: str = "redis://127.0.0.1:6379/0",
        client: Any = None,
        key_prefix: str = DEFAULT_KEY_PREFIX,
    ) -> None:
        self._session_id = session_id
        self._owns_client = client is None
        self._url = url
        self._client_loop: asyncio.AbstractEventLoop | None = None
        if client is None:
            try:
                import redis.asyncio
            except ImportError as exc:
                raise ConfigurationError(
                    "RedisSession needs the redis package: pip install 'agentcycle[redis]'"
                ) from exc
            client = redis.asyncio.Redis.from_url(url)
        self._items_key = f"{key_prefix}{{{session_id}}}:items"
        self._turns_key = f"{key_prefix}{{{session_id}}}:turns"
        self._use(client)

    @property
    def session_id(self) -> str:
        """The conversation's id."""
        return self._session_id

    @property
    def keys(self) -> tuple[str, str]:
        """The Redis keys of the session: its item list and its turn-id set."""
        return self._items_key, self._turns_key

    async def get_items(self, limit: int | None = None) -> list[Message]:
        """The stored messages, oldest first (the latest ``limit`` when given)."""
        check_limit(self._session_id, limit)
        if limit == 0:
            return []
        self._bind_to_running_loop()
        with self._storage_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.llen(self._items_key)
                pipe.lrange(self._items_key, 0 if limit is None else -limit, -1)
                length, raws = await pipe.execute()
        first = length - len(raws)
        return [decode_item(self._session_id, first + i, raw) for i, raw in enumerate(raws)]

    async def add_items(self, items: Sequence[Message], *, turn_id: str | None = None) -> bool:
        """Append ``items`` in one atomic script unless ``turn_id`` was recorded before."""
        encoded = encode_items(self._session_id, items)
        turn = ["1", turn_id] if turn_id is not None else ["0", ""]
        self._bind_to_running_loop()
        with self._storage_errors():
            appended = await self._append(
                keys=[self._items_key, self._turns_key], args=[*turn, *encoded]
            )
        return bool(appended)

    async def pop_item(self) -> Message | None:
        """Remove and return the latest message (a corrupt one raises and stays)."""
        from redis.exceptions import WatchError

        self._bind_to_running_loop()
        with self._storage_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(self._items_key)
                        length = await pipe.llen(self._items_key)
                        if not length:
                            return None
                        raw = await pipe.lindex(self._items_key, -1)
                        message = decode_item(self._session_id, length - 1, raw)
                        pipe.multi()
                        pipe.rpop(self._items_key)
                        await pipe.execute()
                        return message
                    except WatchError:
                        continue  # another client changed the list: read the new last item

    async def clear(self) -> None:
        """Delete the session's keys."""
        self._bind_to_running_loop()
        with self._storage_errors():
            await self._client.delete(self._items_key, self._turns_key)

    async def aclose(self) -> None:
        """Close the connection pool this session opened (not a ``client`` passed in)."""
        if self._owns_client:
            await self._client.aclose()

    def _bind_to_running_loop(self) -> None:
        """The session's own client works on one event loop: its connections belong to the
        loop that opened them. A session used from another loop (``run_sync`` and
        ``start_sync`` run each run on a fresh one) gets a new client there; the old one's
        connections went with their loop."""
        if not self._owns_client:
            return  # a client passed in is the host's, on the host's loop
        loop = asyncio.get_running_loop()
        if self._client_loop is not None and self._client_loop is not loop:
            import redis.asyncio

            self._use(redis.asyncio.Redis.from_url(self._url))
        self._client_loop = loop

    def _use(self, client: Any) -> None:
        """Talk to Redis through ``client`` (with the append script registered on it)."""
        self._client = client
        self._append = client.register_script(_APPEND_TURN)

    @contextmanager
    def _storage_errors(self) -> Iterator[None]:
        from redis.exceptions import RedisError

        try:
            yield
        except RedisError as exc:
            raise SessionStorageError(
                f"session {self._session_id!r} in Redis: {exc}",
                details={"session_id": self._session_id, "key": self._items_key},
            ) from exc
