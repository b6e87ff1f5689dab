"""How a run meets its session: the history it starts from and the turn it appends.

A run remembers in ``RunState.session_cursor`` how much of the conversation it added
(``RunState.appended_messages()``: uncompacted) the session already holds. When the run ends
completed, waiting for the user or out of cycles, everything after the cursor is appended as one
turn and the cursor moves to the end. A failed or cancelled run appends nothing: it did not
conclude, and the host may retry it under the same run id (only the attempt that concludes
records the turn) or resume it (the continuation then carries the whole delta).
"""

from __future__ import annotations

from agentcycle.errors import ConfigurationError
from agentcycle.events import RunStatus
from agentcycle.sessions.base import Session
from agentcycle.state import RunState

APPENDING_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.WAIT_USER, RunStatus.MAX_CYCLES})
"""Endings after which the conversation goes on, so the turn is stored."""


def turn_id(state: RunState) -> str:
    """The id of the turn a run appends: its run id, plus the resume count for a resumed run,
    so every segment of one run appends once however often it is retried."""
    run_id = state.spec.run_id
    return run_id if state.resume_count == 0 else f"{run_id}:resume-{state.resume_count}"


async def append_turn(session: Session, state: RunState) -> bool:
    """Append the part of the run's conversation the session does not hold yet; ``False`` when
    the session already had this turn (a retried run)."""
    cursor = state.session_cursor
    if cursor is None:
        raise ConfigurationError(f"run {state.spec.run_id} was not started with a session")
    # The conversation as the run added it, not the compacted history the model last saw:
    # the session keeps every message, and its own reader decides what to load.
    stream = state.appended_messages()
    appended = await session.add_items(stream[cursor:], turn_id=turn_id(state))
    state.session_cursor = len(stream)
    return appended


def check_resume_session(state: RunState, session: Session | None) -> None:
    """A run stays with the session it started with: resuming it elsewhere would store a
    continuation whose beginning is missing."""
    started_with = state.spec.session_id
    given = session.session_id if session is not None else None
    if started_with != given:
        raise ConfigurationError(
            f"run {state.spec.run_id} was started with session {started_with!r}; resume it "
            f"with RunConfig(session=...) on that same session (got {given!r})"
        )
