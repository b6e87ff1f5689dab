"""Wire a compiled run to its event bus and loop: the one place where top-level runs
(``Runner``) and child runs (``ChildRuns``) are assembled, so both run the same loop the same
way."""

from __future__ import annotations

import asyncio
from typing import Any

from agentcycle.assembly._compile import CompiledRun
from agentcycle.multiagent._child_runs import ChildRuns
from agentcycle.run_config import RunConfig
from agentcycle.runtime.approvals import ApprovalBroker
from agentcycle.runtime.budget_meter import BudgetMeter
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.loop import CycleLoop, LoopInputs, ResumeWork
from agentcycle.tools.base import RunScope


def build_loop(
    compiled: CompiledRun,
    *,
    config: RunConfig,
    bus: EventBus,
    broker: ApprovalBroker,
    resume: ResumeWork | None = None,
    input: Any = None,
    meter: BudgetMeter | None = None,
) -> CycleLoop:
    """The loop of ``compiled``, with its child-run starter. ``meter`` is a parent run's budget
    meter (a child counts against its parent's budget); without one the run meters its own
    ``RunConfig.budget``. The run's session comes from ``config``."""
    budget = compiled.budget
    if meter is None and budget is not None and budget.limits_anything:
        meter = BudgetMeter(budget, asyncio.get_running_loop().time)
    scope = RunScope()
    children = ChildRuns(
        config=config,
        compiled=compiled,
        bus=bus,
        broker=broker,
        meter=meter,
        scope=scope,
        launch=build_loop,
    )
    loop = CycleLoop(
        LoopInputs(
            state=compiled.state,
            model=compiled.model,
            tools=compiled.tools,
            tool_specs=compiled.tool_specs,
            bus=bus,
            history=compiled.history,
            tool_state=compiled.tool_state,
            behavior=compiled.behavior,
            workspace=compiled.workspace,
            context=compiled.context,
            language=compiled.language,
            scope=scope,
            policy=compiled.policy,
            approvals=broker,
            resume=resume,
            resume_input=input,
            hooks=compiled.hooks,
            budget=budget,
            price=compiled.price,
            memory=compiled.memory,
            model_info=compiled.info,
            endpoint=compiled.endpoint,
            diagnostics=compiled.diagnostics,
            session=config.session,
            memory_providers=compiled.memory_providers,
            session_memory_store=compiled.session_memory_store,
            meter=meter,
            children=children,
            switch_agent=compiled.switch_agent,
        )
    )
    children.attach(loop)
    return loop
