"""A running turn as the server holds it: its run's handle, its projector, the approvals it
has open and the follow-ups queued behind it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentcycle.app_server._approvals import OpenApproval, SessionApprovals
    from agentcycle.app_server._connection import Connection
    from agentcycle.app_server._projection import ApprovalNote, TurnProjector
    from agentcycle.events import RunEvent
    from agentcycle.handle import RunHandle


@dataclass(eq=False, slots=True)
class LiveTurn:
    """A running turn."""

    thread_id: str
    turn_id: str
    owner: Connection
    handle: RunHandle
    projector: TurnProjector
    approvals: SessionApprovals
    open_approvals: dict[str, OpenApproval] = field(default_factory=dict)
    """By protocol request id, from ``approval/requested`` until ``approval/resolved``."""
    answered: set[str] = field(default_factory=set)
    """Open requests the server already answered into the run (a second answer is refused)."""
    notes: dict[str, ApprovalNote] = field(default_factory=dict)
    """The reason and metadata of each answer, for the ``approval/resolved`` that follows."""
    follow_ups: list[list[dict[str, Any]]] = field(default_factory=list)
    backlog: list[RunEvent] = field(default_factory=list)
    """A resumed turn's events logged before the resume: projected first, so the items a
    killed server never stored are stored and sent once (``TurnRuns._catch_up``)."""
    task: asyncio.Task[None] | None = None
    cancelling: asyncio.Task[None] | None = None


def input_text(items: list[dict[str, Any]]) -> str:
    """The run input of a turn: the ``text`` of its text items joined by newlines."""
    return "\n".join(
        item["text"]
        for item in items
        if item.get("type") == "text" and isinstance(item.get("text"), str)
    )
