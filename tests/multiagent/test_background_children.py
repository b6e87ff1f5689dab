"""``ToolContext.children`` outside agent-as-tool: a child started in the background ends with
its parent instead of outliving it."""

from __future__ import annotations

import asyncio

from agentcycle import Agent, RunStatus, ToolContext, function_tool
from agentcycle.events import RunCancelled, SubRunCompleted, SubRunStarted
from agentcycle.testing import ScriptedModel, call_tool
from tests.multiagent.helpers import of_run, run_with_events


async def test_a_child_still_running_when_the_parent_finishes_is_cancelled_first() -> None:
    entered = asyncio.Event()

    @function_tool
    async def watch() -> str:
        """Waits until cancelled."""
        entered.set()
        await asyncio.Event().wait()
        return "unreachable"

    watcher = Agent(name="Watcher", model=ScriptedModel([call_tool("watch", {})]), tools=[watch])

    @function_tool
    async def spawn(ctx: ToolContext) -> str:
        """Start the watcher in the background."""
        assert ctx.children is not None
        child = await ctx.children.start(
            watcher,
            "watch the logs",
            parent_tool_call_id=ctx.tool_call_id,
            task_id="task-1",
            cycle_index=ctx.cycle_index,
        )
        await entered.wait()
        return child.run_id

    model = ScriptedModel(
        [call_tool("spawn", {}), call_tool("task_finish", {"message": "left it running"})]
    )
    result, events = await run_with_events(Agent(model=model, tools=[spawn]))
    assert result.status is RunStatus.COMPLETED
    started = next(e for e in events if isinstance(e, SubRunStarted))
    child = of_run(events, started.child_run_id)
    assert isinstance(child[-1], RunCancelled) and child[-1].reason == "the parent run ended"
    completed = next(e for e in events if isinstance(e, SubRunCompleted))
    assert (completed.task_id, completed.status) == ("task-1", "cancelled")
    assert events.index(completed) < len(events) - 1
    assert events[-1].run_id == result.run_id and events[-1].type == "run_completed"
