"""Memory: token accounting, context budget and compaction of a run's history.

``MemoryPolicy`` (on ``Agent`` or ``RunConfig``) configures it; the loop calls the runtime's
context manager (``runtime/context.py``) before each model call, which uses the pieces here:
``HistoryTokens`` (incremental counts), ``context_budget`` (the window minus reserved output and a
safety buffer) and ``Compactor`` (micro, structural, summary and emergency stages).

Across runs: ``SessionMemory`` (``memory.session``) extracts durable notes from a session's
conversation and loads them at the next run's start; ``MemoryProvider`` (``memory.provider``)
connects external memory (recall at run start, compaction notifications, saved notes).
"""

from __future__ import annotations

from agentcycle.memory.notes import NoteCategory, SessionNote
from agentcycle.memory.policy import ContextBudget, MemoryPolicy, context_budget
from agentcycle.memory.provider import (
    CompactionNotice,
    CompactionRecord,
    MemoryItem,
    MemoryProvider,
)
from agentcycle.memory.session import SessionMemory
from agentcycle.memory.session_store import (
    InMemorySessionMemoryStore,
    NotesAdded,
    SessionMemoryStore,
    WorkspaceSessionMemoryStore,
)

__all__ = [
    "CompactionNotice",
    "CompactionRecord",
    "ContextBudget",
    "InMemorySessionMemoryStore",
    "MemoryItem",
    "MemoryPolicy",
    "MemoryProvider",
    "NoteCategory",
    "NotesAdded",
    "SessionMemory",
    "SessionMemoryStore",
    "SessionNote",
    "WorkspaceSessionMemoryStore",
    "context_budget",
]
