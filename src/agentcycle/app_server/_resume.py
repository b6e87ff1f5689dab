"""What ``turn/resume`` reports about a turn's durable run: its ``CheckpointSummary`` and,
for a run that ended, the terminal fields its log holds (``terminal replay``)."""

from __future__ import annotations

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
    "error",
)
"""The terminal fields of ``turn/completed`` a ``turn/resume`` result carries too."""


def checkpoint_summary(status: dict[str, Any]) -> dict[str, Any]:
    """The ``CheckpointSummary`` of a durable run (``status``: ``run_status`` of it). Its
    ``key`` is the run id; ``resumeAttempt`` counts the executions after the first (each
    takes the run's lease at a new epoch); ``cycleIndex`` is the last committed cycle."""
    log_status = status["log_status"]
    run_status = status["run_status"]
    if run_status == "cancelled":
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
        if (stored["status"], stored["result"]) != (turn_status, fields):
            store.finish_turn(turn_id, turn_status, fields, now())
    result = {"threadId": thread_id, "turnId": turn_id, "runId": run_id, "status": turn_status}
    result.update({key: fields[key] for key in RESPONSE_FIELDS if key in fields})
    if status is not None:
        result["checkpoint"] = checkpoint_summary(status)
    return result
