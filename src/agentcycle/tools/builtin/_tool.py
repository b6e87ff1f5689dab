"""A plain Tool implementation for built-ins: a schema plus an async handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agentcycle.messages import ToolResult
from agentcycle.tools.base import SideEffect, ToolContext

Handler = Callable[[ToolContext, dict[str, Any]], Awaitable[ToolResult]]


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    """A built-in tool: closed JSON schema, declared side effect, async handler."""

    name: str
    description: str
    parameters: dict[str, Any]
    handler: Handler
    side_effect: SideEffect = SideEffect.NONE
    read_only: bool = False
    needs_approval: bool = False
    timeout_seconds: float | None = None

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        """Run the handler."""
        return await self.handler(ctx, arguments)


def closed_object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A closed object schema (``additionalProperties: false``)."""
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    return schema
