"""Approvals as the server handles them: the requests it keeps open, how a client's answer
reads, the thread-wide ``allow_session`` rules, and the resolution the server writes itself
when a run leaves a request open (interrupt, shutdown, turn end)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcycle.app_server import _jsonrpc as rpc
from agentcycle.app_server._projection import ApprovalNote, Emission
from agentcycle.app_server.protocol import APPROVAL_DECISIONS

if TYPE_CHECKING:
    from agentcycle.runtime.approval_rules import ApprovalRules
    from agentcycle.runtime.approvals import ApprovalDecision, ApprovalRequest


@dataclass(frozen=True, slots=True)
class OpenApproval:
    """An approval request between ``approval/requested`` and ``approval/resolved``."""

    run_request_id: str
    params: dict[str, Any]
    """The ``approval/requested`` params (also those of ``approval/request``)."""
    expires_at: float
    """When the run's approval timeout decides it (ext ``expiresAt``)."""


class SessionApprovals:
    """The approval provider of a turn's run: the thread's ``ApprovalRules`` (shared by its
    turns; ``allow_session`` adds one for the tool) decide first, every other request is
    left to the host (``RunHandle.approve``). ``decided`` holds the request ids the rules
    answered, whose approval events the server does not show."""

    def __init__(self, rules: ApprovalRules) -> None:
        self._rules = rules
        self.decided: set[str] = set()

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """The rules' decision (a tool allowed for the session), else no decision."""
        decision = await self._rules.decide(request)
        if decision is not None:
            self.decided.add(request.request_id)
        return decision


def read_answer(message: rpc.Response | None) -> tuple[str, str, dict[str, Any] | None]:
    """The decision in a response to ``approval/request`` as ``(decision, reason,
    metadata)``: an error response (or none) is ``timeout``, an unknown decision ``deny``;
    ``message`` is accepted for ``reason``."""
    if message is None or message.error is not None or not isinstance(message.result, dict):
        return "timeout", "no answer from the client", None
    result = message.result
    reason = result.get("reason", result.get("message"))
    reason = reason if isinstance(reason, str) else ""
    metadata = result.get("metadata") if isinstance(result.get("metadata"), dict) else None
    decision = result.get("decision")
    if decision not in APPROVAL_DECISIONS:
        return "deny", "invalid approval response", metadata
    return str(decision), reason, metadata


def timed_out(requested: dict[str, Any], note: ApprovalNote, at: float) -> list[Emission]:
    """The ``item/completed`` and ``approval/resolved`` that end an open request with
    ``timeout`` when its run will not (``requested``: its ``approval/requested`` params)."""
    request_id = requested["requestId"]
    scope = {"threadId": requested["threadId"], "turnId": requested["turnId"]}
    payload = {
        "requestId": request_id,
        "toolCallId": requested["toolCallId"],
        "toolName": requested["toolName"],
        "action": "timeout",
        "approved": False,
        "reason": note.reason,
        "decisionMetadata": note.metadata,
    }
    item = {
        "itemId": f"item_{request_id}:resolved",
        **scope,
        "type": "approval",
        "status": "completed",
        "payload": payload,
        "createdAt": at,
        "updatedAt": at,
    }
    resolved = {"requestId": request_id, **scope, "decision": "timeout", "reason": note.reason}
    return [Emission("item/completed", item, item), Emission("approval/resolved", resolved)]
