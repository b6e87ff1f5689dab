"""Wire a compiled run to its event bus and loop: the one place where top-level runs
(``Runner``) and child runs (``ChildRuns``, through ``launch_child``) are assembled, so both
run the same loop the same way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentcycle.agent import Agent
from agentcycle.assembly._compile import CompiledRun, compile_run
from agentcycle.models.base import Model
from agentcycle.multiagent._child_runs import ChildRuns
from agentcycle.run_config import RunConfig
from agentcycle.runtime.approvals import ApprovalBroker
from agentcycle.runtime.budget_meter import BudgetMeter
from agentcycle.runtime.environment import RunEnvironment
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.loop import CycleLoop, ResumeWork
from agentcycle.state import RunSpec, RunToolState
from agentcycle.tools.base import RunScope

if TYPE_CHECKING:
    from agentcycle.runtime._durable_log import DurableLog


def build_loop(
    compiled: CompiledRun,
    *,
    config: RunConfig,
    bus: EventBus,
    broker: ApprovalBroker,
    resume: ResumeWork | None = None,
    input: Any = None,
    meter: BudgetMeter | None = None,
    durable: DurableLog | None = None,
) -> CycleLoop:
    """The loop of ``compiled``, with its child-run starter. ``meter`` is a parent run's budget
    meter (a child counts against its parent's budget); without one the run meters its own
    ``RunConfig.budget``. The run's session comes from ``config``; ``durable`` is a durable run's
    log writer."""
    budget = compiled.budget
    if meter is None and budget is not None and budget.limits_anything:
        meter = BudgetMeter(budget, asyncio.get_running_loop().time)
    scope = RunScope()
    scope.on_close(compiled.mcp.aclose)  # first registered, so closed last
    children = ChildRuns(
        config=config,
        bus=bus,
        broker=broker,
        meter=meter,
        scope=scope,
        launch=_ChildLauncher(compiled.models),
    )
    env = RunEnvironment(
        state=compiled.state,
        bus=bus,
        history=compiled.history,
        tool_state=compiled.tool_state,
        agent=compiled.agent,
        workspace=compiled.workspace,
        context=compiled.context,
        language=compiled.language,
        scope=scope,
        session=config.session,
        meter=meter,
        children=children,
        approvals=broker,
        hooks=compiled.hooks,
        memory=compiled.memory,
        memory_providers=compiled.memory_providers,
        session_memory_store=compiled.session_memory_store,
        switch_agent=compiled.switch_agent,
        diagnostics=compiled.diagnostics,
        input_checks=compiled.input_checks,
        durable=durable,
    )
    loop = CycleLoop(env, resume=resume, resume_input=input)
    children.attach(loop)
    return loop


class _ChildLauncher:
    """Compiles and wires a child run of a run tree whose models are ``models`` (the
    ``ChildLauncher`` of ``ChildRuns``)."""

    __slots__ = ("_models",)

    def __init__(self, models: list[Model]) -> None:
        self._models = models

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
        compiled = await compile_run(
            agent,
            input,
            config,
            parent_run_id=parent_run_id,
            models=self._models,
            tool_state=tool_state,
        )
        bus = open_bus(compiled.state.spec)
        return build_loop(compiled, config=config, bus=bus, broker=broker, meter=meter)
