"""Request serialization per scope and ingress backpressure (APP_SERVER.md §11.3, §11.4).

Requests of one scope run in arrival order: shared ones together, an exclusive one alone, and a
waiting exclusive request blocks the shared ones behind it. Scopes run concurrently. Each scope
accepts at most ``per_scope`` unanswered requests and the server ``10 * per_scope`` in all; a
request beyond that is refused at once (``-32001``), never queued without bound.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

Job = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class _Scope:
    accepted: int = 0
    shared_running: int = 0
    exclusive_running: bool = False
    waiting: deque[tuple[bool, asyncio.Future[None]]] = field(default_factory=deque)


class Scheduler:
    """Runs request jobs per scope (see the module docstring)."""

    def __init__(self, per_scope: int) -> None:
        self._per_scope = per_scope
        self._total_limit = per_scope * 10
        self._total = 0
        self._scopes: dict[Hashable, _Scope] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, scope: Hashable, exclusive: bool, job: Job) -> bool:
        """Queue ``job`` in ``scope``; ``False`` (nothing queued) when the scope or the
        server is full."""
        state = self._scopes.get(scope)
        if state is None:
            state = self._scopes[scope] = _Scope()
        if state.accepted >= self._per_scope or self._total >= self._total_limit:
            return False
        state.accepted += 1
        self._total += 1
        task = asyncio.get_running_loop().create_task(self._run(scope, state, exclusive, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def drain(self) -> None:
        """Wait for every accepted job to finish."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _run(self, scope: Hashable, state: _Scope, exclusive: bool, job: Job) -> None:
        try:
            if state.waiting or not self._may_start(state, exclusive):
                future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                state.waiting.append((exclusive, future))
                await future
            else:
                self._start(state, exclusive)
            try:
                await job()
            finally:
                if exclusive:
                    state.exclusive_running = False
                else:
                    state.shared_running -= 1
                self._wake(state)
        finally:
            state.accepted -= 1
            self._total -= 1
            if state.accepted == 0:
                self._scopes.pop(scope, None)

    @staticmethod
    def _may_start(state: _Scope, exclusive: bool) -> bool:
        if exclusive:
            return not state.exclusive_running and state.shared_running == 0
        return not state.exclusive_running

    @staticmethod
    def _start(state: _Scope, exclusive: bool) -> None:
        if exclusive:
            state.exclusive_running = True
        else:
            state.shared_running += 1

    def _wake(self, state: _Scope) -> None:
        while state.waiting:
            exclusive, future = state.waiting[0]
            if not self._may_start(state, exclusive):
                return
            state.waiting.popleft()
            self._start(state, exclusive)
            future.set_result(None)
