"""The approval step of a tool call: ask for a decision, report it, and say what it means for
the call (run it, refuse it, or leave it pending)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from agentcycle.events import ApprovalRequested, ApprovalResolved
from agentcycle.messages import ToolCall, ToolResult
from agentcycle.runtime._cancellation import stray_cancel
from agentcycle.runtime.approvals import (
    ApprovalAction,
    ApprovalDecision,
    ApprovalProvider,
    ApprovalRequest,
    describe,
)
from agentcycle.runtime.event_bus import EventBus, new_id
from agentcycle.state import RunToolState
from agentcycle.tools.base import Tool

TOOL_APPROVAL_DENIED = "tool_approval_denied"
TOOL_APPROVAL_TIMEOUT = "tool_approval_timeout"

StopCause = Literal["cancelled", "budget_exhausted"]
"""Why a run stopped while an approval waited."""


@dataclass(frozen=True, slots=True)
class AwaitingApproval:
    """The call waits for an approval nobody could give now (it stays pending in the state)."""

    request_id: str
    message: str


async def approval_step(
    bus: EventBus,
    approvals: ApprovalProvider | None,
    tool_state: RunToolState,
    tool: Tool,
    call: ToolCall,
    arguments: dict[str, Any],
    cycle_index: int,
    request_id: str | None = None,
    decision: ApprovalDecision | None = None,
    escalation: str | None = None,
    stop_cause: Callable[[], StopCause] | None = None,
) -> ToolResult | AwaitingApproval | None:
    """Get a decision (``decision`` when a resumed run brings one, else from ``approvals``)
    and return ``None`` to run the call, an error result to refuse it, or
    ``AwaitingApproval``. ``allow_session`` approves the tool for the rest of the run (an
    ``escalation``, what the call asks beyond the tool's rights, still asks every time). A run
    stopped during the wait resolves the request ``timeout`` with ``stop_cause()`` (default
    ``cancelled``) and stops."""
    message = describe(tool.name, arguments, tool.side_effect)
    if escalation is not None:
        message = f"{message} - asks to {escalation}"
    request = ApprovalRequest(
        request_id=request_id or new_id("apr"),
        run_id=bus.run_id,
        tool_call_id=call.id,
        tool_name=tool.name,
        arguments=arguments,
        side_effect=tool.side_effect,
        message=message,
    )
    if decision is None:
        bus.emit(
            ApprovalRequested,
            cycle_index=cycle_index,
            request_id=request.request_id,
            tool_call_id=call.id,
            tool_name=tool.name,
            message=request.message,
        )
        try:
            decision = await approvals.decide(request) if approvals is not None else None
        except asyncio.CancelledError:
            if not stray_cancel():
                # The run stops while it waits: the request ends here, before the run's
                # terminal event, so no host waits for it forever.
                bus.emit(
                    ApprovalResolved,
                    cycle_index=cycle_index,
                    request_id=request.request_id,
                    tool_call_id=call.id,
                    tool_name=tool.name,
                    action=ApprovalAction.TIMEOUT.value,
                    cause=stop_cause() if stop_cause is not None else "cancelled",
                )
            raise
    if decision is None:
        return AwaitingApproval(request.request_id, request.message)
    timed_out = decision.action is ApprovalAction.TIMEOUT
    bus.emit(
        ApprovalResolved,
        cycle_index=cycle_index,
        request_id=request.request_id,
        tool_call_id=call.id,
        tool_name=tool.name,
        action=decision.action.value,
        cause="timeout" if timed_out else "answer",
        reason=decision.reason,
    )
    if decision.action is ApprovalAction.ALLOW_SESSION:
        tool_state.approved_tools.add(tool.name)
    if decision.action in (ApprovalAction.ALLOW, ApprovalAction.ALLOW_SESSION):
        return None
    if decision.action is ApprovalAction.TIMEOUT:
        return ToolResult.error(
            TOOL_APPROVAL_TIMEOUT, f"No decision on {tool.name!r} in time; it did not run."
        )
    reason = f" Reason: {decision.reason}" if decision.reason else ""
    return ToolResult.error(
        TOOL_APPROVAL_DENIED, f"The user denied this call to {tool.name!r}.{reason}"
    )
