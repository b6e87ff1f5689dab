"""The ``Session`` protocol: a conversation's history kept across runs.

A session is an ordered list of messages. A run with ``RunConfig(session=...)`` loads the whole
list before its new input and, when it ends, appends its *turn* — the user input and everything
the run added (assistant messages, tool calls, tool results) — in one ``add_items`` call keyed by
a turn id, so a retried run never appends twice and concurrent runs never interleave.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from agentcycle.messages import Message


@runtime_checkable
class Session(Protocol):
    """Conversation history across runs. Every implementation passes
    ``agentcycle.testing.session_conformance.SessionConformance``."""

    @property
    def session_id(self) -> str:
        """The conversation's id; runs on this session carry it in their events."""
        ...

    async def get_items(self, limit: int | None = None) -> list[Message]:
        """The stored messages, oldest first; with ``limit``, only the latest ``limit`` of them
        (still oldest first). Raises ``SessionCorrupt`` naming the position of an item that is
        not a valid message."""
        ...

    async def add_items(self, items: Sequence[Message], *, turn_id: str | None = None) -> bool:
        """Append ``items`` atomically and contiguously: no other call's items land between
        them. With a ``turn_id`` the session already holds, nothing is appended. Returns
        whether the items were appended. An empty ``items`` still records the turn id."""
        ...

    async def pop_item(self) -> Message | None:
        """Remove and return the latest message (``None`` when the session is empty). The turn
        id it belonged to stays recorded."""
        ...

    async def clear(self) -> None:
        """Forget every message and every recorded turn id of this session."""
        ...
