"""``Agent.as_tool``: an agent offered to another agent as a tool, run as a child run.

The calling model passes ``task_description`` (required) and ``output_requirements``; the child
sees them as its user input and nothing of the caller's conversation. The call returns when
the child run ends: its final output (a typed ``output_type`` as JSON) as the tool result, or
an error result (``sub_run_failed``, ``sub_run_waiting`` when it stopped to ask something). See
``agentcycle.multiagent._child_runs`` for what the child inherits from the calling run.
"""

from __future__ import annotations

from typing import Any, Protocol

from agentcycle.messages import ToolResult
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._tool import BuiltinTool, closed_object
from agentcycle.tools.effects import EffectClass


class NamedAgent(Protocol):
    """What the tool needs of the agent it runs (an ``Agent``): its name."""

    @property
    def name(self) -> str:
        """The agent's name."""
        ...


SUB_RUN_UNAVAILABLE = "sub_run_unavailable"
"""Error code of a child run that cannot start (outside a runner, or the run is ending)."""

_PARAMETERS = closed_object(
    {
        "task_description": {
            "type": "string",
            "description": (
                "The complete task for the sub-agent: it sees nothing of this conversation, so "
                "include every fact, name and constraint it needs."
            ),
        },
        "output_requirements": {
            "type": "string",
            "description": "What the answer must contain and in what form.",
        },
    },
    ("task_description",),
)


def agent_tool(agent: NamedAgent, *, name: str, description: str | None) -> BuiltinTool:
    """The tool ``name`` that runs ``agent`` as a child run of the calling run."""
    text = description or (
        f"Delegate a task to the agent {agent.name!r}. It works on its own with its own tools "
        "and returns its final answer as this tool's result."
    )

    async def handle(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        children = ctx.children
        if children is None:
            return ToolResult.error(
                SUB_RUN_UNAVAILABLE, "Sub-agents can only run inside a run started by a Runner."
            )
        return await children.run_task(
            agent,
            child_input(args["task_description"], args.get("output_requirements")),
            parent_tool_call_id=ctx.tool_call_id,
            cycle_index=ctx.cycle_index,
        )

    return BuiltinTool(
        name=name,
        description=text,
        parameters=_PARAMETERS,
        handler=handle,
        # A child run may act on the world; running it again could act twice.
        declared_effect=EffectClass.NON_IDEMPOTENT,
    )


def child_input(task_description: str, output_requirements: str | None = None) -> str:
    """The user input a child run gets for a task."""
    if not output_requirements:
        return task_description
    return f"{task_description}\n\nOutput requirements: {output_requirements}"
