"""Durable runs: options, and reading a run back from its checkpoint store.

A run with ``RunConfig.checkpoint_store`` keeps its log in the store (see
``agentcycle.stores.run_records``): per cycle ``cycle_started`` + ``model_intent`` +
``model_result`` (durable before the first call of a tool with an effect), then an
``effect_intent`` and ``effect_result`` around each ``non_idempotent`` call (an
``idempotent`` call's result comes later), then ``cycle_committed``, the cycle's checkpoint.
Records are written together at those barriers: a cycle of ``read`` tools is one write (its
commit), one with an ``idempotent`` call two. Every record carries the events the run emitted
since the previous record, so the durable event stream *is* the log and cannot diverge from
the checkpoint; ``checkpoint_created`` is inside the commit record it announces.
``Runner.resume_run`` folds the log and continues.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcycle.events import TERMINAL_EVENT_TYPES, RunEvent, parse_event

if TYPE_CHECKING:  # a run without a store never imports the stores
    from agentcycle.stores.checkpoints import CheckpointStore
    from agentcycle.stores.run_records import RunRecord

__all__ = [
    "DEFAULT_LEASE_TTL",
    "Durability",
    "ExecutionYielded",
    "UnverifiedPolicy",
    "durable_events",
    "run_status",
    "run_summary",
]

DEFAULT_LEASE_TTL = 15.0
"""Seconds a durable run's lease lasts without a heartbeat (renewed every third of it)."""


class UnverifiedPolicy(enum.StrEnum):
    """What a resumed run does with a tool call that may have acted and cannot be verified."""

    PAUSE = "pause"
    """Stop the run, resumable (``waiting`` in the log, the run's result ``failed`` with
    ``effect_needs_reconciliation``); the host says what happened through
    ``Runner.resume_run(..., resolutions={tool_call_id: ToolResult | "retry"})``."""
    TELL_MODEL = "tell_model"
    """Give the model a structured notice as the call's result and go on."""


@dataclass(frozen=True, slots=True)
class Durability:
    """How a durable run behaves. ``lease_ttl``: seconds the run's lease lasts without a
    heartbeat (a run whose process died can be resumed elsewhere after that). ``on_unverified``:
    the run's policy for unverifiable effects (a tool may override it with an
    ``on_unverified`` attribute)."""

    lease_ttl: float = DEFAULT_LEASE_TTL
    on_unverified: UnverifiedPolicy | str = UnverifiedPolicy.PAUSE
    max_takeovers: int = 3
    """Takeovers from a dead owner in a row without a committed cycle after which a resume
    ends the run as failed (``CrashLoop``) instead of running the cycle that keeps killing
    its process once more."""
    yield_after: Callable[[int], bool] | None = None
    """Asked before each new cycle with the number of cycles this execution has run; ``True``
    ends the execution at that cycle boundary: the lease is released, nothing more is written,
    and the run's task raises ``ExecutionYielded`` (the run goes on wherever it is resumed
    next). A Celery segment uses it to end at its length limit or on warm shutdown."""


class ExecutionYielded(BaseException):
    """This execution of a durable run gave the run up at a cycle boundary
    (``Durability.yield_after``): the run is intact in its store, unleased, and continues
    with ``Runner.resume_run``. A ``BaseException``: it passes through the run's error
    handling (the run did not fail) to the caller of ``RunHandle.result``."""

    def __init__(self, run_id: str, cycles: int) -> None:
        super().__init__(f"run {run_id} yielded after {cycles} cycles")
        self.run_id = run_id
        self.cycles = cycles


def durable_events(store: CheckpointStore, run_id: str, since_seq: int = 0) -> Iterator[RunEvent]:
    """The run's durable event stream from its log: every event with ``seq > since_seq`` (the
    run's own seq; forwarded child events come where they occurred), in order."""
    emitting = since_seq == 0
    from agentcycle.runtime._durable_fold import logged_events

    for record in store.read(run_id):
        for data in logged_events(record.payload):
            if not emitting and data["run_id"] == run_id and data["seq"] > since_seq:
                emitting = True
            if emitting:
                yield parse_event(data)


def run_status(store: CheckpointStore, run_id: str) -> dict[str, Any] | None:
    """A durable run's status as JSON-ready data (``None`` for an unknown run): the log's
    status and length, the lease, a pending cancel, the last committed cycle, the last event
    seq, the run's status once it stopped, its output then (``final_output``: the answer, or
    the question of a run waiting for the user; ``partial_output`` of a failed or cancelled
    run), its error (for a run waiting for a reconciliation, with the
    ``EffectNeedsReconciliation`` details), and the recovery counters."""
    head = store.head(run_id)
    if head is None:
        return None
    from agentcycle.runtime._durable_fold import fold

    folded = fold(store.read(run_id))
    state = folded.state
    lease = head.lease
    end = folded.end_payload or {}
    return {
        "run_id": run_id,
        "log_status": head.status.value,
        "last_seq": head.last_seq,
        "epoch": head.epoch,
        "lease": None
        if lease is None
        else {"owner": lease.owner, "epoch": lease.epoch, "live": head.lease_live},
        "cancel_requested": head.cancel_reason,
        "agent": state.spec.agent_name,
        "cycles_committed": state.cycles[folded.committed - 1].index if folded.committed else 0,
        "cycle_in_progress": folded.partial.index if folded.partial is not None else None,
        "event_seq": folded.event_seq,
        "run_status": None if state.status is None else str(state.status),
        "completion_reason": None
        if state.completion_reason is None
        else str(state.completion_reason),
        "waiting_for": end.get("reason") if folded.ended == "waiting" else None,
        **_outputs(end),
        "error": end.get("error"),
        "counters": folded.counters,
    }


def run_summary(store: CheckpointStore, run_id: str) -> dict[str, Any] | None:
    """A durable run at a glance, as JSON-ready data (``None`` for an unknown run), for a
    listing of many runs: read from the run's head, its header (seq 1) and its last record,
    whatever the log's length (``run_status`` folds the whole log).

    ``state`` says it in words: ``running (leased)`` (a live process holds it), ``running
    (lease expired)`` (its process died: a resume or a sweeper takes it over), ``running (not
    leased)`` (queued for a worker, or given up between segments), ``waiting for user``,
    ``waiting for approval``, ``waiting for reconciliation``, or how it ended: ``completed``,
    ``failed``, ``cancelled``, ``max_cycles``; with ``, cancel requested`` while a cancel is
    pending (before the run ended). Beside it: ``log_status``, ``run_status``,
    ``waiting_for``, ``lease`` and ``cancel_requested`` as ``run_status`` gives them,
    ``created_ms`` (the store's clock when the run was created, ms since the Unix epoch),
    ``cycles_committed``, the ``agent`` it started with and its ``input`` (``None`` when it
    was given as messages)."""
    from agentcycle.errors import RunNotFound
    from agentcycle.stores.checkpoints import LogStatus
    from agentcycle.stores.run_records import RecordKind

    head = store.head(run_id)
    if head is None:
        return None
    try:
        header = store.read(run_id, limit=1)[0]
        # The record head.last_seq names: the log only grows, so it is there.
        last = store.read(run_id, after_seq=head.last_seq - 1, limit=1)[0]
        cycles = _cycles_committed(store, run_id, last)
    except RunNotFound:  # deleted since the head was read
        return None
    spec = header.payload.get("state", {}).get("spec", {})
    ended = last.kind in (RecordKind.WAITING, RecordKind.TERMINAL)
    final = last.payload.get("final", {}) if ended else {}
    waiting_for = last.payload.get("reason") if head.status is LogStatus.WAITING else None
    if head.status is LogStatus.TERMINAL:
        state = str(final.get("status"))
    elif head.status is LogStatus.WAITING:
        state = f"waiting for {waiting_for}"
    elif head.lease is None:
        state = "running (not leased)"
    else:
        state = "running (leased)" if head.lease_live else "running (lease expired)"
    lease = head.lease
    # An ended run keeps the request it ended by (``cancel_requested``): none is pending.
    pending = None if head.status is LogStatus.TERMINAL else head.cancel_reason
    return {
        "run_id": run_id,
        "state": state if pending is None else f"{state}, cancel requested",
        "log_status": head.status.value,
        "run_status": final.get("status"),
        "waiting_for": waiting_for,
        "lease": None
        if lease is None
        else {"owner": lease.owner, "epoch": lease.epoch, "live": head.lease_live},
        "cancel_requested": head.cancel_reason,
        "created_ms": header.ts,
        "cycles_committed": cycles,
        "agent": spec.get("agent_name"),
        "input": spec.get("input"),
    }


_LOOK_BACK = 8
"""Records read at a time when the last one does not say which cycle the run is in."""


def _cycles_committed(store: CheckpointStore, run_id: str, last: RunRecord) -> int:
    """The index of the run's last committed cycle, from its last record: a commit or an end
    record names it, a step record names the cycle in progress (the one after it), and the
    header holds the cycles the run started with. A record that names no cycle (``lease_taken``)
    sends the look further back, a few records at a time."""
    from agentcycle.stores.run_records import RecordKind

    record = last
    earlier: list[RunRecord] = []
    while True:
        cycle = record.payload.get("cycle")
        if record.kind is RecordKind.RUN_CREATED:
            cycles = record.payload.get("state", {}).get("cycles") or [{"index": 0}]
            return int(cycles[-1]["index"])
        if isinstance(cycle, int):
            committed = record.kind in (
                RecordKind.CYCLE_COMMITTED,
                RecordKind.WAITING,
                RecordKind.TERMINAL,
            )
            return cycle if committed else cycle - 1
        if not earlier:
            after = max(0, record.seq - 1 - _LOOK_BACK)
            earlier = store.read(run_id, after_seq=after, limit=record.seq - 1 - after)
        record = earlier.pop()


def _outputs(end: dict[str, Any]) -> dict[str, Any]:
    """``final_output`` and ``partial_output`` of the terminal event the end record carries
    (``None`` before the run stopped)."""
    ending: dict[str, Any] = {}
    for event in reversed(end.get("events", [])):
        if event.get("type") in TERMINAL_EVENT_TYPES:
            ending = event
            break
    return {
        "final_output": ending.get("final_output"),
        "partial_output": ending.get("partial_output"),
    }
