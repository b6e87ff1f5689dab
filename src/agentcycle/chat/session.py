"""``ChatSession``: a conversation across runs for chat-style hosts, with input queues.

    async with ChatSession(agent, session=SQLiteSession("user-42", "chat.sqlite3")) as chat:
        chat.subscribe(render)                       # one stream: every run's events + queue
        await chat.prompt("Refactor the parser")     # starts a run
        await chat.steer("Keep the public names")    # reaches the next model call of that run
        await chat.follow_up("Then update the docs")  # a new run once this one ends
        await chat.wait_idle()

Each run is an ordinary ``Runner.start`` on the session's ``RunConfig`` with its session store,
so the conversation is the store's and every run appends its turn there. The session adds:

- **Inputs.** ``prompt`` starts a run when the session is idle (``ChatSessionBusy`` otherwise).
  ``steer`` goes to the run in progress and is added before its next model call; calls of the
  current tool batch that have not started are skipped (each gets a ``tool_call_skipped``
  result, so the transcript stays valid). A steer that comes too late for the run (it ended
  first) starts the next run, ahead of the follow-ups. ``follow_up`` waits for the run in
  progress to end and then starts its own run, in the order given. When the session is idle,
  ``steer`` and ``follow_up`` start a run at once, as ``prompt`` does.
- **Endings.** After a run that concluded (``completed``, ``wait_user``, ``max_cycles``) the
  queue goes on. After a failed run every queued input is dropped (``run_failed``): it was
  written for a conversation that now lacks a turn. ``cancel()`` cancels the run in progress
  and, by default, drops every input queued so far (``cancelled``); inputs given after the
  call are kept. ``cancel(clear_queue=False)`` keeps the queue: its steers and follow-ups run
  next. A cancelled run stores no turn in the session (see ``runtime/_session_turns.py``).
- **One stream.** ``subscribe(listener, since=...)`` and ``events(since=...)`` give every
  run's events and the session's own (``session_input_queued``, ``session_input_delivered``,
  ``session_input_dropped``, ``session_idle``, ``session_closed``) as ``StreamEntry`` objects
  numbered 1, 2, 3 … per session; a late subscriber replays from a position with no gap and
  no duplicate, and a position the backlog cannot serve raises ``StreamPositionError``.

A session belongs to the event loop it was first used on; ``SyncChatSession`` drives one from
synchronous code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

from agentcycle.chat._stream import SessionStream, StreamEntry, StreamListener, Subscription
from agentcycle.errors import (
    ChatSessionBusy,
    ChatSessionClosed,
    ConfigurationError,
    EventStoreWriteError,
)
from agentcycle.events import (
    Diagnostic,
    InputKind,
    RunEvent,
    RunStatus,
    SessionClosed,
    SessionIdle,
    SessionInputDelivered,
    SessionInputDropped,
    SessionInputQueued,
)
from agentcycle.run_config import RunConfig
from agentcycle.runner import Runner
from agentcycle.runtime._session_turns import APPENDING_STATUSES
from agentcycle.runtime.event_bus import EventBus, new_id

if TYPE_CHECKING:
    from types import TracebackType

    from agentcycle.agent import Agent
    from agentcycle.handle import RunHandle
    from agentcycle.result import RunResult
    from agentcycle.runtime.approvals import ApprovalDecision
    from agentcycle.sessions.base import Session

DropReason = Literal["cancelled", "run_failed", "start_failed", "closed"]


@dataclass(frozen=True, slots=True)
class SessionInput:
    """An input the host gave the session: its id (in the session's events), kind and
    text."""

    input_id: str
    kind: InputKind
    text: str


@dataclass(eq=False, slots=True)
class _ActiveRun:
    """The run in progress and the steers sent to it, in order; ``applied`` counts those its
    loop added to history (its ``steering_applied`` diagnostics, which come in that order)."""

    handle: RunHandle
    steers: list[SessionInput] = field(default_factory=list)
    applied: int = 0
    cancel: Literal["clear", "keep"] | None = None
    """How the host's ``cancel()`` treats the queue; ``None``: the host did not cancel."""
    pump: asyncio.Task[None] | None = None


class ChatSession:
    """A conversation across runs with prompt, steer and follow-up queues and one event
    stream (see the module docstring).

    ``session`` is the store holding the conversation (default: ``config.session``, else a
    new ``MemorySession``); ``config`` the ``RunConfig`` of every run; ``runner`` supplies
    runner-level defaults. ``max_backlog`` bounds the entries the stream keeps for replay
    (``None``: all of them, as long as the session lives)."""

    def __init__(
        self,
        agent: Agent,
        *,
        session: Session | None = None,
        config: RunConfig | None = None,
        runner: Runner | None = None,
        max_backlog: int | None = None,
    ) -> None:
        config = config or RunConfig()
        if session is not None and config.session is not None and config.session is not session:
            raise ConfigurationError(
                "ChatSession got two session stores (session= and config.session); pass one"
            )
        store = session or config.session
        if store is None:
            from agentcycle.sessions.memory import MemorySession

            store = MemorySession(new_id("ses"))
        self._agent = agent
        self._store = store
        self._config = replace(config, session=store)
        self._runner = runner or Runner()
        self._stream_id = new_id("chat")
        # The session's own events get the run-event envelope from a bus of their own.
        self._bus = EventBus(
            run_id=self._stream_id,
            trace_id=self._stream_id,
            agent_name=agent.name,
            session_id=store.session_id,
        )
        self._stream = SessionStream(max_backlog, self._listener_failed)
        self._bus.add_listener(self._on_session_event)
        self._active: _ActiveRun | None = None
        self._steers: deque[SessionInput] = deque()
        """Steers waiting for a run that is starting."""
        self._follow_ups: deque[SessionInput] = deque()
        self._busy = False
        self._starting = False
        self._closing = False
        # Events bind to the event loop on first wait, not here.
        self._settled = asyncio.Event()
        """Set while no run is being started."""
        self._settled.set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_result: RunResult | None = None

    # ------------------------------------------------------------------ identity, state

    @property
    def session_id(self) -> str:
        """The conversation's id (the store's); every event of the session carries it."""
        return self._store.session_id

    @property
    def stream_id(self) -> str:
        """The ``run_id`` and ``trace_id`` of the session's own events (``chat_…``)."""
        return self._stream_id

    @property
    def store(self) -> Session:
        """The session store holding the conversation."""
        return self._store

    @property
    def busy(self) -> bool:
        """True from the moment an input starts a run until no run is going and nothing is
        queued."""
        return self._busy

    @property
    def closed(self) -> bool:
        """True once ``close()`` began: the session takes no more input."""
        return self._closing

    @property
    def handle(self) -> RunHandle | None:
        """The run in progress (read its state or result; give it input through the
        session, which keeps count of its steers)."""
        return self._active.handle if self._active is not None else None

    @property
    def active_run_id(self) -> str | None:
        """The id of the run in progress, if any."""
        return self._active.handle.run_id if self._active is not None else None

    @property
    def last_result(self) -> RunResult | None:
        """The result of the run that ended last."""
        return self._last_result

    @property
    def queued(self) -> list[SessionInput]:
        """Inputs waiting for a run: steers for a run that is starting, then follow-ups."""
        return [*self._steers, *self._follow_ups]

    @property
    def last_position(self) -> int:
        """The position of the stream's latest entry (0 before the first)."""
        return self._stream.last_position

    # ------------------------------------------------------------------ input

    async def prompt(self, text: str) -> SessionInput:
        """Start a run with ``text``. Raises ``ChatSessionBusy`` while a run is going or
        inputs are queued (use ``steer`` or ``follow_up``), ``ChatSessionClosed`` after
        ``close()``, and whatever ``Runner.start`` raises for a run that cannot start (the
        input is then dropped with ``start_failed``)."""
        self._check_input("prompt", text)
        if self._busy:
            raise ChatSessionBusy(
                "a run is in progress: steer() adds to it, follow_up() queues a run after it"
            )
        item = self._queue("prompt", text)
        await self._start(item, raise_errors=True)
        return item

    async def steer(self, text: str) -> SessionInput:
        """Add ``text`` as a user message before the next model call of the run in progress;
        tool calls of its current batch that have not started are skipped. A steer the run
        ends without taking starts the next run. When the session is idle it starts a run
        now, like ``prompt``."""
        self._check_input("steer", text)
        item = self._queue("steer", text)
        if self._active is not None:
            self._steer_into(self._active, item)
        elif self._busy:
            self._steers.append(item)  # the run is starting: it takes the steer first thing
        else:
            await self._start(item, raise_errors=True)
        return item

    async def follow_up(self, text: str) -> SessionInput:
        """Run ``text`` once the run in progress (and the follow-ups queued before it) ended;
        when the session is idle it starts a run now, like ``prompt``."""
        self._check_input("follow_up", text)
        item = self._queue("follow_up", text)
        if self._busy:
            self._follow_ups.append(item)
        else:
            await self._start(item, raise_errors=True)
        return item

    def approve(self, request_id: str, decision: ApprovalDecision | str) -> None:
        """Decide a pending approval request of the run in progress (see
        ``RunHandle.approve``); ``KeyError`` for a request that is not waiting."""
        if self._active is None:
            raise KeyError(request_id)
        self._active.handle.approve(request_id, decision)

    # ------------------------------------------------------------------ control

    async def cancel(self, reason: str = "cancelled by host", *, clear_queue: bool = True) -> None:
        """Cancel the run in progress and wait until the session has handled its end. With
        ``clear_queue`` (the default) every input queued before this call is dropped
        (``session_input_dropped``, reason ``cancelled``), the steers the run had not taken
        included; inputs given later are kept. ``clear_queue=False`` keeps the queue: its
        steers and follow-ups run next. Idempotent; with no run going it only clears the
        queue."""
        await self._cancel(reason, "clear" if clear_queue else "keep", "cancelled")

    async def wait_idle(self) -> RunResult | None:
        """Wait until no run is going and nothing is queued; return the last run's result
        (``None`` if none ran)."""
        await self._idle.wait()
        return self._last_result

    async def close(self) -> None:
        """Cancel the run in progress, drop the queue (reason ``closed``), emit
        ``session_closed`` and end every subscription (idempotent). The store stays open:
        it belongs to the host."""
        if self._closing:
            await self._idle.wait()
            return
        self._closing = True
        await self._cancel("chat session closed", "clear", "closed")
        await self._idle.wait()
        self._bus.emit(SessionClosed)
        self._stream.close()

    async def __aenter__(self) -> ChatSession:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # ------------------------------------------------------------------ the stream

    def subscribe(self, listener: StreamListener, *, since: int | None = None) -> Subscription:
        """Call ``listener`` with every entry of the stream: first the kept entries after
        position ``since`` (all kept ones for ``None``), then each new one, in order, with
        no gap and no duplicate. A listener that raises on a new entry is dropped (a
        ``diagnostic`` ``session_listener_failed`` follows); one that raises during the
        replay is not subscribed, and its error reaches the caller here. Raises
        ``StreamPositionError`` for a position the stream cannot serve."""
        return self._stream.subscribe(listener, since)

    def events(self, since: int | None = None) -> AsyncIterator[StreamEntry]:
        """The stream's entries after ``since``, then each new one until the session closes
        (an independent, lossless reader)."""
        return self._stream.iterate(since)

    # ------------------------------------------------------------------ machinery

    def _check_input(self, kind: str, text: str) -> None:
        if self._closing:
            raise ChatSessionClosed(f"{kind}() on a closed chat session")
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError(f"{kind}() needs non-empty text")

    def _queue(self, kind: InputKind, text: str) -> SessionInput:
        item = SessionInput(new_id("in"), kind, text)
        active = self._active.handle.run_id if self._active is not None else None
        self._bus.emit(
            SessionInputQueued, input_id=item.input_id, kind=kind, text=text, active_run_id=active
        )
        return item

    def _steer_into(self, active: _ActiveRun, item: SessionInput) -> None:
        active.steers.append(item)
        active.handle.steer(item.text)

    def _drop(
        self, items: list[SessionInput], reason: DropReason, error: str | None = None
    ) -> None:
        for item in items:
            self._bus.emit(
                SessionInputDropped,
                input_id=item.input_id,
                kind=item.kind,
                text=item.text,
                reason=reason,
                error=error,
            )

    def _take_queue(self) -> list[SessionInput]:
        items = [*self._steers, *self._follow_ups]
        self._steers.clear()
        self._follow_ups.clear()
        return items

    async def _start(self, item: SessionInput, *, raise_errors: bool) -> None:
        """Start the run that takes ``item`` as its input, hand it the steers that waited for
        it and read its events. A run that cannot start drops ``item`` and the queue."""
        self._busy = True
        self._idle.clear()
        self._starting = True
        self._settled.clear()
        try:
            handle = await self._runner.start(self._agent, item.text, config=self._config)
        except BaseException as exc:
            # Not started (a configuration error, or the caller cancelled the start): the
            # session is free again and says what became of the queue.
            self._starting = False
            self._settled.set()
            cancelled = isinstance(exc, asyncio.CancelledError)
            reason: DropReason = "cancelled" if cancelled else "start_failed"
            error = None if cancelled else f"{type(exc).__name__}: {exc}"
            self._drop([item, *self._take_queue()], reason, error)
            self._become_idle()
            if raise_errors or not isinstance(exc, Exception):
                raise
            return
        self._bus.emit(
            SessionInputDelivered,
            input_id=item.input_id,
            kind=item.kind,
            delivery="run_input",
            target_run_id=handle.run_id,
        )
        active = self._active = _ActiveRun(handle)
        while self._steers:
            self._steer_into(active, self._steers.popleft())
        self._starting = False
        self._settled.set()
        active.pump = asyncio.get_running_loop().create_task(
            self._pump(active), name=f"agentcycle-chat-{handle.run_id}"
        )

    async def _pump(self, active: _ActiveRun) -> None:
        """Follow the run to its end, then go on with the queue."""
        status = RunStatus.FAILED
        try:
            status = await self._follow(active)
        except Exception as exc:  # a bug below must not leave the session busy for ever
            self._bus.emit(
                Diagnostic,
                level="error",
                code="session_run_lost",
                details={
                    "run_id": active.handle.run_id,
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
        self._active = None
        await self._advance(active, status)

    async def _follow(self, active: _ActiveRun) -> RunStatus:
        """Put the run's events on the stream and mark the steers it takes; its status."""
        handle = active.handle
        run_id = handle.run_id
        store_failure_shown = False
        async for event in handle.events():
            self._stream.append(event)
            if isinstance(event, Diagnostic) and event.code == EventStoreWriteError.code:
                store_failure_shown = True
            if (
                isinstance(event, Diagnostic)
                and event.code == "steering_applied"
                and event.run_id == run_id
                and active.applied < len(active.steers)
            ):
                item = active.steers[active.applied]
                active.applied += 1
                self._bus.emit(
                    SessionInputDelivered,
                    input_id=item.input_id,
                    kind=item.kind,
                    delivery="steering",
                    target_run_id=run_id,
                )
        try:
            result = await handle.result()
        except EventStoreWriteError as exc:
            # The run went on. Its stream says so when the write failed while it was live; a
            # run that ended first cannot, so the session's stream does.
            result = exc.result
            if not store_failure_shown:
                self._bus.emit(
                    Diagnostic,
                    level="error",
                    code=exc.code,
                    details={"run_id": run_id, **dict(exc.details or {})},
                )
        try:
            await handle.release_model_clients()
        except Exception as exc:  # closing an HTTP client must not stop the conversation
            self._bus.emit(
                Diagnostic,
                level="warning",
                code="session_model_clients_not_closed",
                details={"run_id": run_id, "error": f"{type(exc).__name__}: {exc}"},
            )
        if result is None:
            return RunStatus.FAILED
        self._last_result = result
        return result.status

    async def _advance(self, ended: _ActiveRun, status: RunStatus) -> None:
        """What follows a run that ended with ``status`` (see the module docstring)."""
        leftovers = ended.steers[ended.applied :]
        if status in APPENDING_STATUSES or (
            status is RunStatus.CANCELLED and ended.cancel == "keep"
        ):
            # Leftover steers come first: the person wrote them while the run went on.
            self._steers.extendleft(reversed(leftovers))
        elif status is RunStatus.CANCELLED and ended.cancel == "clear":
            # What was queued at cancel() is gone already; what came after it stays.
            self._drop(leftovers, "closed" if self._closing else "cancelled")
        else:
            reason: DropReason = "run_failed" if status is RunStatus.FAILED else "cancelled"
            self._drop([*leftovers, *self._take_queue()], "closed" if self._closing else reason)
        if self._steers:
            await self._start(self._steers.popleft(), raise_errors=False)
        elif self._follow_ups:
            await self._start(self._follow_ups.popleft(), raise_errors=False)
        else:
            self._become_idle()

    def _become_idle(self) -> None:
        self._busy = False
        last = self._last_result
        self._bus.emit(
            SessionIdle,
            last_run_id=last.run_id if last is not None else None,
            last_status=last.status if last is not None else None,
        )
        self._idle.set()

    async def _cancel(
        self, reason: str, queue: Literal["clear", "keep"], drop_reason: DropReason
    ) -> None:
        if queue == "clear":
            self._drop(self._take_queue(), drop_reason)
        while self._starting:  # the run is being compiled: cancel it once it exists
            await self._settled.wait()
        active = self._active
        if active is None:
            return
        if active.cancel is None:
            active.cancel = queue
        await active.handle.cancel(reason)
        if active.pump is not None:
            await asyncio.shield(active.pump)

    def _on_session_event(self, event: RunEvent) -> None:
        self._stream.append(event)

    def _listener_failed(self, listener: StreamListener, exc: Exception) -> None:
        name = getattr(listener, "__qualname__", None) or type(listener).__qualname__
        with contextlib.suppress(Exception):  # reporting must not fail the stream itself
            self._bus.emit(
                Diagnostic,
                level="error",
                code="session_listener_failed",
                details={"listener": name, "error": f"{type(exc).__name__}: {exc}"},
            )
