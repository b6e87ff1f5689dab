"""The per-run event bus: assigns the envelope, keeps the backlog, feeds subscribers.

Subscribers are independent and lossless: each reads the backlog from its own cursor, so a slow
subscriber never makes another miss events and never blocks the loop (the backlog is the buffer;
it lives as long as the run's handle). Synchronous listeners (event stores, tracers) are called
in order on every emit.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, TypeVar

from agentcycle.events import EventOrigin, RunEvent

E = TypeVar("E", bound=RunEvent)

_now = time.time

EventListener = Callable[[RunEvent], None]


class _IdSource:
    """Ids unique across processes and time: a random per-process part plus a counter.

    Cheaper than drawing random bytes for each of the several events a cycle emits; the random
    part is redrawn in a forked child so parent and child never share ids."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._stem = os.urandom(6).hex()
        self._counter = itertools.count(1)

    def new(self, prefix: str) -> str:
        """A unique id with a readable prefix (``run_…``, ``evt_…``, ``mc_…``)."""
        return f"{prefix}_{self._stem}{next(self._counter):06x}"


new_id = _IdSource().new
"""A unique id with a readable prefix (``run_…``, ``evt_…``, ``mc_…``); the bound method
itself, as a model call takes two."""


class EventBus:
    """Emits the typed events of one run (and forwards those of its child runs). A child
    run's bus stamps ``parent_run_id`` and ``parent_event_id`` (its ``sub_run_started`` in the
    parent's stream) on each of its events."""

    def __init__(
        self,
        *,
        run_id: str,
        trace_id: str,
        agent_name: str | None = None,
        session_id: str | None = None,
        parent_run_id: str | None = None,
        parent_event_id: str | None = None,
        start_seq: int = 0,
    ) -> None:
        # Event ids: one unique prefix per bus plus the sequence number (no per-event draw).
        self._origin = EventOrigin(
            run_id=run_id,
            trace_id=trace_id,
            session_id=session_id,
            parent_run_id=parent_run_id,
            parent_event_id=parent_event_id,
            agent_name=agent_name,
            id_prefix=new_id("evt") + "_",
        )
        self._backlog: list[RunEvent] = []
        self._seq = start_seq
        self._closed = False
        self._wakeup: asyncio.Future[None] | None = None
        self._listeners: list[EventListener] = []

    @property
    def run_id(self) -> str:
        """The run whose events this bus emits."""
        return self._origin.run_id

    @property
    def trace_id(self) -> str:
        """The run's trace."""
        return self._origin.trace_id

    @property
    def agent_name(self) -> str | None:
        """The agent in control: stamped on every event emitted from now on."""
        return self._origin.agent_name

    @agent_name.setter
    def agent_name(self, name: str | None) -> None:
        self._origin = replace(self._origin, agent_name=name)

    @property
    def origin(self) -> EventOrigin:
        """The identity this bus stamps on its events (run, trace, agent in control ...)."""
        return self._origin

    @property
    def backlog(self) -> list[RunEvent]:
        """Every event emitted or forwarded so far, in order (do not mutate)."""
        return self._backlog

    @property
    def seq(self) -> int:
        """The ``seq`` of the last event this bus emitted."""
        return self._seq

    @property
    def closed(self) -> bool:
        """True once the run's terminal event was emitted."""
        return self._closed

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener`` synchronously for every later event."""
        self._listeners.append(listener)

    def emit(self, event_type: type[E], *, cycle_index: int | None = None, **payload: Any) -> E:
        """Build an event of ``event_type`` from its payload and publish it."""
        return self.publish(event_type(cycle_index=cycle_index, **payload))

    def publish(self, event: E) -> E:
        """Stamp a new, unpublished event with this run's envelope (origin, the next ``seq``,
        the time) and publish it. The loop's per-cycle events come this way: built with their
        fields as keywords, they skip the packing of ``emit``'s keyword arguments, about
        half the cost of an event."""
        seq = self._seq = self._seq + 1
        event.origin = self._origin
        event.seq = seq
        event.created_at = _now()
        # ``_publish`` inlined: a loop emits about nine events a cycle.
        self._backlog.append(event)
        for listener in self._listeners:
            listener(event)
        if self._wakeup is not None:
            self._wake()
        return event

    def forward(self, event: RunEvent) -> None:
        """Publish an event of a child run as is (it keeps its own run id and seq)."""
        self._publish(event)

    def close(self) -> None:
        """No more events; wake every subscriber so it can finish."""
        self._closed = True
        self._wake()

    def _publish(self, event: RunEvent) -> None:
        self._backlog.append(event)
        for listener in self._listeners:
            listener(event)
        self._wake()

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)

    def start_index(self, since_seq: int | None) -> int:
        """Where in the backlog a subscriber from ``since_seq`` starts now: after the last event
        of this run with ``seq <= since_seq``."""
        if since_seq is None:
            return 0
        return next(
            (
                i + 1
                for i in range(len(self._backlog) - 1, -1, -1)
                if self._backlog[i].run_id == self.run_id and self._backlog[i].seq <= since_seq
            ),
            0,
        )

    async def subscribe(self, since_seq: int | None = None) -> AsyncIterator[RunEvent]:
        """Yield every event from the start of the backlog (or after ``since_seq`` of this run)
        until the run ends."""
        index = self.start_index(since_seq)
        while True:
            while index < len(self._backlog):
                event = self._backlog[index]
                index += 1
                yield event
            if self._closed:
                return
            if self._wakeup is None:
                self._wakeup = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._wakeup)
