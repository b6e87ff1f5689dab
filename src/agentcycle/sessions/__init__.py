"""Sessions: conversation history kept across runs.

    from agentcycle import Agent, RunConfig, Runner
    from agentcycle.sessions import SQLiteSession

    session = SQLiteSession("user-42", "sessions.sqlite3")
    Runner.run_sync(agent, "Plan a trip to Lisbon", config=RunConfig(session=session))
    Runner.run_sync(agent, "Make it four days", config=RunConfig(session=session))  # remembers

Backends: ``MemorySession`` (in the process), ``SQLiteSession`` (a file; threads and processes),
``RedisSession`` (the ``redis`` extra). Names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Session": "agentcycle.sessions.base",
    "MemorySession": "agentcycle.sessions.memory",
    "SQLiteSession": "agentcycle.sessions.sqlite",
    "RedisSession": "agentcycle.sessions.redis",
}

__all__ = ["MemorySession", "RedisSession", "SQLiteSession", "Session"]

if TYPE_CHECKING:
    from agentcycle.sessions.base import Session
    from agentcycle.sessions.memory import MemorySession
    from agentcycle.sessions.redis import RedisSession
    from agentcycle.sessions.sqlite import SQLiteSession


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentcycle.sessions' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
