"""Fold a durable run's log into what a resume needs: the run state as of the last committed
cycle (or the last wait), the last event ``seq``, and the cycle in progress when the writer
stopped (its model answer and tool calls, if they became durable).

The payload shapes read here are written by ``_durable_log.py``; both sides name their fields
through the constants below so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentcycle.events import CompletionReason, RunStatus, with_identity
from agentcycle.state import CycleRecord, PendingToolCall, RunState, RunToolState
from agentcycle.stores.run_records import RecordKind, RunRecord

EVENTS = "events"
"""Every record after the header carries the run's events emitted since the previous one."""
ORIGIN = "origin"
"""A record's events of the run's own origin are stored without the identity that origin
holds (``RunEvent.to_wire_payload``), which the record carries once under this key
(``wire_identity``); events of other origins (a forwarded child's) are stored whole."""


def logged_events(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The events a record's ``payload`` carries, as whole wire objects (``parse_event``
    reads them)."""
    events: list[dict[str, Any]] = payload.get(EVENTS, [])
    identity = payload.get(ORIGIN)
    if identity is None or not events:
        return events
    return [with_identity(data, identity) for data in events]


COUNTERS = (
    "effects_replayed",
    "effects_retried_idempotent",
    "effects_verified",
    "effects_unverified",
    "model_calls_duplicated",
)
"""The recovery counters each commit and end record carries (cumulative over the run)."""


@dataclass(slots=True)
class PartialCycle:
    """The cycle the writer was in when it stopped: what of it is durable."""

    index: int
    model_attempts: int = 0
    """``model_intent`` records written for it (a resume that calls again counts a duplicate
    when there is no result)."""
    model_result: dict[str, Any] | None = None
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    unverified: set[str] = field(default_factory=set)


@dataclass(slots=True)
class FoldedRun:
    """A run's log, folded."""

    state: RunState
    last_seq: int
    event_seq: int
    """The ``seq`` of the run's last durable event: a resumed run's events continue after it."""
    ended: str | None
    """``None`` while the run is live or crashed; the kind of its last record (``waiting``,
    ``terminal``) once it stopped."""
    end_payload: dict[str, Any] | None
    partial: PartialCycle | None
    counters: dict[str, int]
    committed: int
    """How many of ``state.cycles`` are committed (the partial cycle's compaction records,
    folded in so the history is what the model saw, come after them)."""
    waits: dict[int, int] = field(default_factory=dict)
    """``waiting`` records per cycle index (a wait's key carries an attempt number)."""
    takeovers: int = 0
    """``lease_taken`` records since the last commit or wait: how many times in a row a
    process took the run over from an owner that died without making progress."""


def fold(records: Iterable[RunRecord]) -> FoldedRun:
    """Fold ``records`` (the whole log, in order, from seq 1)."""
    it = iter(records)
    header = next(it)
    state = RunState.model_validate(header.payload["state"])
    run_id = state.spec.run_id
    folded = FoldedRun(
        state=state,
        last_seq=header.seq,
        event_seq=state.event_seq,
        ended=None,
        end_payload=None,
        partial=None,
        counters=dict.fromkeys(COUNTERS, 0),
        committed=len(state.cycles),
    )
    for record in it:
        payload = record.payload
        folded.last_seq = record.seq
        for event in payload.get(EVENTS, ()):
            if event.get("run_id", run_id) == run_id:  # no run_id: the run's own (ORIGIN)
                folded.event_seq = event["seq"]
        _apply(folded, record.kind, payload)
    partial = folded.partial
    if partial is not None and partial.model_result is not None:
        # The history the model answered: compaction done in the cycle before its call.
        state.cycles.extend(_cycles(partial.model_result))
    return folded


def _apply(folded: FoldedRun, kind: RecordKind, payload: dict[str, Any]) -> None:
    state = folded.state
    if kind is RecordKind.LEASE_TAKEN:
        folded.takeovers += 1
        return
    if kind in (RecordKind.CYCLE_COMMITTED, RecordKind.WAITING, RecordKind.TERMINAL):
        folded.takeovers = 0
        state.cycles.extend(_cycles(payload))
        folded.committed = len(state.cycles)
        folded.counters.update(payload.get("counters", {}))
        if "tool_state" in payload:
            state.tool_state = RunToolState.model_validate(payload["tool_state"])
        if kind is RecordKind.CYCLE_COMMITTED:
            # A wait leaves the cycle in progress as it was (a reconciliation resumes it).
            folded.partial = None
            state.pending_tool_calls = []  # a resumed run ran them before this commit
            folded.ended = state.status = state.completion_reason = None
            return
        final = payload["final"]
        state.status = RunStatus(final["status"])
        state.completion_reason = CompletionReason(final["completion_reason"])
        state.pending_tool_calls = [
            PendingToolCall.model_validate(p) for p in final["pending_tool_calls"]
        ]
        state.session_cursor = final["session_cursor"]
        folded.ended = kind.value
        folded.end_payload = payload
        if kind is RecordKind.WAITING:
            cycle = payload["cycle"]
            folded.waits[cycle] = folded.waits.get(cycle, 0) + 1
        return
    cycle = payload.get("cycle")
    if not isinstance(cycle, int):
        return
    if folded.ended is not None:  # a record after a wait: the run was resumed
        folded.ended = None
        state.status = None
        state.completion_reason = None
    partial = folded.partial
    if partial is None or partial.index != cycle:
        partial = folded.partial = PartialCycle(cycle)
    if kind is RecordKind.MODEL_INTENT:
        partial.model_attempts += 1
    elif kind is RecordKind.MODEL_RESULT:
        partial.model_result = payload
    elif kind is RecordKind.EFFECT_INTENT:
        partial.intents[payload["tool_call_id"]] = payload
    elif kind is RecordKind.EFFECT_RESULT:
        partial.results[payload["tool_call_id"]] = payload
    elif kind is RecordKind.EFFECT_UNVERIFIED:
        partial.unverified.add(payload["tool_call_id"])


def _cycles(payload: dict[str, Any]) -> list[CycleRecord]:
    return [CycleRecord.model_validate(c) for c in payload.get("cycles", ())]
