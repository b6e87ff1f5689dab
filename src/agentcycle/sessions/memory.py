"""``MemorySession``: a session held in the process, for tests and short-lived hosts."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from agentcycle.messages import Message
from agentcycle.sessions._codec import check_limit, checked_items


class MemorySession:
    """A session in a Python list. Safe to share between threads and event loops; gone when
    the process ends."""

    def __init__(self, session_id: str = "default") -> None:
        self._session_id = session_id
        self._items: list[Message] = []
        self._turns: set[str] = set()
        self._lock = threading.Lock()

    @property
    def session_id(self) -> str:
        """The conversation's id."""
        return self._session_id

    async def get_items(self, limit: int | None = None) -> list[Message]:
        """The stored messages, oldest first (the latest ``limit`` when given)."""
        check_limit(self._session_id, limit)
        with self._lock:
            if limit is None:
                return list(self._items)
            return self._items[max(0, len(self._items) - limit) :] if limit else []

    async def add_items(self, items: Sequence[Message], *, turn_id: str | None = None) -> bool:
        """Append ``items`` contiguously unless ``turn_id`` was recorded before."""
        checked = checked_items(self._session_id, items)
        with self._lock:
            if turn_id is not None:
                if turn_id in self._turns:
                    return False
                self._turns.add(turn_id)
            self._items.extend(checked)
            return True

    async def pop_item(self) -> Message | None:
        """Remove and return the latest message."""
        with self._lock:
            return self._items.pop() if self._items else None

    async def clear(self) -> None:
        """Forget all messages and turn ids."""
        with self._lock:
            self._items.clear()
            self._turns.clear()
