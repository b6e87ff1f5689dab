"""``LoopThread``: a private event loop on a worker thread, for the synchronous front doors.

``SyncRunHandle`` and ``SyncChatSession`` keep their async object on such a loop and hand it
every call: ``submit`` awaits work there and blocks the calling thread for the answer, ``call``
runs a plain function there (the object's state belongs to that thread), ``stop`` ends the
loop and the thread. A caller that stops waiting (a timeout, Ctrl+C) stops only its own wait.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import CancelledError, Future
from typing import Any, TypeVar

_T = TypeVar("_T")


class LoopThread:
    """An event loop running on a daemon thread until ``stop()``.

    ``owner`` names the object in the ``closed_error`` raised by a call after (or cut short by)
    ``stop()``. ``shield_work``: a caller that stops waiting leaves the work itself running (a
    run being started, a cancel under way); otherwise the work is cancelled with the wait, which
    frees what it waited on (an event subscription read next)."""

    def __init__(
        self,
        *,
        name: str,
        owner: str,
        closed_error: Callable[[str], BaseException],
        shield_work: bool,
    ) -> None:
        self._owner = owner
        self._closed_error = closed_error
        self._shield = shield_work
        self._loop = asyncio.new_event_loop()
        self._lock = threading.Lock()
        self._stopped = False
        # Calls waiting on the loop: cancelled when it stops, so no caller waits for ever on
        # work the stopped loop will never finish.
        self._waiting: set[Future[Any]] = set()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    @property
    def stopped(self) -> bool:
        """True once ``stop()`` began: no call is taken any more."""
        return self._stopped

    def submit(self, work: Callable[[], Awaitable[_T]], timeout: float | None = None) -> _T:
        """Await ``work()`` on the loop and return its answer (or raise its error);
        ``TimeoutError`` when ``timeout`` seconds pass first."""
        wrapped = _shielded(work) if self._shield else _awaited(work)
        with self._lock:  # never schedules work on a stopped loop (it would hang)
            if self._stopped:
                wrapped.close()
                raise self._closed_error(f"this {self._owner} is closed")
            future: Future[_T] = asyncio.run_coroutine_threadsafe(wrapped, self._loop)
            self._waiting.add(future)
        try:
            return future.result(timeout)
        except CancelledError:
            if self._stopped:
                raise self._closed_error(f"this {self._owner} closed during the call") from None
            raise
        except BaseException:
            future.cancel()  # stops the wait on the loop (and the work, unless shielded)
            raise
        finally:
            with self._lock:
                self._waiting.discard(future)

    def first(self, work: Callable[[], Awaitable[_T]]) -> _T:
        """``submit(work)`` for the object the thread serves (built on the loop): when it
        fails, the thread stops before the error is raised, so a failed start leaves no
        thread behind."""
        try:
            return self.submit(work)
        except BaseException:
            self.stop()
            raise

    def call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the loop's thread and return its answer."""

        async def on_loop() -> _T:
            return fn()

        return self.submit(on_loop)

    def stop(self) -> None:
        """Stop the loop, wait for the thread to end, and cancel the calls still waiting
        (idempotent)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        with self._lock:
            waiting, self._waiting = self._waiting, set()
        for future in waiting:
            future.cancel()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()


async def _awaited(work: Callable[[], Awaitable[_T]]) -> _T:
    return await work()


async def _shielded(work: Callable[[], Awaitable[_T]]) -> _T:
    """``work()``, shielded: cancelling the wait leaves the work running."""
    task = asyncio.ensure_future(work())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_retrieve)
        raise


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Collect the outcome nobody waits for any more (its error is the owner's to report)."""
    if not task.cancelled():
        task.exception()
