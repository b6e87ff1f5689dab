"""``SyncChatSession``: a ``ChatSession`` driven from synchronous code.

The session and its runs live on a private event loop in a worker thread; every method hands
its work to that loop and waits for the answer, so a thread-based host (a web framework's
request threads, a desktop UI, a terminal chat) gets the same conversation, queues and stream:

    with SyncChatSession(agent, session=SQLiteSession("user-42", "chat.sqlite3")) as chat:
        chat.subscribe(print)          # called on the worker thread
        chat.prompt("Refactor the parser")
        chat.follow_up("Then update the docs")
        result = chat.wait_idle()

Listeners run on the worker thread, in stream order; ``events()`` reads the stream from any
thread. ``close()`` (or the end of the ``with`` block) closes the session and stops the
thread.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import CancelledError, Future
from typing import TYPE_CHECKING, Any, TypeVar

from agentcycle.chat._stream import StreamEntry, StreamListener, Subscription
from agentcycle.chat.session import ChatSession, SessionInput
from agentcycle.errors import ChatSessionClosed
from agentcycle.events import SessionClosed

if TYPE_CHECKING:
    from types import TracebackType

    from agentcycle.agent import Agent
    from agentcycle.result import RunResult
    from agentcycle.run_config import RunConfig
    from agentcycle.runner import Runner
    from agentcycle.runtime.approvals import ApprovalDecision
    from agentcycle.sessions.base import Session

_T = TypeVar("_T")


class SyncChatSession:
    """A ``ChatSession`` for synchronous code (see the module docstring). Mirrors its
    methods; blocking calls take an optional ``timeout`` in seconds (``TimeoutError`` when it
    passes; the session goes on)."""

    def __init__(
        self,
        agent: Agent,
        *,
        session: Session | None = None,
        config: RunConfig | None = None,
        runner: Runner | None = None,
        max_backlog: int | None = None,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name="agentcycle-chat-session", daemon=True
        )
        self._lock = threading.Lock()
        self._stopped = False
        # Calls waiting on the loop: cancelled when it stops, so no caller waits for ever on
        # work the stopped loop will never finish.
        self._waiting: set[Future[Any]] = set()
        self._thread.start()

        async def build() -> ChatSession:
            return ChatSession(
                agent, session=session, config=config, runner=runner, max_backlog=max_backlog
            )

        try:
            self._chat = self._submit(build)
        except BaseException:
            self._stop()
            raise

    # ------------------------------------------------------------------ ChatSession's surface

    @property
    def session_id(self) -> str:
        """The conversation's id."""
        return self._chat.session_id

    @property
    def stream_id(self) -> str:
        """The ``run_id`` and ``trace_id`` of the session's own events."""
        return self._chat.stream_id

    @property
    def store(self) -> Session:
        """The session store holding the conversation."""
        return self._chat.store

    @property
    def busy(self) -> bool:
        """True while a run is going or inputs are queued."""
        return self._call(lambda: self._chat.busy)

    @property
    def closed(self) -> bool:
        """True once ``close()`` began."""
        return self._chat.closed

    @property
    def active_run_id(self) -> str | None:
        """The id of the run in progress, if any."""
        return self._call(lambda: self._chat.active_run_id)

    @property
    def last_result(self) -> RunResult | None:
        """The result of the run that ended last."""
        return self._call(lambda: self._chat.last_result)

    @property
    def queued(self) -> list[SessionInput]:
        """Inputs waiting for a run."""
        return self._call(lambda: self._chat.queued)

    @property
    def last_position(self) -> int:
        """The position of the stream's latest entry."""
        return self._call(lambda: self._chat.last_position)

    def prompt(self, text: str, timeout: float | None = None) -> SessionInput:
        """Start a run with ``text`` (see ``ChatSession.prompt``); returns once it started."""
        return self._submit(lambda: self._chat.prompt(text), timeout)

    def steer(self, text: str, timeout: float | None = None) -> SessionInput:
        """Steer the run in progress (see ``ChatSession.steer``)."""
        return self._submit(lambda: self._chat.steer(text), timeout)

    def follow_up(self, text: str, timeout: float | None = None) -> SessionInput:
        """Queue a run after the current one (see ``ChatSession.follow_up``)."""
        return self._submit(lambda: self._chat.follow_up(text), timeout)

    def approve(self, request_id: str, decision: ApprovalDecision | str) -> None:
        """Decide a pending approval request of the run in progress."""
        self._call(lambda: self._chat.approve(request_id, decision))

    def cancel(
        self,
        reason: str = "cancelled by host",
        *,
        clear_queue: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Cancel the run in progress (see ``ChatSession.cancel``)."""
        self._submit(lambda: self._chat.cancel(reason, clear_queue=clear_queue), timeout)

    def wait_idle(self, timeout: float | None = None) -> RunResult | None:
        """Wait until no run is going and nothing is queued; the last run's result."""
        return self._submit(self._chat.wait_idle, timeout)

    def subscribe(self, listener: StreamListener, *, since: int | None = None) -> SyncSubscription:
        """``ChatSession.subscribe``; ``listener`` is called on the worker thread. Close the
        returned subscription from any thread."""
        subscription = self._call(lambda: self._chat.subscribe(listener, since=since))
        return SyncSubscription(subscription, self)

    def events(self, since: int | None = None) -> Iterator[StreamEntry]:
        """The stream's entries after ``since``, then each new one until the session closes
        (``session_closed`` is the last). Each call is an independent, lossless reader,
        subscribed when ``events`` is called (so a reader handed to another thread misses
        nothing in between); raises ``ChatSessionClosed`` on a closed session."""
        entries: queue.Queue[StreamEntry] = queue.Queue()
        subscription = self.subscribe(entries.put, since=since)
        return _read_until_closed(entries, subscription)

    # ------------------------------------------------------------------ lifetime

    def close(self, timeout: float | None = None) -> None:
        """Close the session (see ``ChatSession.close``) and stop the worker thread
        (idempotent)."""
        with self._lock:
            if self._stopped:
                return
        try:
            self._submit(self._chat.close, timeout)
        finally:
            self._stop()

    def __enter__(self) -> SyncChatSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ machinery

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _submit(self, work: Callable[[], Awaitable[_T]], timeout: float | None = None) -> _T:
        """Await ``work()`` on the session's loop and return its answer (or raise its
        error)."""
        with self._lock:  # never schedules work on a stopped loop (it would hang)
            if self._stopped:
                raise ChatSessionClosed("this SyncChatSession is closed")
            future: Future[_T] = asyncio.run_coroutine_threadsafe(_awaited(work), self._loop)
            self._waiting.add(future)
        try:
            return future.result(timeout)
        except CancelledError:
            if self._stopped:
                raise ChatSessionClosed("this SyncChatSession closed during the call") from None
            raise
        except BaseException:
            future.cancel()  # stops the wait on the loop; the work itself is shielded
            raise
        finally:
            with self._lock:
                self._waiting.discard(future)

    def _call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the session's loop thread (the session's state belongs to it)."""

        async def on_loop() -> _T:
            return fn()

        return self._submit(on_loop)

    def _stop(self) -> None:
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


class SyncSubscription:
    """A listener's place on a ``SyncChatSession``'s stream; ``close()`` may come from any
    thread (it runs on the session's loop, so no call follows it)."""

    __slots__ = ("_inner", "_owner")

    def __init__(self, inner: Subscription, owner: SyncChatSession) -> None:
        self._inner = inner
        self._owner = owner

    @property
    def active(self) -> bool:
        """True until ``close()``."""
        return self._inner.active

    def close(self) -> None:
        """Call the listener no more (a no-op once the session is closed)."""
        try:
            self._owner._call(self._inner.close)
        except ChatSessionClosed:
            self._inner.close()  # the loop is gone: nothing calls the listener any more


async def _awaited(work: Callable[[], Awaitable[_T]]) -> _T:
    """``work()``, shielded: a caller that stops waiting (a timeout, Ctrl+C) stops only its
    wait, never the session's work (a run being started, a cancel under way)."""
    task = asyncio.ensure_future(work())
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.add_done_callback(_retrieve)
        raise


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Collect the outcome nobody waits for any more (its error is the session's to report)."""
    if not task.cancelled():
        task.exception()


def _read_until_closed(
    entries: queue.Queue[StreamEntry], subscription: SyncSubscription
) -> Iterator[StreamEntry]:
    try:
        while True:
            entry = entries.get()
            yield entry
            if isinstance(entry.event, SessionClosed):
                return
    finally:
        subscription.close()
