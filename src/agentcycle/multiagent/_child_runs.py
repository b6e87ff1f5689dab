"""Child runs: runs started by a tool of another run (agent-as-tool, configured sub-agents).

A child run is a full run with its own run id, history, tool state and loop, tied to its parent:

- identity: ``parent_run_id`` on its spec and on every one of its events, the parent's
  ``trace_id``, and ``parent_event_id`` pointing at the parent's ``sub_run_started``;
- events: forwarded into the parent's stream as they happen, between the parent's
  ``sub_run_started`` and ``sub_run_completed`` (so the parent's subscribers, event store and
  tracer see the whole tree);
- policy: the parent's effective deny rules (denied tools, denied side effects, ``can_use_tool``
  checks) and approval mode are layered after the child agent's own policy, so the child can
  only narrow them. The parent's allow-list names the parent's tools and does not carry over.
  Approvals go through the parent's approver: the parent's ``RunHandle.approve`` answers a
  child's ``approval_requested``;
- budget and usage: the child shares the parent's budget meter, and its model calls are added
  to the parent's ``RunResult.usage`` (``ModelCallRecord.run_id`` names the child);
- configuration: the parent's workspace (or a filtered view of it, for a sub-task's
  ``exclude_files_pattern``), language, model provider, settings file, price table, host context
  and metadata; the child agent's own model (else ``RunConfig.model``, else the
  parent's current model), settings, instructions, hooks and limits. No session (a child never
  writes the parent's conversation), no event store or tracer of its own;
- cancellation: cancelling the parent cancels its running children first (one
  ``run_cancelled`` each); children still running when the parent ends are cancelled then, and
  no child starts once the parent is ending.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Protocol

from pydantic_core import to_jsonable_python

from agentcycle._json import dumps
from agentcycle.agent import Agent
from agentcycle.errors import AgentcycleError
from agentcycle.events import RunEvent, RunStatus, SubRunCompleted, SubRunStarted
from agentcycle.messages import Message, ToolResult
from agentcycle.result import RunResult, build_result
from agentcycle.run_config import RunConfig
from agentcycle.runtime.approvals import ApprovalBroker
from agentcycle.runtime.budget_meter import BudgetMeter
from agentcycle.runtime.environment import RunEnvironment
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.loop import CycleLoop
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.state import RunSpec, RunState, RunToolState
from agentcycle.tools.base import RunScope
from agentcycle.tools.builtin.agent_tool import SUB_RUN_UNAVAILABLE
from agentcycle.workspace.base import WorkspaceBackend

if TYPE_CHECKING:
    from agentcycle.multiagent._sub_tasks import SubTasks


class ChildLauncher(Protocol):
    """Compiles ``agent`` with ``input`` as a child run and wires its loop (assembly
    implements it, so multi-agent needs nothing of assembly). ``open_bus`` makes the child's
    event bus once its spec is known."""

    async def __call__(
        self,
        agent: Agent,
        input: Any,
        config: RunConfig,
        *,
        parent_run_id: str,
        tool_state: RunToolState | None,
        open_bus: Callable[[RunSpec], EventBus],
        broker: ApprovalBroker,
        meter: BudgetMeter | None,
    ) -> CycleLoop:
        """The child's loop, not started yet."""
        ...


SUB_RUN_FAILED = "sub_run_failed"
SUB_RUN_WAITING = "sub_run_waiting"


class ChildRun:
    """A started child run: await ``result()``, or ``cancel()`` it."""

    __slots__ = (
        "_bus",
        "_env",
        "_loop",
        "_owner",
        "_task",
        "cycle_index",
        "parent_tool_call_id",
        "reported",
        "task_id",
    )

    def __init__(
        self,
        owner: ChildRuns,
        loop: CycleLoop,
        *,
        parent_tool_call_id: str | None,
        task_id: str | None,
        cycle_index: int | None,
    ) -> None:
        self._owner = owner
        self._env = loop.env
        self._bus = loop.env.bus
        self._loop = loop
        self.parent_tool_call_id = parent_tool_call_id
        self.task_id = task_id
        self.cycle_index = cycle_index
        self.reported = False
        self._task = asyncio.get_running_loop().create_task(
            self._drive(), name=f"agentcycle-child-{self.run_id}"
        )

    @property
    def run_id(self) -> str:
        """The child's run id."""
        return self._env.state.spec.run_id

    @property
    def agent_name(self) -> str:
        """The agent in control of the child run now."""
        return self._bus.agent_name or self._env.state.spec.agent_name

    def done(self) -> bool:
        """True once the child run ended."""
        return self._task.done()

    def events(self, since_seq: int | None = None) -> AsyncIterator[RunEvent]:
        """The child's own events (and its children's), from the start or after ``since_seq``."""
        return self._bus.subscribe(since_seq)

    def state(self) -> RunState:
        """The child's state so far."""
        return self._env.state

    @property
    def tool_state(self) -> RunToolState:
        """The child's tool state as it changes (read it, never change it)."""
        return self._env.tool_state

    @property
    def messages(self) -> list[Message]:
        """The child's history as it grows (read it, never change it)."""
        return self._env.history

    def steer(self, text: str) -> None:
        """Give the child a user message at its next model call (``RunHandle.steer``)."""
        self._loop.steer(text)

    async def result(self) -> RunResult:
        """Wait for the child to end. Cancelling the waiter does not cancel the child."""
        return await asyncio.shield(self._task)

    async def outcome(self) -> RunResult | None:
        """Wait for the child to end without raising for its cancellation: its result, or
        ``None`` when it was cancelled before its loop ran. Cancelling the waiter does not
        cancel the child."""
        await asyncio.wait({self._task})
        return None if self._task.cancelled() else self._task.result()

    async def cancel(self, reason: str) -> None:
        """Cancel the child (idempotent) and wait until it has ended."""
        if not self._task.done():
            self._loop.request_cancel(reason)
            self._task.cancel()
        await asyncio.wait({self._task})
        if not self.reported:  # cancelled before its loop ever ran
            self._owner.ended(self, None)

    async def _drive(self) -> RunResult:
        try:
            outcome = await self._loop.run()
        except asyncio.CancelledError:
            self._owner.ended(self, None)
            raise
        result = build_result(self._env, outcome)
        self._owner.ended(self, result)
        return result


class ChildRuns:
    """Starts and tracks the child runs of one run (``ToolContext.children``)."""

    # One per run, most never used: slots keep its cost per concurrent run small.
    __slots__ = (
        "_broker",
        "_bus",
        "_closing",
        "_config",
        "_launch",
        "_loop",
        "_meter",
        "_running",
        "_scope",
        "_tasks",
    )

    def __init__(
        self,
        *,
        config: RunConfig,
        bus: EventBus,
        broker: ApprovalBroker,
        meter: BudgetMeter | None,
        scope: RunScope,
        launch: ChildLauncher,
    ) -> None:
        self._config = config
        self._scope = scope
        self._bus = bus
        self._broker = broker
        self._meter = meter
        self._launch = launch
        self._loop: CycleLoop | None = None
        self._running: dict[str, ChildRun] | None = None  # made by the first start
        self._tasks: SubTasks | None = None  # made by the first create_sub_task
        self._closing = False

    def attach(self, loop: CycleLoop) -> None:
        """Bind the parent's loop (its environment, usage and cancel reason); done before the
        parent starts, so every other method may rely on it."""
        self._loop = loop

    @property
    def _env(self) -> RunEnvironment:
        loop = self._loop
        assert loop is not None, "ChildRuns.attach comes first"
        return loop.env

    @property
    def running(self) -> list[ChildRun]:
        """Children that have not ended yet."""
        return list(self._running.values()) if self._running is not None else []

    @property
    def sub_tasks(self) -> SubTasks:
        """The run's configured-sub-agent tasks (``create_sub_task``), made on first use."""
        if self._tasks is None:
            from agentcycle.multiagent._sub_tasks import SubTasks

            self._track()
            self._tasks = SubTasks(self, self._env.tool_state)
        return self._tasks

    @property
    def started_sub_tasks(self) -> SubTasks | None:
        """The run's sub-tasks, ``None`` when it never created one."""
        return self._tasks

    @property
    def workspace(self) -> WorkspaceBackend | None:
        """The parent run's workspace (``None`` without one)."""
        return self._env.workspace

    def parent_history(self) -> list[Message]:
        """The parent run's history as it grows (read it, never change it)."""
        return self._env.history

    async def start(
        self,
        agent: Agent,
        input: Any,
        *,
        parent_tool_call_id: str | None = None,
        task_id: str | None = None,
        cycle_index: int | None = None,
        max_cycles: int | None = None,
        workspace: WorkspaceBackend | None = None,
        tool_state: RunToolState | None = None,
    ) -> ChildRun:
        """Compile ``agent`` with ``input`` as a child of this run and start it in its own task.
        ``workspace`` replaces the parent's (a filtered view of it); ``tool_state`` is the one
        the child starts from (a sub-task's follow-up). Raises
        ``ConfigurationError`` (before any event) when the child cannot be compiled, and
        ``sub_run_unavailable`` once the parent run is ending."""
        if self._closing:
            raise AgentcycleError(
                "the parent run is ending: no new child run can start",
                code=SUB_RUN_UNAVAILABLE,
            )
        config = self._child_config(agent, max_cycles, workspace)

        def open_bus(spec: RunSpec) -> EventBus:
            started = self._bus.emit(
                SubRunStarted,
                cycle_index=cycle_index,
                parent_tool_call_id=parent_tool_call_id,
                task_id=task_id,
                child_run_id=spec.run_id,
                child_agent_name=spec.agent_name,
            )
            bus = EventBus(
                run_id=spec.run_id,
                trace_id=spec.trace_id,
                agent_name=spec.agent_name,
                parent_run_id=self._bus.run_id,
                parent_event_id=started.event_id,
            )
            bus.add_listener(self._bus.forward)
            return bus

        loop = await self._launch(
            agent,
            input,
            config,
            parent_run_id=self._bus.run_id,
            tool_state=tool_state,
            open_bus=open_bus,
            broker=self._broker,
            meter=self._meter,
        )
        child = ChildRun(
            self,
            loop,
            parent_tool_call_id=parent_tool_call_id,
            task_id=task_id,
            cycle_index=cycle_index,
        )
        self._track()[child.run_id] = child
        return child

    def _track(self) -> dict[str, ChildRun]:
        """The running children, registering the run-end cleanup on first use."""
        if self._running is None:
            self._running = {}
            # Children still running when the run ends (it failed, was cancelled, or left
            # them in the background) end with it, before its terminal event.
            self._scope.on_close(self.aclose)
        return self._running

    async def run_task(
        self,
        agent: Any,
        task: str,
        *,
        parent_tool_call_id: str | None,
        cycle_index: int | None,
    ) -> ToolResult:
        """Run ``agent`` on ``task`` and return its result as the calling model sees it (the
        ``ChildRunner`` protocol of ``Agent.as_tool``); if the caller is cancelled (the parent
        run is), the child is cancelled and has ended before the cancellation propagates."""
        child = await self.start(
            agent, task, parent_tool_call_id=parent_tool_call_id, cycle_index=cycle_index
        )
        try:
            result = await child.result()
        except asyncio.CancelledError:
            await child.cancel(self.cancel_reason())
            raise
        return child_tool_result(result)

    async def aclose(self) -> None:
        """Cancel every sub-task and child still running (the parent run is ending)."""
        self._closing = True
        if self._tasks is not None:
            await self._tasks.aclose()
        for child in self.running:
            await child.cancel(self.cancel_reason())

    def ended(self, child: ChildRun, result: RunResult | None) -> None:
        """Account for a child that ended (``None``: cancelled before it produced a result):
        its model calls join the parent's usage and the parent emits ``sub_run_completed``."""
        if child.reported:
            return
        child.reported = True
        if self._running is not None:
            self._running.pop(child.run_id, None)
        if result is not None and self._loop is not None:
            self._loop.add_model_calls(
                [
                    r if r.run_id is not None else dataclasses.replace(r, run_id=child.run_id)
                    for r in result.model_calls
                ]
            )
        if self._bus.closed:
            return
        error = result.error if result is not None else None
        self._bus.emit(
            SubRunCompleted,
            cycle_index=child.cycle_index,
            parent_tool_call_id=child.parent_tool_call_id,
            task_id=child.task_id,
            child_run_id=child.run_id,
            child_agent_name=child.agent_name,
            status=(result.status if result is not None else RunStatus.CANCELLED).value,
            final_output=_jsonable(result.final_output) if result is not None else None,
            error_code=error["code"] if error else None,
        )

    def _child_config(
        self, agent: Agent, max_cycles: int | None, workspace: WorkspaceBackend | None
    ) -> RunConfig:
        parent = self._config
        env = self._env
        model: Any = None
        if agent.model is None:
            model = parent.model or env.agent.model
        return RunConfig(
            model=model,
            model_provider=parent.model_provider,
            settings_file=parent.settings_file,
            default_backend=parent.default_backend,
            workspace=workspace if workspace is not None else env.workspace,
            max_cycles=max_cycles,
            language=env.language,
            policy=inherited_policy(env.agent.policy),
            price_table=parent.price_table,
            context=parent.context,
            metadata=dict(parent.metadata),
            trace_id=self._bus.trace_id,
        )

    def cancel_reason(self) -> str:
        """Why children are being cancelled: the parent ended, or was cancelled (and why)."""
        reason = self._loop.cancel_reason if self._loop is not None else None
        if reason is None:
            return "the parent run ended"
        return f"the parent run was cancelled: {reason}"


def inherited_policy(policy: ToolPolicy) -> ToolPolicy:
    """What of a parent's effective policy binds its children: the deny rules and the approval
    mode (a child's own policy comes first and can only narrow them)."""
    return ToolPolicy(
        disallowed_tools=policy.disallowed_tools,
        denied_side_effects=policy.denied_side_effects,
        can_use_tool=policy.can_use_tool,
        approval_mode=policy.approval_mode,
    )


def child_tool_result(result: RunResult) -> ToolResult:
    """A child run's result as the parent model sees it: the final output (typed outputs as
    JSON) when it completed; otherwise an error result. A child waiting for the user cannot
    ask: only the parent talks to the user, so its question comes back as ``sub_run_waiting``
    for the parent model to answer, ask the user itself, or retry with more detail."""
    metadata = {"child_run_id": result.run_id, "agent_name": result.agent_name}
    if result.status is RunStatus.COMPLETED:
        output = result.final_output
        text = output if isinstance(output, str) else dumps(_jsonable(output))
        return ToolResult.success(text, metadata=metadata)
    if result.status is RunStatus.WAIT_USER:
        wait = result.wait or {}
        details = {k: wait[k] for k in ("kind", "question", "options") if k in wait}
        return ToolResult.error(
            SUB_RUN_WAITING,
            f"The sub-agent {result.agent_name!r} stopped without finishing, waiting for input: "
            f"{result.final_output}. It cannot talk to the user; answer from what you know, ask "
            "the user yourself, or call it again with the missing details.",
            details=details,
            metadata=metadata,
        )
    error = result.error or {}
    return ToolResult.error(
        SUB_RUN_FAILED,
        f"The sub-agent {result.agent_name!r} ended {result.status.value}: "
        f"{error.get('message', 'no result')}",
        details={"error_code": error.get("code"), "partial_output": result.partial_output},
        metadata=metadata,
    )


def _jsonable(value: Any) -> Any:
    return to_jsonable_python(value, fallback=str)
