"""The ``transfer_to_<agent>`` tools: a call asks the loop to hand the run to another agent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentcycle._json import dumps
from agentcycle.messages import HandOff, ToolResult
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._tool import BuiltinTool, closed_object

MAX_HANDOFFS_EXCEEDED = "max_handoffs_exceeded"


@dataclass(slots=True)
class HandoffCounter:
    """The handoffs one run has made against its limit; every transfer tool of the run (the
    targets' ones too) shares it."""

    limit: int
    used: int = 0


def transfer_tool(
    name: str, target: str, description: str | None, counter: HandoffCounter
) -> BuiltinTool:
    """The tool that hands the run to the agent named ``target``."""
    parameters = closed_object(
        {
            "input": {
                "type": "string",
                "description": (
                    "What the next agent needs to know: the user's request and what has been "
                    "found or done so far."
                ),
            }
        },
        ("input",),
    )
    text = (
        f"Hand this conversation to the agent {target!r}, who takes over from the next turn "
        "with its own tools; you stop working on it."
    )
    if description:
        text = f"{text} Use it for: {description}"

    async def handle(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        if counter.used >= counter.limit:
            return ToolResult.error(
                MAX_HANDOFFS_EXCEEDED,
                f"This run already handed off {counter.used} times, its limit (max_handoffs); "
                "continue with the task yourself.",
            )
        counter.used += 1
        return ToolResult.success(
            dumps({"ok": True, "handed_off_to": target}),
            directive=HandOff(target=target, input=args["input"]),
        )

    return BuiltinTool(name=name, description=text, parameters=parameters, handler=handle)
