"""``Runner``: the front door for running agents, sync or async, streamed or not.

Every method works on the class (``Runner.run_sync(agent, "...")``) and on an instance that
carries runner-level defaults (``Runner(RunConfig(no_tool_policy="finish")).run_sync(...)``).
Settings layer run config -> runner config -> agent, later wins. All of them execute the same
loop and produce the same events.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from agentcycle.agent import Agent
from agentcycle.assembly._compile import CompiledRun, compile_resume, compile_run
from agentcycle.assembly._launch import build_loop
from agentcycle.errors import ConfigurationError
from agentcycle.events import RunEvent
from agentcycle.handle import RunHandle
from agentcycle.messages import ToolResult
from agentcycle.result import RunResult
from agentcycle.run_config import RunConfig
from agentcycle.runtime.approvals import (
    ApprovalBroker,
    ApprovalDecision,
    report_provider_failure,
)
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.loop import CycleLoop, ResumeWork
from agentcycle.state import RunState

if TYPE_CHECKING:
    from agentcycle.assembly._durable import StoredRun
    from agentcycle.assembly._threaded import ThreadedLoop
    from agentcycle.submitted import SubmittedRun
    from agentcycle.sync_handle import SyncRunHandle

DEFAULT_APPROVAL_TIMEOUT = 300.0


class _ClassOrInstance:
    """Binds a method to the instance, or to a default ``Runner()`` when used on the class."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        return self._fn.__get__(obj if obj is not None else owner(), owner)


class Runner:
    """Runs agents. ``config`` holds runner-level defaults."""

    def __init__(self, config: RunConfig | None = None) -> None:
        self.config = config or RunConfig()

    def _effective(self, config: RunConfig | None) -> RunConfig:
        # Without a run config the runner's is the effective one (configs are immutable):
        # no merged copy per run.
        return self.config if config is None else config.over(self.config)

    @_ClassOrInstance
    async def start(
        self, agent: Agent, input: Any, *, config: RunConfig | None = None
    ) -> RunHandle:
        """Start a run in the background and return its live handle.

        Approvals are live by default here, since the caller holds the handle: a call that
        needs approval (and that ``approval_provider`` does not decide) waits for
        ``RunHandle.approve`` / ``deny`` (up to ``RunConfig.approval_timeout``).
        ``RunConfig(live_approvals=False)`` ends the run in ``wait_user`` instead, as
        ``run`` and ``stream`` always do."""
        return await self._start(agent, input, config, live=None)

    async def _start(
        self, agent: Agent, input: Any, config: RunConfig | None, *, live: bool | None
    ) -> RunHandle:
        effective = self._effective(config)
        compiled = await compile_run(agent, input, effective)
        return self._launch(compiled, None, None, effective, live=live)

    def _launch(
        self,
        compiled: CompiledRun,
        resume: ResumeWork | None,
        input: Any,
        config: RunConfig,
        *,
        live: bool | None,
        stored: StoredRun | None = None,
    ) -> RunHandle:
        """``live=None`` follows ``config.live_approvals``, live unless it says ``False`` (the
        caller holds the handle); ``False`` is for front doors that give the caller no handle to
        approve with. ``stored``: a durable run taken over from its checkpoint store
        (``resume_run``)."""
        live = config.live_approvals is not False if live is None else live
        if config.execution == "celery":
            raise ConfigurationError(
                "execution='celery' runs on Celery workers: submit the run with "
                "Runner.submit(agent_factory, input, config=...) and follow it through the store",
                details={"execution": "celery"},
            )
        if config.execution == "thread":
            # The broker lives on the worker's loop: RunHandle.approve cannot reach it yet.
            if config.live_approvals:
                raise ConfigurationError(
                    "live approvals are not available with execution='thread' yet: approve "
                    "through RunConfig.approval_provider, or resume the waiting run"
                )
            live = False
        bus = _run_bus(compiled)
        timeout = config.approval_timeout
        broker = ApprovalBroker(
            compiled.approvals,
            live=live,
            timeout=DEFAULT_APPROVAL_TIMEOUT if timeout is None else timeout,
            on_provider_failure=lambda request, exc: report_provider_failure(bus, request, exc),
        )
        durable = None
        if stored is not None or config.checkpoint_store is not None:
            from agentcycle.assembly._durable import new_durable_log

            durable = new_durable_log(compiled, config, bus, stored)
        loop = build_loop(
            compiled,
            config=config,
            bus=bus,
            broker=broker,
            resume=resume,
            input=input,
            durable=durable,
        )
        driver: CycleLoop | ThreadedLoop = loop
        if config.execution == "thread":
            from agentcycle.assembly._threaded import ThreadedLoop

            driver = ThreadedLoop(loop, _run_bus(compiled), compiled.models)
            bus = driver.mirror  # the handle, the event store and tracers read the mirror
        recorder = None
        if config.event_store is not None:
            from agentcycle.runtime.event_recorder import EventRecorder

            recorder = EventRecorder(config.event_store, bus)
        if config.trace_processors:
            from agentcycle.tracing.builder import SpanBuilder

            bus.add_listener(SpanBuilder(config.trace_processors).on_event)
        return RunHandle(compiled, bus, driver, broker, recorder)

    @_ClassOrInstance
    def start_sync(
        self, agent: Agent, input: Any, *, config: RunConfig | None = None
    ) -> SyncRunHandle:
        """``start`` for synchronous code: the run executes on a private event loop in a
        worker thread, driven through the returned ``SyncRunHandle`` (close it, or use it as a
        context manager, when done)."""
        _require_no_running_loop("start_sync")
        from agentcycle.sync_handle import SyncRunHandle

        return SyncRunHandle(lambda: self._start(agent, input, config, live=None))

    @_ClassOrInstance
    def start_resumed_sync(
        self,
        agent: Agent,
        state: RunState,
        *,
        input: Any = None,
        approvals: Mapping[str, ApprovalDecision | str] | None = None,
        config: RunConfig | None = None,
    ) -> SyncRunHandle:
        """``start_resumed`` for synchronous code (see ``start_sync``)."""
        _require_no_running_loop("start_resumed_sync")
        from agentcycle.sync_handle import SyncRunHandle

        return SyncRunHandle(
            lambda: self._start_resumed(agent, state, input, approvals, config, live=None)
        )

    @_ClassOrInstance
    async def start_resumed(
        self,
        agent: Agent,
        state: RunState,
        *,
        input: Any = None,
        approvals: Mapping[str, ApprovalDecision | str] | None = None,
        config: RunConfig | None = None,
    ) -> RunHandle:
        """Continue a stopped run (``RunResult.to_state()``, possibly from another process):
        the pending calls run with ``approvals`` (by request id or tool call id), then
        ``input`` (the user's answer) is added and the cycles go on. Like ``start``, the handle
        honours ``RunConfig.live_approvals``. A run started with ``RunConfig.session`` must be
        resumed with that session; the continuation is appended to it as its own turn."""
        return await self._start_resumed(agent, state, input, approvals, config, live=None)

    async def _start_resumed(
        self,
        agent: Agent,
        state: RunState,
        input: Any,
        approvals: Mapping[str, ApprovalDecision | str] | None,
        config: RunConfig | None,
        *,
        live: bool | None,
    ) -> RunHandle:
        effective = self._effective(config)
        compiled, work = await compile_resume(
            agent, state, effective, run_input=input, approvals=approvals
        )
        return self._launch(compiled, work, input, effective, live=live)

    @_ClassOrInstance
    async def resume(
        self,
        agent: Agent,
        state: RunState,
        *,
        input: Any = None,
        approvals: Mapping[str, ApprovalDecision | str] | None = None,
        config: RunConfig | None = None,
    ) -> RunResult:
        """``start_resumed`` and wait for the result."""
        return await _result_of(
            await self._start_resumed(agent, state, input, approvals, config, live=False)
        )

    @_ClassOrInstance
    def resume_sync(
        self,
        agent: Agent,
        state: RunState,
        *,
        input: Any = None,
        approvals: Mapping[str, ApprovalDecision | str] | None = None,
        config: RunConfig | None = None,
    ) -> RunResult:
        """``resume`` from synchronous code."""
        _require_no_running_loop("resume_sync")
        return _run_on_private_loop(
            lambda: self._start_resumed(agent, state, input, approvals, config, live=False)
        )

    @_ClassOrInstance
    async def start_resumed_run(
        self,
        agent: Agent,
        run_id: str,
        *,
        input: Any = None,
        approvals: Mapping[str, ApprovalDecision | str] | None = None,
        resolutions: Mapping[str, ToolResult | str] | None = None,
        config: RunConfig | None = None,
    ) -> RunHandle:
        """Continue durable run ``run_id`` from ``RunConfig.checkpoint_store``, in this process,
        whatever process started it: a run that waits (for the user, an approval, a
        reconciliation) or one whose process died (after its lease expired; its cycle in
        progress goes on from its last durable step, see ``agentcycle.runtime.durable``).
        Events continue the run's sequence. ``resolutions`` settle unverified tool calls by
        tool call id: the ``ToolResult`` it had, or ``"retry"`` to run it again."""
        return await self._start_resumed_run(
            agent, run_id, input, approvals, resolutions, config, live=None
        )

    async def _start_resumed_run(
        self,
        agent: Agent,
        run_id: str,
        input: Any,
        approvals: Mapping[str, ApprovalDecision | str] | None,
        resolutions: Mapping[str, ToolResult | str] | None,
        config: RunConfig | None,
        *,
        live: bool | None,
    ) -> RunHandle:
        from agentcycle.assembly._durable import compile_stored_resume

        effective = self._effective(config)
        compiled, work, stored = await compile_stored_resume(
            agent,
            run_id,
            effective,
            run_input=input,
            approvals=approvals,
            resolutions=resolutions,
        )
        return self._launch(compiled, work, input, effective, live=live, stored=stored)

    @_ClassOrInstance
    async def resume_run(
        self,
        agent: Agent,
        run_id: str,
        *,
        input: Any = None,
        approvals: Mapping[str, ApprovalDecision | str] | None = None,
        resolutions: Mapping[str, ToolResult | str] | None = None,
        config: RunConfig | None = None,
    ) -> RunResult:
        """``start_resumed_run`` and wait for the result."""
        return await _result_of(
            await self._start_resumed_run(
                agent, run_id, input, approvals, resolutions, config, live=False
            )
        )

    @_ClassOrInstance
    async def submit(
        self, agent_factory: str, input: Any, *, config: RunConfig | None = None
    ) -> SubmittedRun:
        """Run on Celery workers (``execution="celery"``, extra ``celery``): compile the run
        here, create its log in ``RunConfig.checkpoint_store`` (a URL the workers open) and
        queue it on ``RunConfig.broker``; returns at once with a ``SubmittedRun`` that follows
        the run through the store. ``agent_factory`` (``module:name``) is an ``Agent`` or a
        callable given the run's metadata that returns an ``Agent`` or ``(Agent, RunConfig)``:
        this process and every worker build the run's agent from it. Start workers with
        ``agentcycle worker --store URL`` (see ``agentcycle.workers``)."""
        from agentcycle.assembly._celery import (
            FACTORY_KEY,
            broker_url,
            celery_config,
            check_worker_store,
            load_agent_factory,
            send_segment,
        )
        from agentcycle.assembly._durable import checkpoint_store, create_stored_run
        from agentcycle.submitted import SubmittedRun

        effective = self._effective(config)
        check_worker_store(effective)  # before the factory runs
        metadata = {**effective.metadata, FACTORY_KEY: agent_factory}
        agent, base = load_agent_factory(agent_factory, metadata)
        effective = celery_config(effective.over(base), agent_factory)
        compiled = await compile_run(agent, input, effective)
        await compiled.mcp.aclose()  # the workers start their own servers
        store = checkpoint_store(effective)
        assert store is not None and isinstance(effective.checkpoint_store, str)
        run_id = compiled.state.spec.run_id
        try:
            create_stored_run(compiled, store)
            try:
                send_segment(broker_url(effective.broker), run_id)
            except BaseException:
                store.delete_run(run_id)  # never queued: nothing would ever run it
                raise
        except BaseException:
            store.close()
            raise
        return SubmittedRun(
            compiled.state.spec.run_id, store, owns_store=True, broker=effective.broker
        )

    @_ClassOrInstance
    def submit_sync(
        self, agent_factory: str, input: Any, *, config: RunConfig | None = None
    ) -> SubmittedRun:
        """``submit`` from synchronous code."""
        _require_no_running_loop("submit_sync")
        return asyncio.run(self.submit(agent_factory, input, config=config))

    @_ClassOrInstance
    async def run(self, agent: Agent, input: Any, *, config: RunConfig | None = None) -> RunResult:
        """Run to the end and return the result."""
        return await _result_of(await self._start(agent, input, config, live=False))

    @_ClassOrInstance
    def run_sync(self, agent: Agent, input: Any, *, config: RunConfig | None = None) -> RunResult:
        """Run to the end from synchronous code (not from inside a running event loop)."""
        _require_no_running_loop("run_sync")
        return _run_on_private_loop(lambda: self._start(agent, input, config, live=False))

    @_ClassOrInstance
    async def stream(
        self, agent: Agent, input: Any, *, config: RunConfig | None = None
    ) -> AsyncIterator[RunEvent]:
        """Run and yield every event; leaving the loop early cancels the run. With
        ``RunConfig.event_store`` the stream ends once every event is stored (raising
        ``EventStoreWriteError`` if a write failed)."""
        handle = await self._start(agent, input, config, live=False)
        try:
            async for event in handle.events():
                yield event
        finally:
            if not handle.done():
                await handle.cancel("stream closed by consumer")
        await handle.flush_events()

    @_ClassOrInstance
    def stream_sync(
        self, agent: Agent, input: Any, *, config: RunConfig | None = None
    ) -> Iterator[RunEvent]:
        """``stream`` for synchronous code: the run executes on a private event loop in a
        worker thread; closing the iterator early cancels the run."""
        _require_no_running_loop("stream_sync")
        items: queue.Queue[RunEvent | BaseException | None] = queue.Queue()
        stop = threading.Event()
        loop_box: list[asyncio.AbstractEventLoop] = []
        task_box: list[asyncio.Task[None]] = []

        async def pump() -> None:
            handle = await self._start(agent, input, config, live=False)
            try:
                async for event in handle.events():
                    items.put(event)
                await handle.flush_events()
            finally:
                if not handle.done():
                    await handle.cancel("stream closed by consumer")
                await handle.release_model_clients()

        def worker() -> None:
            loop = asyncio.new_event_loop()
            loop_box.append(loop)
            task = loop.create_task(pump())
            task_box.append(task)
            try:
                loop.run_until_complete(task)
            except BaseException as exc:  # delivered to the consumer, not lost in the thread
                if not stop.is_set():
                    items.put(exc)
            finally:
                loop.close()
                items.put(None)

        thread = threading.Thread(target=worker, name="agentcycle-stream", daemon=True)
        thread.start()
        try:
            while True:
                item = items.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            if thread.is_alive() and loop_box and task_box:
                loop_box[0].call_soon_threadsafe(task_box[0].cancel)
            thread.join()


async def _result_of(handle: RunHandle) -> RunResult:
    """The run's result; a caller cancelled while waiting cancels the run too."""
    try:
        return await handle.result()
    except asyncio.CancelledError:
        await handle.cancel("caller cancelled")
        raise


def _run_on_private_loop(start: Callable[[], Awaitable[RunHandle]]) -> RunResult:
    """Start a run on a new event loop in this thread, wait for its result, and release its
    model clients before the loop closes."""

    async def body() -> RunResult:
        handle = await start()
        try:
            return await handle.result()
        finally:
            await handle.release_model_clients()

    return asyncio.run(body())


def _run_bus(compiled: CompiledRun) -> EventBus:
    spec = compiled.state.spec
    return EventBus(
        run_id=spec.run_id,
        trace_id=spec.trace_id,
        agent_name=compiled.state.current_agent(),
        session_id=spec.session_id,
        parent_run_id=spec.parent_run_id,
        start_seq=compiled.state.event_seq,
    )


def _require_no_running_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise ConfigurationError(
        f"Runner.{name} cannot be called from a running event loop; await Runner.run or "
        "iterate Runner.stream instead"
    )
