"""Memory in the system prompt and memory providers' notifications, with their failures
contained (rules in ``agentcycle.memory.provider`` and ``agentcycle.memory.session``).

At run start, session notes and recalled items become context provider fragments, so they are
rendered, ordered and budgeted exactly like a host's own fragments. During the run,
``ProviderCalls`` notifies the providers and reports a failing one as a diagnostic.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from agentcycle.context_providers import PromptFragment
from agentcycle.events import Diagnostic
from agentcycle.memory.provider import (
    CompactionNotice,
    CompactionRecord,
    MemoryItem,
    MemoryProvider,
    provider_name,
    render_recalled,
)
from agentcycle.memory.session import render_session_notes
from agentcycle.memory.session_store import SessionMemoryStore
from agentcycle.runtime.event_bus import EventBus

if TYPE_CHECKING:
    from agentcycle.context_providers import InstructionsContext

MEMORY_PROVIDER_FAILED = "memory_provider_failed"
"""Diagnostic code of a memory provider call that raised or returned the wrong type."""
SESSION_MEMORY_SOURCE = "session_memory"
"""The ``source`` of the session notes fragment (in ``context_fragments_omitted`` reports)."""

Operation = Literal["search", "save", "before_compaction", "after_compaction"]


def failure_details(provider: object, operation: Operation, exc: Exception) -> dict[str, Any]:
    """The details of a ``memory_provider_failed`` diagnostic."""
    return {
        "provider": provider_name(provider),
        "operation": operation,
        "error_type": type(exc).__name__,
        "error": str(exc),
    }


async def _call(provider: MemoryProvider, operation: Operation, *args: Any) -> Any:
    value = getattr(provider, operation)(*args)
    if inspect.isawaitable(value):
        value = await value
    return value


class SessionNotesFragment:
    """Context provider: the session's notes as the "Session memory" section. A store that
    fails to load raises here, which the context provider machinery reports."""

    name = SESSION_MEMORY_SOURCE

    def __init__(self, store: SessionMemoryStore, session_id: str, max_chars: int) -> None:
        self._store = store
        self._session_id = session_id
        self._max_chars = max_chars

    async def fragments(self, ctx: InstructionsContext) -> list[PromptFragment]:
        """The section, or nothing for a session without notes."""
        notes = await self._store.load(self._session_id)
        text = render_session_notes(notes, self._max_chars)
        return [PromptFragment(text, source=SESSION_MEMORY_SOURCE)] if text else []


class RecallFragment:
    """Context provider: what one memory provider recalls for the run's request. A failure is
    kept in ``failure`` (the details of a ``memory_provider_failed`` diagnostic) instead of
    raised."""

    def __init__(self, provider: MemoryProvider, query: str, limit: int, max_chars: int) -> None:
        self._provider = provider
        self._query = query
        self._limit = limit
        self._max_chars = max_chars
        self.name = f"memory:{provider_name(provider)}"
        self.failure: dict[str, Any] | None = None

    async def fragments(self, ctx: InstructionsContext) -> list[PromptFragment]:
        """The recalled section, or nothing (no query, no items, or a failure)."""
        if not self._query.strip():
            return []
        try:
            items = await _call(self._provider, "search", self._query, self._limit)
            if not isinstance(items, list | tuple) or not all(
                isinstance(i, MemoryItem) for i in items
            ):
                raise TypeError(
                    f"search() returned {type(items).__name__}, not a list of MemoryItem"
                )
        except Exception as exc:  # a broken provider must not take the run down
            self.failure = failure_details(self._provider, "search", exc)
            return []
        text = render_recalled(provider_name(self._provider), items[: self._limit], self._max_chars)
        return [PromptFragment(text, source=self.name)] if text else []


class ProviderCalls:
    """Notifies a run's memory providers, in registration order, one after the other."""

    def __init__(self, providers: Sequence[MemoryProvider], bus: EventBus) -> None:
        self._providers = tuple(providers)
        self._bus = bus

    def __bool__(self) -> bool:
        return bool(self._providers)

    async def before_compaction(self, notice: CompactionNotice) -> None:
        """Tell every provider a compaction starts."""
        await self._each("before_compaction", notice.cycle_index, notice)

    async def after_compaction(self, record: CompactionRecord) -> None:
        """Give every provider the record of a finished compaction."""
        await self._each("after_compaction", record.cycle_index, record)

    async def save(self, items: Sequence[MemoryItem], cycle_index: int) -> None:
        """Give every provider ``items`` to keep."""
        if items:
            await self._each("save", cycle_index, tuple(items))

    async def _each(self, operation: Operation, cycle_index: int, payload: Any) -> None:
        for provider in self._providers:
            try:
                await _call(provider, operation, payload)
            except Exception as exc:  # contained: the run goes on without this provider's part
                self._bus.emit(
                    Diagnostic,
                    cycle_index=cycle_index,
                    level="warning",
                    code=MEMORY_PROVIDER_FAILED,
                    details=failure_details(provider, operation, exc),
                )
