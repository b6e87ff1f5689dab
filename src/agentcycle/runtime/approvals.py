"""Approvals: a decision before a tool call with consequences runs.

An ``ApprovalProvider`` answers ``ApprovalRequest``s. Returning ``None`` means "no decision
here": with nobody else to ask, the run ends in ``wait_user`` with the pending call recorded in
its state — never a silent allow.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agentcycle.tools.base import SideEffect


class ApprovalAction(enum.StrEnum):
    """How a pending call was decided."""

    ALLOW = "allow"
    ALLOW_SESSION = "allow_session"
    """Allow this tool for the rest of the run."""
    DENY = "deny"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A tool call waiting for a decision."""

    request_id: str
    run_id: str
    tool_call_id: str
    tool_name: str
    arguments: dict[str, Any]
    side_effect: SideEffect
    message: str


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """The answer to an ``ApprovalRequest``; ``reason`` is shown to the model on deny."""

    action: ApprovalAction
    reason: str | None = None

    @classmethod
    def allow(cls) -> ApprovalDecision:
        """Run this call."""
        return cls(ApprovalAction.ALLOW)

    @classmethod
    def allow_session(cls) -> ApprovalDecision:
        """Run this call and every later call of the same tool in this run."""
        return cls(ApprovalAction.ALLOW_SESSION)

    @classmethod
    def deny(cls, reason: str | None = None) -> ApprovalDecision:
        """Refuse the call; the model sees ``reason``."""
        return cls(ApprovalAction.DENY, reason)


@runtime_checkable
class ApprovalProvider(Protocol):
    """Decides approval requests (a person at a terminal, a rule set, a host UI)."""

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """The decision, or ``None`` to leave the call pending for the host."""
        ...


def describe(tool_name: str, arguments: dict[str, Any], side_effect: SideEffect) -> str:
    """A one-line description of a call for the person deciding."""
    from agentcycle._json import dumps

    text = dumps(arguments)
    if len(text) > 200:
        text = text[:199] + "…"
    return f"{tool_name} ({side_effect.value}) {text}"
