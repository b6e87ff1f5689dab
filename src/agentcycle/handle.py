"""``RunHandle``: a live run — its event stream, its result, and control over it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from agentcycle.assembly._compile import CompiledRun
from agentcycle.errors import ConfigurationError, EventStoreWriteError
from agentcycle.events import RunEvent
from agentcycle.result import RunResult, build_result
from agentcycle.runtime.approvals import ApprovalBroker, ApprovalDecision, as_decision
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.loop import CycleLoop
from agentcycle.runtime.outcome import LoopOutcome
from agentcycle.state import RunState

if TYPE_CHECKING:
    from agentcycle.assembly._threaded import ThreadedLoop
    from agentcycle.runtime.event_recorder import EventRecorder


class RunHandle:
    """A started run. ``events()`` streams typed events (each call is an independent, lossless
    subscriber that starts from the backlog); ``result()`` waits for the ``RunResult``."""

    def __init__(
        self,
        compiled: CompiledRun,
        bus: EventBus,
        loop: CycleLoop | ThreadedLoop,
        broker: ApprovalBroker,
        recorder: EventRecorder | None = None,
    ) -> None:
        self._compiled = compiled
        self._recorder = recorder
        self._broker = broker
        self._bus = bus
        self._loop = loop
        self._task: asyncio.Task[LoopOutcome] = asyncio.get_running_loop().create_task(
            loop.run(), name=f"agentcycle-run-{compiled.state.spec.run_id}"
        )
        self._result: RunResult | None = None

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self._compiled.state.spec.run_id

    @property
    def trace_id(self) -> str:
        """The run's trace id."""
        return self._compiled.state.spec.trace_id

    def events(self, since_seq: int | None = None) -> AsyncIterator[RunEvent]:
        """Every event of the run from the start (or after ``since_seq``) until it ends."""
        return self._bus.subscribe(since_seq)

    def done(self) -> bool:
        """True once the run reached a terminal state."""
        return self._task.done()

    def state(self) -> RunState:
        """The run's state: once it ended, the sealed state; while it runs, a snapshot of the
        committed cycles a host may save and resume (``Runner.resume`` redoes the cycle in
        progress). The snapshot's ``event_seq`` is the last event's so far, so a resumed run's
        events continue the sequence, and its tool state is the tools' state now."""
        state = self._compiled.state
        if self._task.done():
            return state
        env = self._loop.env
        return state.model_copy(
            update={
                "cycles": list(state.cycles),
                "pending_tool_calls": list(state.pending_tool_calls),
                "event_seq": env.bus.seq,
                "tool_state": env.tool_state.model_copy(deep=True),
            }
        )

    def steer(self, text: str) -> None:
        """Add a user message at the next model call; tool calls of the current batch that
        have not started are skipped (``tool_call_skipped``, "skipped due to steering")."""
        if not text.strip():
            raise ConfigurationError("steer() needs non-empty text")
        self._loop.steer(text)

    def approve(self, request_id: str, decision: ApprovalDecision | str) -> None:
        """Decide a pending approval request (``approval_requested`` event) of this run:
        ``"allow"``, ``"allow_session"``, ``"deny"`` (or ``ApprovalDecision.deny(reason)``) or
        ``"timeout"``. Raises ``KeyError`` for a request that is not waiting and
        ``ConfigurationError`` for anything else as ``decision``."""
        self._broker.resolve(request_id, as_decision(decision))

    async def cancel(self, reason: str = "cancelled by host") -> None:
        """Cancel the run (idempotent). Waits until the run has ended (with ``run_cancelled``,
        unless it had concluded already) and its events are in ``RunConfig.event_store``."""
        if not self._task.done():
            self._loop.request_cancel(reason)
            if self._loop.started:  # before that, the loop ends itself once it begins
                self._task.cancel()
        await asyncio.wait({self._task})
        if self._recorder is not None:
            with contextlib.suppress(EventStoreWriteError):  # result() raises it
                await self._recorder.flush()

    async def release_model_clients(self) -> None:
        """Close the HTTP clients that the run's models (its own, its handoff targets' and its
        child runs') opened on this event loop. Front doors that own their event loop
        (``run_sync``, the CLI) call this before the loop closes; a later call on this loop
        opens new clients."""
        for model in self._compiled.models:
            aclose = getattr(model, "aclose", None)
            if aclose is not None:
                await aclose()

    async def result(self) -> RunResult:
        """Wait for the run to end (and, with ``RunConfig.event_store``, for its events to be
        stored) and return its result. Raises ``EventStoreWriteError`` (with the result as
        ``.result``) if the event store failed."""
        if self._result is None:
            outcome = await asyncio.shield(self._task)
            self._result = build_result(self._loop.env, outcome)
        try:
            await self.flush_events()
        except EventStoreWriteError as exc:
            exc.result = self._result
            raise
        return self._result

    async def flush_events(self) -> None:
        """Wait until every event emitted so far is in ``RunConfig.event_store`` (returns at
        once without one); raise ``EventStoreWriteError`` if a write failed."""
        if self._recorder is not None:
            await self._recorder.flush()
