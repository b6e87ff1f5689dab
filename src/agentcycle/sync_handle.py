"""``SyncRunHandle``: a live run driven from synchronous code (``Runner.start_sync``).

The run executes on a private event loop in a worker thread; every method hands its work to
that loop and waits for the answer, so a thread-based host (a web framework's request thread,
a desktop UI, a script) gets the same control as ``RunHandle``: lossless event subscribers,
cancel, steer, live approvals, state and result.

    with Runner.start_sync(agent, "...") as handle:
        for event in handle.events():
            if event.type == "approval_requested":
                handle.approve(event.request_id, "allow")
        result = handle.result()

The worker thread lives until ``close()`` (or the end of the ``with`` block), so events can
be read again after the run ended; ``close()`` cancels a run still going, closes the models'
HTTP clients and stops the thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from agentcycle._loop_thread import LoopThread
from agentcycle.errors import ConfigurationError, EventStoreWriteError
from agentcycle.events import RunEvent
from agentcycle.runtime.approvals import ApprovalDecision

if TYPE_CHECKING:
    from types import TracebackType

    from agentcycle.handle import RunHandle
    from agentcycle.result import RunResult
    from agentcycle.state import RunState


class SyncRunHandle:
    """A started run, for synchronous code. Mirrors ``RunHandle``; blocking calls take an
    optional ``timeout`` in seconds (``TimeoutError`` when it passes; the run goes on)."""

    def __init__(self, start: Callable[[], Awaitable[RunHandle]]) -> None:
        """Start a worker thread with its own event loop and the run on it (``start`` builds
        the ``RunHandle`` there). Configuration errors are raised here, in the caller."""
        # Waits are not shielded: the handle's own methods shield what must go on (the run),
        # and a cancelled wait frees what it waited on (an events() subscription closed next).
        self._thread = LoopThread(
            name="agentcycle-sync-handle",
            owner="SyncRunHandle",
            closed_error=ConfigurationError,
            shield_work=False,
        )
        self._handle = self._thread.first(start)

    # ------------------------------------------------------------------ RunHandle's surface

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self._handle.run_id

    @property
    def trace_id(self) -> str:
        """The run's trace id."""
        return self._handle.trace_id

    def events(self, since_seq: int | None = None) -> Iterator[RunEvent]:
        """Every event of the run from the start (or after ``since_seq``) until it ends; each
        call is an independent, lossless subscriber, as with ``RunHandle.events`` (one that is
        still reading when another thread closes the handle gets the rest of the stream)."""
        subscription = self._handle.events(since_seq)
        began_open = not self._thread.stopped
        last: RunEvent | None = None
        try:
            while True:
                try:
                    last = self._thread.submit(lambda: anext(subscription))
                except StopAsyncIteration:
                    return
                except ConfigurationError:
                    if not (began_open and self._thread.stopped):
                        raise
                    # Closed by another thread while this one read: the run has ended, so
                    # the rest of the stream is the bus's final backlog.
                    yield from self._rest_of_stream(last, since_seq)
                    return
                yield last
        finally:
            # A closed handle already closed every subscription (with its loop).
            with contextlib.suppress(ConfigurationError):
                self._thread.submit(subscription.aclose)  # type: ignore[attr-defined]

    def done(self) -> bool:
        """True once the run reached a terminal state."""
        return self._thread.call(self._handle.done)

    def state(self) -> RunState:
        """The run's state so far (spec and committed cycles)."""
        return self._thread.call(self._handle.state)

    def steer(self, text: str) -> None:
        """Add a user message at the next model call (see ``RunHandle.steer``)."""
        self._thread.call(lambda: self._handle.steer(text))

    def approve(self, request_id: str, decision: ApprovalDecision | str) -> None:
        """Decide a pending approval request (see ``RunHandle.approve``); raises ``KeyError``
        for a request that is not waiting."""
        self._thread.call(lambda: self._handle.approve(request_id, decision))

    def cancel(self, reason: str = "cancelled by host", timeout: float | None = None) -> None:
        """Cancel the run (idempotent) and wait until it has ended."""
        self._thread.submit(lambda: self._handle.cancel(reason), timeout)

    def result(self, timeout: float | None = None) -> RunResult:
        """Wait for the run to end and return its result (see ``RunHandle.result``)."""
        return self._thread.submit(self._handle.result, timeout)

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Cancel the run if it is still going, close its models' HTTP clients and stop the
        worker thread (idempotent). Events already read stay valid; the handle answers no
        further calls."""
        if self._thread.stopped:
            return
        try:
            self._thread.submit(self._shutdown)
        finally:
            self._thread.stop()

    def __enter__(self) -> SyncRunHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ machinery

    def _rest_of_stream(self, last: RunEvent | None, since_seq: int | None) -> list[RunEvent]:
        """The events a subscriber that yielded ``last`` has not seen, read on the caller's
        thread (only once the handle is closed: the loop no longer touches the backlog)."""
        bus = self._handle._bus  # the twin's own bus; nothing else reads it off the loop
        backlog = bus.backlog
        if last is None:
            return backlog[bus.start_index(since_seq) :]
        for i in range(len(backlog) - 1, -1, -1):
            if backlog[i] is last:
                return backlog[i + 1 :]
        return []

    async def _shutdown(self) -> None:
        handle = self._handle
        if not handle.done():
            await handle.cancel("sync handle closed")
        with contextlib.suppress(EventStoreWriteError):  # result() reports it
            await handle.flush_events()
        await handle.release_model_clients()
