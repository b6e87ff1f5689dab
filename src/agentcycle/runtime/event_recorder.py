"""Persist a run's events to ``RunConfig.event_store`` without slowing the loop.

The recorder listens on the run's bus: each event is appended to an in-memory batch (no I/O, no
serialisation on the loop) and one background task writes batches to the store, so while a
write is in flight the next batch fills up. ``flush()`` waits until everything emitted so far
is written.

A failed write is never swallowed: the recorder stops writing (the stored stream stays a
gap-free prefix of the live one), emits a ``diagnostic`` event (level ``error``, code
``event_store_write_failed``) if the run is still live, and ``flush()`` raises
``EventStoreWriteError``.
"""

from __future__ import annotations

import asyncio

from agentcycle.errors import EventStoreWriteError
from agentcycle.events import Diagnostic, RunEvent
from agentcycle.runtime.event_bus import EventBus
from agentcycle.stores.events import RunEventStore


class EventRecorder:
    """Writes every event published on ``bus`` to ``store``, in order, in batches."""

    def __init__(self, store: RunEventStore, bus: EventBus) -> None:
        self._store = store
        self._bus = bus
        self._pending: list[RunEvent] = []
        self._writer: asyncio.Task[None] | None = None
        self._persisted_seq: int | None = None
        self._error: EventStoreWriteError | None = None
        bus.add_listener(self._on_event)

    @property
    def error(self) -> EventStoreWriteError | None:
        """The write failure, if one happened."""
        return self._error

    def _on_event(self, event: RunEvent) -> None:
        if self._error is not None:
            return
        self._pending.append(event)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(
                self._write(), name=f"agentcycle-event-store-{self._bus.run_id}"
            )

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._store.append_many(batch)
                except Exception as exc:  # any store failure is reported, see _failed
                    self._failed(exc)
                    return
                own = [e.seq for e in batch if e.run_id == self._bus.run_id]
                if own:
                    self._persisted_seq = own[-1]
        finally:
            self._writer = None

    def _failed(self, exc: Exception) -> None:
        self._pending = []
        run_id = self._bus.run_id
        error = EventStoreWriteError(
            f"events of run {run_id} could not be written to the event store: {exc}",
            run_id=run_id,
            persisted_through_seq=self._persisted_seq,
            cause=exc,
        )
        error.__cause__ = exc
        self._error = error
        if not self._bus.closed:
            self._bus.emit(
                Diagnostic, level="error", code=error.code, details=dict(error.details or {})
            )

    async def flush(self) -> None:
        """Wait until every event emitted so far is written; raise ``EventStoreWriteError`` if a
        write failed. Cancelling the caller does not interrupt the write."""
        while self._writer is not None:
            await asyncio.shield(self._writer)
        if self._error is not None:
            raise self._error
