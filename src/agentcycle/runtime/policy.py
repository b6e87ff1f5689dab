"""Tool policy: which tools a run may use, and which calls need approval.

One engine, applied twice: tools a run may not use are not offered to the model, and a call to
one anyway is refused with ``tool_not_allowed``. Layers stack agent -> runner -> run: allow-lists
narrow (intersection), deny-lists and denied side effects add up, ``can_use_tool`` checks all
apply, and the approval mode of the latest layer that sets one wins.

Active skills narrow further while the run goes on (``state.skill_refusal``, beside the tool
state it reads).
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agentcycle.tools.base import SideEffect, Tool

ToolPredicate = Callable[[str, dict[str, Any]], "bool | Awaitable[bool]"]

UNRESTRICTED_TOOLS = frozenset({"task_finish"})
"""Tools no policy can remove: without ``task_finish`` a run could never complete."""


class ApprovalMode(enum.StrEnum):
    """When a tool call waits for a decision before it runs.

    ``default``: tools that declare ``execute`` side effects or ``needs_approval``.
    ``always``: every tool with a side effect other than ``none``.
    ``never``: no call asks (trusted automation).
    ``on_request``: only tools that declare ``needs_approval``.
    """

    DEFAULT = "default"
    ALWAYS = "always"
    NEVER = "never"
    ON_REQUEST = "on_request"


# Enum members as plain names: on Python 3.11 each ``ApprovalMode.X`` lookup is a descriptor
# call, and ``needs_approval`` runs for every tool call.
_DEFAULT, _ALWAYS = ApprovalMode.DEFAULT, ApprovalMode.ALWAYS
_NEVER, _ON_REQUEST = ApprovalMode.NEVER, ApprovalMode.ON_REQUEST
_EXECUTE, _NONE = SideEffect.EXECUTE, SideEffect.NONE


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """What tools may run. ``None`` allow-list means every tool."""

    allowed_tools: frozenset[str] | None = None
    disallowed_tools: frozenset[str] = frozenset()
    denied_side_effects: frozenset[SideEffect] = frozenset()
    can_use_tool: tuple[ToolPredicate, ...] = field(default=())
    approval_mode: ApprovalMode | None = None

    @classmethod
    def of(
        cls,
        *,
        allowed_tools: Iterable[str] | None = None,
        disallowed_tools: Iterable[str] = (),
        denied_side_effects: Iterable[SideEffect | str] = (),
        can_use_tool: ToolPredicate | None = None,
        approval_mode: ApprovalMode | str | None = None,
    ) -> ToolPolicy:
        """Build a policy from plain iterables and strings."""
        return cls(
            allowed_tools=frozenset(allowed_tools) if allowed_tools is not None else None,
            disallowed_tools=frozenset(disallowed_tools),
            denied_side_effects=frozenset(SideEffect(s) for s in denied_side_effects),
            can_use_tool=(can_use_tool,) if can_use_tool is not None else (),
            approval_mode=ApprovalMode(approval_mode) if approval_mode is not None else None,
        )

    def then(self, later: ToolPolicy | None) -> ToolPolicy:
        """This policy narrowed by ``later`` (the next layer: agent -> runner -> run)."""
        if later is None:
            return self
        if self.allowed_tools is None:
            allowed = later.allowed_tools
        elif later.allowed_tools is None:
            allowed = self.allowed_tools
        else:
            allowed = self.allowed_tools & later.allowed_tools
        return ToolPolicy(
            allowed_tools=allowed,
            disallowed_tools=self.disallowed_tools | later.disallowed_tools,
            denied_side_effects=self.denied_side_effects | later.denied_side_effects,
            can_use_tool=self.can_use_tool + later.can_use_tool,
            approval_mode=later.approval_mode or self.approval_mode,
        )

    def offers(self, tool: Tool) -> bool:
        """Whether ``tool`` is offered to the model at all."""
        return self.refusal(tool) is None

    def refusal(self, tool: Tool) -> str | None:
        """Why ``tool`` may not be used, or ``None`` when it may (argument checks aside)."""
        name = tool.name
        if name in UNRESTRICTED_TOOLS:
            return None
        if self.allowed_tools is not None and name not in self.allowed_tools:
            return f"{name!r} is not in this run's allowed tools"
        if name in self.disallowed_tools:
            return f"{name!r} is disallowed for this run"
        if tool.side_effect in self.denied_side_effects:
            return f"{name!r} has side effect {tool.side_effect.value!r}, denied for this run"
        return None

    async def call_refusal(self, tool: Tool, arguments: dict[str, Any]) -> str | None:
        """Why this call may not run, or ``None``: the tool checks plus ``can_use_tool``."""
        reason = self.refusal(tool)
        if reason is not None or tool.name in UNRESTRICTED_TOOLS:
            return reason
        for predicate in self.can_use_tool:
            verdict = predicate(tool.name, arguments)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if not verdict:
                return f"the run's policy refused this call to {tool.name!r}"
        return None

    def needs_approval(self, tool: Tool) -> bool:
        """Whether a call to ``tool`` waits for a decision under this policy's mode."""
        mode = self.approval_mode or _DEFAULT
        if mode is _NEVER:
            return False
        if mode is _ON_REQUEST:
            return tool.needs_approval
        if mode is _ALWAYS:
            return tool.needs_approval or tool.side_effect is not _NONE
        return tool.needs_approval or tool.side_effect is _EXECUTE
