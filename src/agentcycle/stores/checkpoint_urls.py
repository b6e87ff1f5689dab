"""``open_checkpoint_store(url)``: a checkpoint store from the URL a CLI flag or a worker gets.

Accepted forms:

- ``memory:`` a new, empty ``MemoryCheckpointStore`` (every call opens a separate one);
- ``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` a ``SQLiteCheckpointStore``
  (the SQLAlchemy spelling: three slashes, then the path);
- ``redis://host:port/db`` (or ``rediss://`` for TLS) a ``RedisCheckpointStore``; every query
  parameter goes to redis-py except ``key_prefix``, which sets the store's key prefix
  (``redis://127.0.0.1:6379/0?key_prefix=myapp:ac:``).

Anything else raises ``InvalidStoreUrl`` naming these forms. Backends are imported only when
their URL is opened.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from agentcycle.errors import InvalidStoreUrl
from agentcycle.stores.checkpoints import CheckpointStore

__all__ = ["open_checkpoint_store", "shown_url"]

_FORMS = "memory:, sqlite:///relative/path, sqlite:////absolute/path, redis://host:port/db"


def open_checkpoint_store(url: str) -> CheckpointStore:
    """The checkpoint store ``url`` names (see the module docstring for the forms)."""
    if not isinstance(url, str):
        raise InvalidStoreUrl(f"a store URL must be a string, not {url!r}; accepted: {_FORMS}")
    if url == "memory:":
        from agentcycle.stores.memory_checkpoints import MemoryCheckpointStore

        return MemoryCheckpointStore()
    if url.startswith("sqlite:"):
        path = sqlite_path(url)
        if path is None:
            raise _invalid(
                url,
                "a sqlite URL is sqlite:/// followed by a file path (four slashes for an "
                "absolute one), no query",
            )
        from agentcycle.stores.sqlite_checkpoints import SQLiteCheckpointStore

        return SQLiteCheckpointStore(path)
    if url.startswith(("redis://", "rediss://")):
        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - parsing it is the check
        except ValueError:
            raise _invalid(url, "the port is not a number") from None
        if parts.path not in ("", "/") and not parts.path[1:].isdigit():
            # redis-py would read a database it cannot parse as 0: a typo must not write there.
            raise _invalid(url, f"the database {parts.path[1:]!r} is not a number")
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefixes = [value for name, value in query if name == "key_prefix"]
        if len(prefixes) > 1 or (prefixes and not prefixes[0]):
            raise _invalid(url, "key_prefix must be given once and not be empty")
        rest = urlencode([(name, value) for name, value in query if name != "key_prefix"])
        from agentcycle.stores.redis_checkpoints import DEFAULT_KEY_PREFIX, RedisCheckpointStore

        return RedisCheckpointStore(
            urlunsplit(parts._replace(query=rest)),
            key_prefix=prefixes[0] if prefixes else DEFAULT_KEY_PREFIX,
        )
    raise _invalid(url, "unknown scheme")


def sqlite_path(url: str) -> Path | None:
    """The file a well-formed ``sqlite:///`` URL names, as the store opens it (relative to the
    current directory, no ``~``); ``None`` for any other URL."""
    path = url.removeprefix("sqlite:///")
    if path == url or not path or "?" in path or "#" in path:
        return None
    return Path(path)


def _invalid(url: str, why: str) -> InvalidStoreUrl:
    shown = shown_url(url)
    return InvalidStoreUrl(
        f"cannot open the checkpoint store {shown!r} ({why}); accepted: {_FORMS}",
        details={"url": shown},
    )


def shown_url(url: str) -> str:
    """A store URL as messages show it: without its password (errors and hints must not
    carry credentials)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
