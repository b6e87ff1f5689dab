"""Persistence for runs: event stores (JSONL, SQLite) that persist and replay a run's events.

``RunConfig(event_store=...)`` persists every event of a run; ``store.replay(run_id)`` gives
the same stream back. Names load on first use, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "RunEventStore": "agentcycle.stores.events",
    "StoredRun": "agentcycle.stores.events",
    "JsonlRunEventStore": "agentcycle.stores.jsonl_events",
    "SQLiteRunEventStore": "agentcycle.stores.sqlite_events",
}

__all__ = ["JsonlRunEventStore", "RunEventStore", "SQLiteRunEventStore", "StoredRun"]

if TYPE_CHECKING:
    from agentcycle.stores.events import RunEventStore, StoredRun
    from agentcycle.stores.jsonl_events import JsonlRunEventStore
    from agentcycle.stores.sqlite_events import SQLiteRunEventStore


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentcycle.stores' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
