"""What ``turn/resume`` reports about a turn's durable run: its ``CheckpointSummary``, for a
run that ended the terminal fields its log holds (``terminal replay``), and for a run that
stopped at a tool call it cannot verify the ``InterruptionSummary`` of that call.

Run logs are bounded: once a run is ``terminal`` and its turn's end is committed to the store
with the run's last ``CheckpointSummary`` (``retire``), the log is deleted (``delete_log``), and
a later terminal replay answers exactly as before from the store alone (``replay_pruned``).
Runs that stopped resumable (waiting for the user, an approval or a reconciliation) keep
their logs."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from agentcycle.app_server._projection import TurnEnd, TurnProjector
from agentcycle.app_server._runtime import TurnLauncher
from agentcycle.app_server._store import Store, now
from agentcycle.events import RunEvent

_CHECKPOINT_STATUSES = frozenset(
    {"pending", "running", "wait_user", "completed", "failed", "max_cycles"}
)

RESPONSE_FIELDS = (
    "finalOutput",
    "completionReason",
    "completionToolName",
    "partialOutput",
    "interruption",
    "error",
)
"""The terminal fields of ``turn/completed`` a ``turn/resume`` result carries too."""


def checkpoint_summary(status: dict[str, Any]) -> dict[str, Any]:
    """The ``CheckpointSummary`` of a durable run (``status``: ``run_status`` of it). Its
    ``key`` is the run id; ``resumeAttempt`` counts the executions after the first (each
    takes the run's lease at a new epoch); ``cycleIndex`` is the last committed cycle."""
    log_status = status["log_status"]
    run_status = status["run_status"]
    if log_status == "waiting" and status["waiting_for"] == "reconciliation":
        run_status = "reconciliation_required"
    elif run_status == "cancelled":
        run_status = "failed"  # the summary has no cancelled status: a cancelled run failed
    elif run_status not in _CHECKPOINT_STATUSES:
        run_status = (
            "running" if status["cycles_committed"] or log_status == "running" else "pending"
        )
    return {
        "key": status["run_id"],
        "resumeAttempt": max(status["epoch"] - 1, 0),
        "cycleIndex": status["cycles_committed"],
        "status": run_status,
        "terminalAcknowledged": log_status == "terminal",
    }


_IDEMPOTENCY_SUPPORT = {"idempotent": "supported", "non_idempotent": "unsupported"}
"""``idempotencySupport`` by the tool's declared effect class (none declared: ``unknown``)."""


def interruption_summary(status: dict[str, Any]) -> dict[str, Any]:
    """The ``InterruptionSummary`` of a run waiting for a reconciliation (``status``:
    ``run_status`` of it): the tool call that may have acted before its process died and
    that the run cannot verify, so running it again risks doing it twice."""
    error = status["error"] or {}
    details = error.get("details") or {}
    tool = details.get("tool_name") or "a tool"
    cycle = details.get("cycle_index", status["cycle_in_progress"] or status["cycles_committed"])
    return {
        "reason": f"{tool} may have run before the run was interrupted; its outcome is unknown",
        "operationId": details.get("tool_call_id") or "",
        "operationKind": "tool",
        "cycleIndex": cycle,
        "risk": "duplicate_side_effect",
        "idempotencySupport": _IDEMPOTENCY_SUPPORT.get(
            details.get("effect_class") or "", "unknown"
        ),
    }


def reconciliation_fields(status: dict[str, Any]) -> dict[str, Any]:
    """The ``turn/completed`` fields of a turn whose run waits for a reconciliation (§7): its
    ``checkpoint`` and ``interruption``."""
    return {"checkpoint": checkpoint_summary(status), "interruption": interruption_summary(status)}


def terminal_end(thread_id: str, turn_id: str, events: Iterable[RunEvent]) -> TurnEnd | None:
    """How a turn whose run ended ended, projected from the run's whole event log exactly as
    a live turn's pump projects it (``None``: the log has no terminal event)."""
    projector = TurnProjector(thread_id, turn_id, lambda _request_id: None)
    end = None
    for event in events:
        _emissions, finished = projector.project(event)
        if finished is not None:
            end = finished
    return end


def replay(
    store: Store,
    launcher: TurnLauncher,
    thread_id: str,
    stored: dict[str, Any],
    status: dict[str, Any] | None,
) -> dict[str, Any]:
    """The terminal-replay result of ``turn/resume`` for ``stored`` (an ``AppTurn``): the end
    its run's log holds. A turn the restart marked failed while its run had in fact ended
    takes that end, so ``thread/read`` agrees with the answer."""
    turn_id, run_id = stored["turnId"], stored["runId"]
    end = terminal_end(thread_id, turn_id, launcher.run_events(run_id))
    if end is None:
        turn_status, fields = stored["status"], dict(stored["result"])
    else:
        turn_status = end.status
        fields = {key: value for key, value in end.fields.items() if key != "runId"}
        if end.reconciliation and status is not None:
            fields.update(reconciliation_fields(status))
        if (stored["status"], stored["result"]) != (turn_status, fields):
            store.finish_turn(turn_id, turn_status, fields, now())
    result = {"threadId": thread_id, "turnId": turn_id, "runId": run_id, "status": turn_status}
    result.update({key: fields[key] for key in RESPONSE_FIELDS if key in fields})
    if status is not None:
        result["checkpoint"] = checkpoint_summary(status)
        if retire(store, turn_id, status):
            delete_log(launcher, run_id)
    return result


def replay_pruned(
    thread_id: str, stored: dict[str, Any], checkpoint: dict[str, Any]
) -> dict[str, Any]:
    """The terminal-replay result of ``stored`` (an ``AppTurn``) whose run's log was pruned:
    its stored end and the ``checkpoint`` kept when the log went."""
    fields = stored["result"]
    result = {
        "threadId": thread_id,
        "turnId": stored["turnId"],
        "runId": stored["runId"],
        "status": stored["status"],
    }
    result.update({key: fields[key] for key in RESPONSE_FIELDS if key in fields})
    result["checkpoint"] = checkpoint
    return result


def retire(store: Store, turn_id: str, status: dict[str, Any]) -> bool:
    """Make a terminal run's log disposable (``status``: ``run_status`` of the turn's run;
    other runs are left alone): the turn keeps the run's ``CheckpointSummary``, committed with
    the turn's end, so a kill before the log goes loses nothing (the log is merely left over).
    True: ``delete_log`` may follow."""
    if status["log_status"] != "terminal":
        return False
    store.keep_checkpoint(turn_id, checkpoint_summary(status))
    store.commit()
    return True


def delete_log(launcher: TurnLauncher, run_id: str) -> None:
    """Delete a retired run's log."""
    try:
        launcher.prune(run_id)
    except Exception as exc:  # a log left over costs space, not correctness
        print(f"agentcycle app-server: pruning run {run_id} failed: {exc!r}", file=sys.stderr)
