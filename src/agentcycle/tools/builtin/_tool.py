"""A plain Tool implementation for built-ins: a schema plus an async handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agentcycle.messages import ToolResult
from agentcycle.tools.base import SideEffect, ToolContext
from agentcycle.tools.effects import EffectClass

Handler = Callable[[ToolContext, dict[str, Any]], Awaitable[ToolResult]]


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    """A built-in tool: closed JSON schema, declared side effect, async handler. Its effect
    class (``agentcycle.tools.effects``) is ``declared_effect`` when set, else follows the side
    effect: a tool that changes nothing outside the run (``none``, ``read``) is ``read``,
    anything else ``non_idempotent``."""

    name: str
    description: str
    parameters: dict[str, Any]
    handler: Handler
    side_effect: SideEffect = SideEffect.NONE
    read_only: bool = False
    needs_approval: bool = False
    timeout_seconds: float | None = None
    declared_effect: EffectClass | None = None
    escalation_of: Callable[[dict[str, Any]], str | None] | None = None
    """What a call asks for beyond the tool's normal rights (``EscalatingTool``), if it can."""

    def escalation(self, arguments: dict[str, Any]) -> str | None:
        """What this call asks for beyond the tool's normal rights, and why, or ``None``."""
        return self.escalation_of(arguments) if self.escalation_of is not None else None

    @property
    def effect_class(self) -> EffectClass:
        """What re-running a call does after a crash (see ``agentcycle.tools.effects``)."""
        if self.declared_effect is not None:
            return self.declared_effect
        if self.side_effect in (SideEffect.NONE, SideEffect.READ):
            return EffectClass.READ
        return EffectClass.NON_IDEMPOTENT

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
