"""RunEvent -> protocol items and notifications (APP_SERVER.md §10, §7).

A ``TurnProjector`` reads one turn's run events in order and says what to persist and send:
``Emission``s (a notification, with the item it carries) and, at the terminal event, the
``TurnEnd``. It is the only place that knows the mapping; the server persists and delivers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agentcycle.errors import EffectNeedsReconciliation
from agentcycle.events import (
    ApprovalRequested,
    ApprovalResolved,
    AssistantDelta,
    AssistantMessageEvent,
    BudgetExhausted,
    HandoffCompleted,
    HandoffStarted,
    MemoryCompactCompleted,
    MemoryCompactStarted,
    ModelCallCompleted,
    ModelCallFailed,
    ModelCallStarted,
    ModelToolCallProgress,
    ModelToolCallStarted,
    RunCancelled,
    RunCompleted,
    RunEvent,
    RunFailed,
    RunStarted,
    RunStatus,
    SubRunCompleted,
    SubRunStarted,
    ToolCallCompleted,
    ToolCallPlanned,
    ToolCallStarted,
)
from agentcycle.messages import TokenUsage

TASK_USAGE_SCHEMA = "vv-agent.task-token-usage.v2"
CALL_USAGE_SCHEMA = "vv-agent.token-usage.v1"
"""Wire constants of v1's usage objects (kept verbatim)."""

_ModelCallEvent = ModelCallStarted | ModelCallCompleted | ModelCallFailed
_ExtEvent = (
    MemoryCompactStarted
    | MemoryCompactCompleted
    | SubRunStarted
    | SubRunCompleted
    | HandoffStarted
    | HandoffCompleted
)

EXT_ITEM_TYPES = frozenset({"memoryCompact", "subRun", "handoff"})
"""Item types only experimental connections see (live or in snapshots)."""

_TOOL_ITEM_STATUS = {
    "success": "completed",
    "error": "failed",
    "wait_response": "inProgress",
    "running": "inProgress",
    "started": "started",
}


INTERRUPTED_TOOL_CALL = "tool_call_interrupted"
"""The ``errorCode`` of a ``toolCall`` item closed because its run stopped while it ran."""


def interrupted_tool_call(
    started_id: str, thread_id: str, turn_id: str, tool_call_id: str, tool_name: str, at: float
) -> dict[str, Any]:
    """The ``item/completed toolCall`` (status ``failed``, payload status ``interrupted``,
    id ``<started_id>_interrupted``: one close per started item) that closes a call whose
    ``item/started`` has no completion: the process running it was
    killed, and the turn then ended without the call's result (a restart failed the turn, or
    the resumed run stopped for a reconciliation). Its outcome is unknown, so its duration
    and result preview are ``null``."""
    payload = {
        "toolCallId": tool_call_id,
        "toolName": tool_name,
        "status": "interrupted",
        "directive": None,
        "errorCode": INTERRUPTED_TOOL_CALL,
        "executionStarted": True,
        "durationMs": None,
        "resultPreview": None,
    }
    return {
        "itemId": f"{started_id}_interrupted",
        "threadId": thread_id,
        "turnId": turn_id,
        "type": "toolCall",
        "status": "failed",
        "payload": payload,
        "createdAt": at,
        "updatedAt": at,
    }


def open_tool_calls(items: Iterable[dict[str, Any]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """``toolCallId -> (toolName, its last started item)`` for the ``toolCall`` items among
    ``items`` (one turn's, in order) that started and were never completed: an
    ``item/started`` item (status ``started``) opens a call, an item of
    ``tool_call_completed``'s shape (it says ``executionStarted``) closes it; argument deltas
    (``inProgress``) do neither."""
    running: dict[str, tuple[str, dict[str, Any]]] = {}
    for item in items:
        if item.get("type") != "toolCall":
            continue
        payload = item.get("payload") or {}
        call_id = payload.get("toolCallId")
        if not isinstance(call_id, str):
            continue
        if "executionStarted" in payload:
            running.pop(call_id, None)
        elif item.get("status") == "started":
            running[call_id] = (str(payload.get("toolName") or ""), item)
    return running


def approval_wire_id(run_request_id: str) -> str:
    """The protocol's ``approval_<hex>`` id for a run's approval request id."""
    _, _, tail = run_request_id.partition("_")
    return f"approval_{tail or run_request_id}"


@dataclass(frozen=True, slots=True)
class Emission:
    """One notification to persist and send; ``item`` is the ``AppItem`` it carries (stored
    before sending). ``server_request`` marks the owner-only ``approval/request``."""

    method: str
    params: dict[str, Any]
    item: dict[str, Any] | None = None
    server_request: bool = False
    ext: bool = False
    """For experimental connections only (ext item types)."""


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """How the turn ended: its ``status`` and the optional ``turn/completed`` fields."""

    status: str
    fields: dict[str, Any]
    reconciliation: bool = False
    """The resumed run stopped at a tool call that may have acted and cannot be verified
    (``EffectNeedsReconciliation``): the turn is ``interrupted``, and its ``checkpoint`` and
    ``interruption`` come from the run's log (``_resume.reconciliation_fields``)."""


@dataclass(frozen=True, slots=True)
class ApprovalNote:
    """What the server knows of a decision beyond the event: its reason and metadata."""

    reason: str
    metadata: dict[str, Any] = field(default_factory=dict)


def call_usage(usage: TokenUsage) -> dict[str, Any]:
    """A model call's usage object (unknown counts stay ``null``)."""
    known = usage.input_tokens is not None or usage.output_tokens is not None
    uncached = None
    if usage.input_tokens is not None and usage.cached_tokens is not None:
        uncached = usage.input_tokens - usage.cached_tokens
    return {
        "schemaVersion": CALL_USAGE_SCHEMA,
        "inputTokens": usage.input_tokens,
        "outputTokens": usage.output_tokens,
        "totalTokens": usage.total_tokens,
        "reasoningTokens": usage.reasoning_tokens,
        "usageSource": "provider_reported" if known else "accounting_missing",
        "cacheUsage": {
            "status": "provider_reported"
            if usage.cached_tokens is not None
            else ("accounting_missing"),
            "readInputTokens": usage.cached_tokens,
            "writeInputTokens": usage.cache_creation_tokens,
            "uncachedInputTokens": uncached,
            "source": "provider_usage" if usage.cached_tokens is not None else None,
        },
        "providerUsage": {},
    }


class TurnProjector:
    """Projects one turn's run events (see the module docstring).

    ``note_for(request_id)`` gives the server's record of an approval decision (reason,
    metadata) by protocol request id, or ``None`` when the run decided alone (timeout).
    """

    def __init__(
        self,
        thread_id: str,
        turn_id: str,
        note_for: Callable[[str], ApprovalNote | None],
    ) -> None:
        self._thread_id = thread_id
        self._turn_id = turn_id
        self._note_for = note_for
        self._arguments: dict[str, Any] = {}
        self._calls: list[dict[str, Any]] = []
        self._usage = TokenUsage()
        self._budget: tuple[dict[str, Any], str] | None = None
        self._run_request_ids: dict[str, str] = {}
        self._running: dict[str, tuple[str, str]] = {}
        """Tool calls started and not completed, in order: ``toolCallId -> (toolName, the
        itemId of its started item)``."""
        self.run_id: str | None = None

    def keep_running(self, call_ids: Iterable[str]) -> None:
        """Forget the started calls not in ``call_ids``: a resumed turn's earlier events
        (its backlog) reopen calls that a restart closed already (``open_tool_calls``)."""
        kept = set(call_ids)
        self._running = {k: v for k, v in self._running.items() if k in kept}

    def run_request_id(self, request_id: str) -> str | None:
        """The run's approval request id behind a protocol ``requestId``."""
        return self._run_request_ids.get(request_id)

    def _item(
        self, event: RunEvent, kind: str, status: str, payload: dict[str, Any], suffix: str = ""
    ) -> dict[str, Any]:
        return {
            "itemId": f"item_{event.event_id}{suffix}",
            "threadId": self._thread_id,
            "turnId": self._turn_id,
            "type": kind,
            "status": status,
            "payload": payload,
            "createdAt": event.created_at,
            "updatedAt": event.created_at,
        }

    def project(self, event: RunEvent) -> tuple[list[Emission], TurnEnd | None]:
        """The emissions for ``event`` and, for the run's terminal event, the turn's end."""
        if event.parent_run_id is not None:
            # Child runs are not projected in v1, except approvals the client must answer.
            if isinstance(event, ApprovalRequested | ApprovalResolved | ToolCallPlanned):
                return self._approval(event), None
            return [], None
        if self.run_id is None:
            self.run_id = event.run_id
        if isinstance(event, RunCompleted | RunFailed | RunCancelled):
            return self._terminal(event)
        if isinstance(event, RunStarted):
            if event.input is None:
                return [], None  # a durable run resumed (``turn/resume``): no new user input
            text = event.input if isinstance(event.input, str) else ""
            item = self._item(event, "userMessage", "completed", {"text": text})
            return [Emission("item/completed", item, item)], None
        if isinstance(event, _ModelCallEvent):
            return self._model_call(event), None
        if isinstance(event, AssistantDelta):
            item = self._item(event, "agentMessage", "inProgress", {"delta": event.delta})
            return [Emission("item/agentMessage/delta", {**item, "delta": event.delta}, item)], None
        if isinstance(event, ModelToolCallStarted | ModelToolCallProgress):
            payload: dict[str, Any] = {
                "toolCallId": event.tool_call_id,
                "toolName": event.tool_name,
            }
            item = self._item(event, "toolCall", "inProgress", payload)
            delta = {
                "toolCallId": event.tool_call_id,
                "toolCallIndex": event.tool_call_index,
                "toolName": event.tool_name,
                "argumentsChars": event.arguments_chars,
            }
            return [Emission("item/toolCall/delta", {**item, "delta": delta}, item)], None
        if isinstance(event, AssistantMessageEvent):
            if not event.text:
                return [], None
            item = self._item(event, "agentMessage", "completed", {"text": event.text})
            return [Emission("item/completed", item, item)], None
        if isinstance(event, ApprovalRequested | ApprovalResolved | ToolCallPlanned):
            return self._approval(event), None
        if isinstance(event, ToolCallStarted):
            payload = {"toolCallId": event.tool_call_id, "toolName": event.tool_name}
            item = self._item(event, "toolCall", "started", payload)
            self._running[event.tool_call_id] = (event.tool_name, item["itemId"])
            arguments = event.arguments
            return [
                Emission("item/started", item, item),
                Emission("item/toolCall/delta", {**item, "delta": arguments}, item),
            ], None
        if isinstance(event, ToolCallCompleted):
            self._running.pop(event.tool_call_id, None)
            payload = {
                "toolCallId": event.tool_call_id,
                "toolName": event.tool_name,
                "status": event.status,
                "directive": event.directive,
                "errorCode": event.error_code,
                "executionStarted": event.execution_started,
                "durationMs": event.duration_ms if event.execution_started else None,
                "resultPreview": event.result_preview,
            }
            status = _TOOL_ITEM_STATUS.get(event.status, "completed")
            item = self._item(event, "toolCall", status, payload)
            return [Emission("item/completed", item, item)], None
        if isinstance(event, _ExtEvent):
            return [self._ext_item(event)], None
        if isinstance(event, BudgetExhausted):
            self._budget = (dict(event.usage), event.limit)
        return [], None

    def _ext_item(self, event: _ExtEvent) -> Emission:
        """ext ``memoryCompact``, ``subRun`` and ``handoff`` items: ``item/started`` when
        the step begins, ``item/completed`` (``failed`` when a sub-run or handoff did not
        complete) when it ends."""
        payload: dict[str, Any]
        if isinstance(event, MemoryCompactStarted):
            kind, status = "memoryCompact", "started"
            payload = {
                "trigger": event.trigger,
                "messageCount": event.message_count,
                "estimatedTokens": event.estimated_tokens,
            }
        elif isinstance(event, MemoryCompactCompleted):
            kind, status = "memoryCompact", "completed"
            payload = {
                "mode": event.mode,
                "beforeCount": event.before_count,
                "afterCount": event.after_count,
                "tokensBefore": event.tokens_before,
                "tokensAfter": event.tokens_after,
                "reclaimedTokens": event.reclaimed_tokens,
                "archivedCount": event.archived_count,
            }
        elif isinstance(event, SubRunStarted | SubRunCompleted):
            kind, status = "subRun", "started"
            payload = {
                "childRunId": event.child_run_id,
                "childAgentName": event.child_agent_name,
                "parentToolCallId": event.parent_tool_call_id,
                "taskId": event.task_id,
            }
            if isinstance(event, SubRunCompleted):
                status = "completed" if event.status == "completed" else "failed"
                payload["status"] = event.status
                payload["finalOutput"] = event.final_output
                payload["errorCode"] = event.error_code
        else:
            kind, status = "handoff", "started"
            payload = {
                "sourceAgent": event.source_agent,
                "targetAgent": event.target_agent,
                "toolCallId": event.tool_call_id,
            }
            if isinstance(event, HandoffCompleted):
                status = "completed" if event.status == "completed" else "failed"
                payload["status"] = event.status
        item = self._item(event, kind, status, payload)
        method = "item/started" if status == "started" else "item/completed"
        return Emission(method, item, item, ext=True)

    def _model_call(self, event: _ModelCallEvent) -> list[Emission]:
        payload: dict[str, Any] = {
            "callId": event.call_id,
            "operationId": event.operation_id,
            "attempt": event.attempt,
            "operation": event.operation,
            "cycleIndex": event.cycle_index,
            "backend": event.backend,
            "model": event.model,
        }
        if isinstance(event, ModelCallStarted):
            item = self._item(event, "modelCall", "started", payload)
            return [Emission("item/started", item, item)]
        if isinstance(event, ModelCallCompleted):
            usage = call_usage(event.usage)
            self._usage = self._usage + event.usage
            self._calls.append(
                {
                    **{key: payload[key] for key in ("callId", "operationId", "attempt")},
                    "operation": event.operation,
                    "cycleIndex": event.cycle_index,
                    "backend": event.backend,
                    "model": event.model,
                    "status": "completed",
                    "errorCode": None,
                    "usage": usage,
                }
            )
            item = self._item(event, "modelCall", "completed", {**payload, "usage": usage})
            return [Emission("item/completed", item, item)]
        if isinstance(event, ModelCallFailed):
            failed = {
                **payload,
                "outcome": event.outcome,
                "usage": call_usage(event.usage),
                "errorCode": event.error_code,
            }
            item = self._item(event, "modelCall", "failed", failed)
            return [Emission("item/completed", item, item)]
        raise AssertionError(f"not a model call event: {event.type}")

    def _approval(
        self, event: ApprovalRequested | ApprovalResolved | ToolCallPlanned
    ) -> list[Emission]:
        if isinstance(event, ToolCallPlanned):
            # Nothing is sent for a planned call; its arguments go with its approval.
            arguments = event.arguments
            self._arguments[event.tool_call_id] = arguments if isinstance(arguments, dict) else {}
            return []
        request_id = approval_wire_id(event.request_id)
        self._run_request_ids[request_id] = event.request_id
        scope = {"requestId": request_id, "threadId": self._thread_id, "turnId": self._turn_id}
        if isinstance(event, ApprovalRequested):
            arguments = self._arguments.get(event.tool_call_id, {})
            payload = {
                "requestId": request_id,
                "toolCallId": event.tool_call_id,
                "toolName": event.tool_name,
                "message": event.message,
                "arguments": arguments,
            }
            item = self._item(event, "approval", "started", payload)
            params = {
                **scope,
                "toolCallId": event.tool_call_id,
                "toolName": event.tool_name,
                "preview": event.message,
                "arguments": arguments,
            }
            return [
                Emission("item/started", item, item),
                Emission("approval/requested", params),
                Emission("approval/request", params, server_request=True),
            ]
        note = self._note_for(request_id) or ApprovalNote(_reason(event))
        payload = {
            "requestId": request_id,
            "toolCallId": event.tool_call_id,
            "toolName": event.tool_name,
            "action": event.action,
            "approved": event.action in ("allow", "allow_session"),
            "reason": note.reason,
            "decisionMetadata": note.metadata,
        }
        item = self._item(event, "approval", "completed", payload)
        resolved: dict[str, Any] = {**scope, "decision": event.action, "reason": note.reason}
        if note.metadata:
            resolved["metadata"] = note.metadata
        return [Emission("item/completed", item, item), Emission("approval/resolved", resolved)]

    def _terminal(
        self, event: RunCompleted | RunFailed | RunCancelled
    ) -> tuple[list[Emission], TurnEnd]:
        fields: dict[str, Any] = {"runId": event.run_id}
        # A call the run started and never completed (cut by a kill, then not run again) ends
        # with the turn, so no item reads as running forever.
        emissions = [
            Emission("item/completed", item, item)
            for item in (
                interrupted_tool_call(
                    started,
                    self._thread_id,
                    self._turn_id,
                    call_id,
                    name,
                    event.created_at,
                )
                for call_id, (name, started) in self._running.items()
            )
        ]
        self._running.clear()
        if isinstance(event, RunCompleted):
            if event.final_output is not None:
                item = self._item(event, "agentMessage", "completed", {"text": event.final_output})
                emissions.append(Emission("item/completed", item, item))
            fields["completionReason"] = event.completion_reason.value
            if event.status is RunStatus.WAIT_USER:
                status = "interrupted"
            else:
                status = "completed"
                if event.final_output is not None:
                    fields["finalOutput"] = event.final_output
                if event.completion_tool_name is not None:
                    fields["completionToolName"] = event.completion_tool_name
            fields["tokenUsage"] = self.token_usage()
            return emissions, TurnEnd(status, fields)
        if isinstance(event, RunFailed):
            if event.error_code == EffectNeedsReconciliation.code:
                # Not a failure: the run waits for someone to say what the call did (§7).
                return emissions, TurnEnd("interrupted", fields, reconciliation=True)
            message = event.error or "Turn failed"
            fields["completionReason"] = event.completion_reason.value
            if self._budget is not None and event.completion_reason.value == "budget_exhausted":
                usage, limit = self._budget
                fields["budgetUsage"] = usage
                fields["budgetExhaustion"] = {"limit": limit}
        else:
            message = event.reason or "Turn cancelled"
            fields["completionReason"] = "cancelled"
        fields["error"] = message
        if event.partial_output:
            fields["partialOutput"] = event.partial_output
        fields["tokenUsage"] = self.token_usage()
        item = self._item(event, "error", "completed", {"message": message})
        emissions.append(Emission("item/completed", item, item))
        emissions.append(Emission("error/warning", {"message": message, "code": "run_failed"}))
        return emissions, TurnEnd("failed", fields)

    def token_usage(self) -> dict[str, Any]:
        """The turn's ``tokenUsage`` object so far."""
        total = call_usage(self._usage)
        cache = dict(total["cacheUsage"])
        cache["source"] = "aggregate" if cache["source"] is not None else None
        return {
            "schemaVersion": TASK_USAGE_SCHEMA,
            "inputTokens": total["inputTokens"],
            "outputTokens": total["outputTokens"],
            "totalTokens": total["totalTokens"],
            "reasoningTokens": total["reasoningTokens"],
            "cacheUsage": cache,
            "modelCalls": list(self._calls),
        }


_STOP_REASONS = {
    "timeout": "approval timed out",
    "cancelled": "turn interrupted",
    "budget_exhausted": "budget exhausted",
}


def _reason(event: ApprovalResolved) -> str:
    """The ``reason`` of a decision the server did not take itself: the run's own (an
    approval timeout, a stop while waiting, a provider's reason)."""
    return event.reason or _STOP_REASONS.get(event.cause, "")
