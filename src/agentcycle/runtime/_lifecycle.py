"""The edges of a run around its cycles: the start events, the turn stored in the run's session,
and the one terminal event, written together with the state it seals (status, tool state, the
last event's sequence number) before the event bus closes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from agentcycle.errors import AgentcycleError, BudgetExhaustedError, SessionStorageError
from agentcycle.events import (
    AgentStarted,
    BudgetExhausted,
    CheckpointResumed,
    Diagnostic,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    RunStatus,
    SessionPersisted,
)
from agentcycle.runtime._session_turns import APPENDING_STATUSES, append_turn, turn_id
from agentcycle.runtime.environment import StartupEvent, StartupReport
from agentcycle.tools.base import RunScope

if TYPE_CHECKING:
    from agentcycle.runtime.event_bus import EventBus
    from agentcycle.runtime.outcome import LoopOutcome
    from agentcycle.sessions.base import Session
    from agentcycle.state import RunState, RunToolState


def emit_start(
    bus: EventBus,
    state: RunState,
    resume_input: Any,
    diagnostics: tuple[StartupReport, ...],
) -> None:
    """``run_started`` (with ``checkpoint_resumed`` for a resumed run, whose input is
    ``resume_input``), ``agent_started``, then what compiling the run found: a ``diagnostic``
    for each problem, and typed events such as ``mcp_server_started``."""
    spec = state.spec
    if state.resume_count:
        bus.emit(RunStarted, input=resume_input)
        bus.emit(
            CheckpointResumed,
            checkpoint_key=f"{spec.run_id}:{state.last_cycle_index}",
            resume_attempt=state.resume_count,
        )
    else:
        bus.emit(RunStarted, input=spec.input)
    bus.emit(AgentStarted)
    for report in diagnostics:
        if isinstance(report, StartupEvent):
            bus.emit(report.event_type, **report.payload)
        else:
            bus.emit(Diagnostic, level=report.level, code=report.code, details=report.details)


async def append_session_turn(
    session: Session | None, bus: EventBus, state: RunState, outcome: LoopOutcome
) -> None:
    """Store the run's turn in its session (see ``_session_turns.py``); a storage failure
    fails the run. Shielded, so a cancel arriving meanwhile cannot stop the append between
    the write and the cursor update (a resume would store the turn twice)."""
    if session is None or outcome.status not in APPENDING_STATUSES:
        return
    if not await asyncio.shield(_append_with_retries(session, state)):
        bus.emit(
            Diagnostic,
            level="info",
            code="session_turn_already_stored",
            details={"turn_id": turn_id(state)},
        )
    bus.emit(SessionPersisted)


SESSION_WRITE_DELAYS = (0.05, 0.25, 1.0)
"""Waits before each retry of a turn the session store failed to take (a locked database, a
dropped connection): about 1.3 s in all before the run fails."""


async def _append_with_retries(session: Session, state: RunState) -> bool:
    """``append_turn``, retried on storage failures. When the last attempt fails too, the run
    fails with ``session_storage_error``; its state still holds the turn, which
    ``RunResult.save_session_turn`` stores later (the turn id makes that idempotent)."""
    retries = iter(SESSION_WRITE_DELAYS)
    while True:
        try:
            return await append_turn(session, state)
        except SessionStorageError as exc:
            delay = next(retries, None)
            if delay is None:
                raise SessionStorageError(
                    f"{exc.message} (after {len(SESSION_WRITE_DELAYS)} retries). The turn is "
                    "kept in the run's state: store it later with "
                    "RunResult.save_session_turn(session).",
                    details=exc.details,
                ) from exc
            await asyncio.sleep(delay)


async def close_scope(scope: RunScope) -> None:
    """End what the run's tools left running (background processes)."""
    # Shielded: a second cancel must not leave background processes of this run alive.
    await asyncio.shield(scope.aclose())


def emit_terminal(
    bus: EventBus, state: RunState, tool_state: RunToolState, outcome: LoopOutcome
) -> None:
    """Seal the state with ``outcome`` and emit ``run_completed`` or ``run_failed`` (after
    ``budget_exhausted`` when the budget ended the run)."""
    state.status = outcome.status
    state.completion_reason = outcome.completion_reason
    state.tool_state = tool_state
    if outcome.status in (RunStatus.COMPLETED, RunStatus.WAIT_USER):
        bus.emit(
            RunCompleted,
            status=outcome.status,
            final_output=_jsonable(outcome.final_output),
            completion_reason=outcome.completion_reason,
            completion_tool_name=outcome.completion_tool_name,
        )
    else:
        error = outcome.error or AgentcycleError("run failed")
        if isinstance(error, BudgetExhaustedError):
            bus.emit(BudgetExhausted, usage=error.used, limit=error.limit)
        bus.emit(
            RunFailed,
            status=outcome.status,
            error=error.message,
            error_code=error.code,
            completion_reason=outcome.completion_reason,
            partial_output=outcome.partial_output,
        )
    _close(bus, state)


def emit_cancelled(
    bus: EventBus,
    state: RunState,
    tool_state: RunToolState,
    reason: str | None,
    partial_output: str | None,
) -> None:
    """Emit ``run_cancelled`` for a run whose state already says so."""
    bus.emit(RunCancelled, reason=reason, partial_output=partial_output)
    state.tool_state = tool_state
    _close(bus, state)


def _close(bus: EventBus, state: RunState) -> None:
    state.event_seq = bus.seq
    bus.close()


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return value
