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

import queue
from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeVar

from agentcycle._loop_thread import LoopThread
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
        # Work is shielded: a caller that stops waiting (a timeout, Ctrl+C) stops only its
        # wait, never the session's work (a run being started, a cancel under way).
        self._thread = LoopThread(
            name="agentcycle-chat-session",
            owner="SyncChatSession",
            closed_error=ChatSessionClosed,
            shield_work=True,
        )

        async def build() -> ChatSession:
            return ChatSession(
                agent, session=session, config=config, runner=runner, max_backlog=max_backlog
            )

        self._chat = self._thread.first(build)

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
        return self._thread.call(lambda: self._chat.busy)

    @property
    def closed(self) -> bool:
        """True once ``close()`` began."""
        return self._chat.closed

    @property
    def active_run_id(self) -> str | None:
        """The id of the run in progress, if any."""
        return self._thread.call(lambda: self._chat.active_run_id)

    @property
    def last_result(self) -> RunResult | None:
        """The result of the run that ended last."""
        return self._thread.call(lambda: self._chat.last_result)

    @property
    def queued(self) -> list[SessionInput]:
        """Inputs waiting for a run."""
        return self._thread.call(lambda: self._chat.queued)

    @property
    def last_position(self) -> int:
        """The position of the stream's latest entry."""
        return self._thread.call(lambda: self._chat.last_position)

    def prompt(self, text: str, timeout: float | None = None) -> SessionInput:
        """Start a run with ``text`` (see ``ChatSession.prompt``); returns once it started."""
        return self._thread.submit(lambda: self._chat.prompt(text), timeout)

    def steer(self, text: str, timeout: float | None = None) -> SessionInput:
        """Steer the run in progress (see ``ChatSession.steer``)."""
        return self._thread.submit(lambda: self._chat.steer(text), timeout)

    def follow_up(self, text: str, timeout: float | None = None) -> SessionInput:
        """Queue a run after the current one (see ``ChatSession.follow_up``)."""
        return self._thread.submit(lambda: self._chat.follow_up(text), timeout)

    def approve(self, request_id: str, decision: ApprovalDecision | str) -> None:
        """Decide a pending approval request of the run in progress."""
        self._thread.call(lambda: self._chat.approve(request_id, decision))

    def cancel(
        self,
        reason: str = "cancelled by host",
        *,
        clear_queue: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Cancel the run in progress (see ``ChatSession.cancel``)."""
        self._thread.submit(lambda: self._chat.cancel(reason, clear_queue=clear_queue), timeout)

    def wait_idle(self, timeout: float | None = None) -> RunResult | None:
        """Wait until no run is going and nothing is queued; the last run's result."""
        return self._thread.submit(self._chat.wait_idle, timeout)

    def subscribe(self, listener: StreamListener, *, since: int | None = None) -> SyncSubscription:
        """``ChatSession.subscribe``; ``listener`` is called on the worker thread. Close the
        returned subscription from any thread."""
        subscription = self._thread.call(lambda: self._chat.subscribe(listener, since=since))
        return SyncSubscription(subscription, self._thread)

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
        if self._thread.stopped:
            return
        try:
            self._thread.submit(self._chat.close, timeout)
        finally:
            self._thread.stop()

    def __enter__(self) -> SyncChatSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class SyncSubscription:
    """A listener's place on a ``SyncChatSession``'s stream; ``close()`` may come from any
    thread (it runs on the session's loop, so no call follows it)."""

    __slots__ = ("_inner", "_thread")

    def __init__(self, inner: Subscription, thread: LoopThread) -> None:
        self._inner = inner
        self._thread = thread

    @property
    def active(self) -> bool:
        """True until ``close()``."""
        return self._inner.active

    def close(self) -> None:
        """Call the listener no more (a no-op once the session is closed)."""
        try:
            self._thread.call(self._inner.close)
        except ChatSessionClosed:
            self._inner.close()  # the loop is gone: nothing calls the listener any more


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
