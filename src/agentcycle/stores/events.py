"""The ``RunEventStore`` protocol: append a run's events, replay them, list the stored runs.

A store keeps events in **stream order**: the order they were appended, which for one run (and
the child runs forwarded into its stream) is the order its bus published them. Replaying a run
yields the events exactly as they were emitted, so ``[e.to_dict() for e in replayed]`` equals
the live stream. Replay follows the cursor rules of ``RunHandle.events(since_seq=...)``:
``since_seq`` is a ``seq`` of the replayed run, and everything after that event is yielded,
including child-run events that came after it.

The shape fits the append-only run log of ``DURABLE.md``: records are never rewritten, each is
keyed by ``(run_id, seq)``, and a reader resumes from the last ``seq`` it saw.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from agentcycle.events import RunCancelled, RunCompleted, RunEvent, RunFailed

OnCorrupt = Literal["raise", "skip"]
"""What a store does with a stored record it cannot read: raise ``CorruptEventRecord`` naming
where it is, or skip it (logging a warning that names it)."""


@dataclass(frozen=True, slots=True)
class StoredRun:
    """One run as a store knows it. A resumed run is one entry (same ``run_id``, continuous
    ``seq``); ``status`` is the status of its latest event when that event is terminal
    (``completed``, ``wait_user``, ``failed``, ``max_cycles``, ``cancelled``), ``None`` while
    the run is live or if it stopped without a terminal event."""

    run_id: str
    trace_id: str
    parent_run_id: str | None
    agent_name: str | None
    event_count: int
    last_seq: int
    started_at: float
    updated_at: float
    status: str | None


@runtime_checkable
class RunEventStore(Protocol):
    """Where a run's events are persisted. Implementations must be safe to share between the
    concurrent runs of one event loop."""

    async def append(self, event: RunEvent) -> None:
        """Persist one event."""
        ...

    async def append_many(self, events: Sequence[RunEvent]) -> None:
        """Persist events in order, as one write where the store can."""
        ...

    def replay(
        self, run_id: str, *, since_seq: int | None = None, include_children: bool = True
    ) -> AsyncIterator[RunEvent]:
        """The run's events in stream order (after ``since_seq`` of this run), with the events
        of its child runs (and theirs) where they occurred unless ``include_children`` is off."""
        ...

    async def runs(self) -> list[StoredRun]:
        """Every stored run (child runs included), in the order each first appeared."""
        ...

    async def aclose(self) -> None:
        """Release files and connections; the store can be reopened by constructing it again."""
        ...


def terminal_status(event: RunEvent) -> str | None:
    """The run status a terminal event reports, or ``None`` for any other event."""
    if isinstance(event, RunCompleted | RunFailed):
        return event.status.value
    if isinstance(event, RunCancelled):
        return "cancelled"
    return None
