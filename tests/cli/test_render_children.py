"""The terminal view of nested child runs and of a handoff inside a child, from real runs."""

from __future__ import annotations

import io

from agentcycle import Agent, Runner
from agentcycle.cli._render import HumanRenderer
from agentcycle.testing import ScriptedModel, call_tool


async def render(agent: Agent) -> list[str]:
    out = io.StringIO()
    renderer = HumanRenderer(out)
    handle = await Runner.start(agent, "go")
    async for event in handle.events():
        renderer.render(event)
    await handle.result()
    return out.getvalue().splitlines()


async def test_a_grandchild_is_indented_under_its_parent_child() -> None:
    fact = Agent(
        name="fact checker",
        model=ScriptedModel([call_tool("task_finish", {"message": "true"})]),
    )
    researcher = Agent(
        name="researcher",
        model=ScriptedModel(
            [
                call_tool("fact_checker", {"task_description": "is X 42?"}),
                call_tool("task_finish", {"message": "X is 42"}),
            ]
        ),
        tools=[fact.as_tool()],
    )
    planner = Agent(
        name="planner",
        model=ScriptedModel(
            [
                call_tool("researcher", {"task_description": "find X"}),
                call_tool("task_finish", {"message": "done"}),
            ]
        ),
        tools=[researcher.as_tool()],
    )
    assert await render(planner) == [
        '  -> researcher({"task_description": "find X"})',
        '    [researcher] -> fact_checker({"task_description": "is X 42?"})',
        '      [fact checker] -> task_finish({"message": "true"})',
        "    [researcher]    = true",  # each agent tool's result, previewed under its caller
        '    [researcher] -> task_finish({"message": "X is 42"})',
        "     = X is 42",
        '  -> task_finish({"message": "done"})',
    ]


async def test_a_handoff_inside_a_child_names_the_new_agent_on_later_lines() -> None:
    billing = Agent(
        name="billing", model=ScriptedModel([call_tool("task_finish", {"message": "refunded"})])
    )
    desk = Agent(
        name="desk",
        model=ScriptedModel([call_tool("transfer_to_billing", {"input": "a refund"})]),
        handoffs=[billing],
    )
    main = Agent(
        name="main",
        model=ScriptedModel(
            [
                call_tool("desk", {"task_description": "x"}, text="Asking the desk."),
                call_tool("task_finish", {"message": "ok"}),
            ]
        ),
        tools=[desk.as_tool()],
    )
    assert await render(main) == [
        "Asking the desk.",
        '  -> desk({"task_description": "x"})',
        "    [desk] -> handed off to billing: a refund",
        '    [billing] -> task_finish({"message": "refunded"})',
        "     = refunded",
        '  -> task_finish({"message": "ok"})',
    ]
