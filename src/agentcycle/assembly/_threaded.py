"""``execution="thread"``: the same loop on an event loop of its own in a worker thread.

The run is compiled and wired on the caller's event loop exactly as an inline run (one
``build_loop``); only ``CycleLoop.run`` moves to the worker thread. The loop emits on its own
bus there; every event is handed to a *mirror* bus on the caller's loop
(``call_soon_threadsafe``, in order), which is what the ``RunHandle``, the event store and the
tracers see, so a host reads a threaded run exactly like an inline one. Steering and
cancelling are forwarded to the worker's loop the same way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from agentcycle.events import RunEvent
from agentcycle.models.base import Model
from agentcycle.runtime.environment import RunEnvironment
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.loop import CycleLoop
from agentcycle.runtime.outcome import LoopOutcome


class ThreadedLoop:
    """Drives ``loop`` in a worker thread; the handle's view of it (the ``CycleLoop``
    methods a ``RunHandle`` uses). ``mirror`` is the bus the handle reads."""

    def __init__(self, loop: CycleLoop, mirror: EventBus, models: Sequence[Model]) -> None:
        self._loop = loop
        self.mirror = mirror
        self._models = models
        self._caller = asyncio.get_running_loop()
        self._worker: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[LoopOutcome] | None = None
        self._started = False
        self._cancel_reason: str | None = None
        loop.env.bus.add_listener(self._forward)

    def _forward(self, event: RunEvent) -> None:
        self._caller.call_soon_threadsafe(self.mirror.forward, event)

    @property
    def env(self) -> RunEnvironment:
        """The run's environment (owned by the worker thread while the run is live)."""
        return self._loop.env

    @property
    def started(self) -> bool:
        """True once ``run`` began."""
        return self._started

    async def run(self) -> LoopOutcome:
        """Run the loop in a new thread and wait for its outcome. A host cancel
        (``request_cancel`` first) ends the run as cancelled and returns its outcome."""
        self._started = True
        done: asyncio.Future[LoopOutcome] = self._caller.create_future()
        thread = threading.Thread(
            target=self._work, args=(done,), name="agentcycle-run", daemon=True
        )
        thread.start()
        try:
            outcome = await asyncio.shield(done)
        except asyncio.CancelledError:
            if self._cancel_reason is None:
                self._cancel_in_worker("cancelled from outside")
                raise
            while not done.done():  # the worker is ending the run as cancelled
                try:
                    await asyncio.shield(done)
                except asyncio.CancelledError:
                    continue
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            outcome = done.result()
        self.mirror.close()
        return outcome

    def _work(self, done: asyncio.Future[LoopOutcome]) -> None:
        worker = asyncio.new_event_loop()
        try:
            outcome = worker.run_until_complete(self._drive(worker))
        except BaseException as exc:  # delivered to the caller's loop, not lost in the thread
            self._caller.call_soon_threadsafe(_settle, done, None, exc)
        else:
            self._caller.call_soon_threadsafe(_settle, done, outcome, None)
        finally:
            worker.close()

    async def _drive(self, worker: asyncio.AbstractEventLoop) -> LoopOutcome:
        self._task = worker.create_task(self._loop.run())
        self._worker = worker
        try:
            return await self._task
        finally:
            for model in self._models:  # clients opened on this loop die with it
                aclose = getattr(model, "aclose", None)
                if aclose is not None:
                    await aclose()

    def steer(self, text: str) -> None:
        """``CycleLoop.steer`` on the worker's loop."""
        worker = self._worker
        if worker is None:
            self._loop.steer(text)
        else:
            worker.call_soon_threadsafe(self._loop.steer, text)

    def request_cancel(self, reason: str) -> None:
        """``CycleLoop.request_cancel``, and cancel the loop's task in the worker."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
        if self._worker is None:
            self._loop.request_cancel(reason)  # the loop ends itself as cancelled when it begins
        self._cancel_in_worker(reason)

    def _cancel_in_worker(self, reason: str) -> None:
        worker = self._worker
        if worker is not None:
            worker.call_soon_threadsafe(self._cancel, reason)

    def _cancel(self, reason: str) -> None:
        self._loop.request_cancel(reason)
        if self._loop.started and self._task is not None:
            self._task.cancel()


def _settle(
    done: asyncio.Future[LoopOutcome], outcome: LoopOutcome | None, exc: BaseException | None
) -> None:
    if done.done():
        return
    if exc is not None:
        done.set_exception(exc)
    elif outcome is not None:
        done.set_result(outcome)
