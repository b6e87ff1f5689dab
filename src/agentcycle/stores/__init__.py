"""Persistence for runs: event stores (JSONL, SQLite) that persist and replay a run's events,
and checkpoint stores (memory, SQLite, Redis) that keep a run's durable log.

``RunConfig(event_store=...)`` persists every event of a run; ``store.replay(run_id)`` gives
the same stream back. ``open_checkpoint_store(url)`` opens a ``CheckpointStore``: an
append-only log per run with contiguous ``seq``, lease epochs that fence stale writers, and a
cancel flag. Names load on first use, so importing this package costs nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AppendResult": "agentcycle.stores.checkpoints",
    "CheckpointStore": "agentcycle.stores.checkpoints",
    "Lease": "agentcycle.stores.checkpoints",
    "LogStatus": "agentcycle.stores.checkpoints",
    "RenewResult": "agentcycle.stores.checkpoints",
    "RunHead": "agentcycle.stores.checkpoints",
    "open_checkpoint_store": "agentcycle.stores.checkpoint_urls",
    "MemoryCheckpointStore": "agentcycle.stores.memory_checkpoints",
    "RedisCheckpointStore": "agentcycle.stores.redis_checkpoints",
    "SQLiteCheckpointStore": "agentcycle.stores.sqlite_checkpoints",
    "NewRecord": "agentcycle.stores.run_records",
    "RecordKind": "agentcycle.stores.run_records",
    "RunRecord": "agentcycle.stores.run_records",
    "record_digest": "agentcycle.stores.run_records",
    "record_key": "agentcycle.stores.run_records",
    "record_keys": "agentcycle.stores.run_records",
    "RunEventStore": "agentcycle.stores.events",
    "StoredRun": "agentcycle.stores.events",
    "JsonlRunEventStore": "agentcycle.stores.jsonl_events",
    "SQLiteRunEventStore": "agentcycle.stores.sqlite_events",
}

__all__ = [
    "AppendResult",
    "CheckpointStore",
    "JsonlRunEventStore",
    "Lease",
    "LogStatus",
    "MemoryCheckpointStore",
    "NewRecord",
    "RecordKind",
    "RedisCheckpointStore",
    "RenewResult",
    "RunEventStore",
    "RunHead",
    "RunRecord",
    "SQLiteCheckpointStore",
    "SQLiteRunEventStore",
    "StoredRun",
    "open_checkpoint_store",
    "record_digest",
    "record_key",
    "record_keys",
]

if TYPE_CHECKING:
    from agentcycle.stores.checkpoint_urls import open_checkpoint_store
    from agentcycle.stores.checkpoints import (
        AppendResult,
        CheckpointStore,
        Lease,
        LogStatus,
        RenewResult,
        RunHead,
    )
    from agentcycle.stores.events import RunEventStore, StoredRun
    from agentcycle.stores.jsonl_events import JsonlRunEventStore
    from agentcycle.stores.memory_checkpoints import MemoryCheckpointStore
    from agentcycle.stores.redis_checkpoints import RedisCheckpointStore
    from agentcycle.stores.run_records import (
        NewRecord,
        RecordKind,
        RunRecord,
        record_digest,
        record_key,
        record_keys,
    )
    from agentcycle.stores.sqlite_checkpoints import SQLiteCheckpointStore
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
