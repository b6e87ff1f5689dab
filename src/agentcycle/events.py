"""Typed run events: the one stream every host, store and tracer consumes.

Each event is a flat JSON object: the envelope fields (``version``, ``type``, ``event_id``,
``seq``, ``run_id``, ``trace_id``, ``created_at`` and optional identity fields) sit beside the
payload fields of its type. ``parse_event`` reads one back and rejects unknown versions.
See ``shared/design/EVENTS.md`` for the taxonomy and ordering rules.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agentcycle.errors import UnsupportedVersionError
from agentcycle.messages import TokenUsage

EVENT_VERSION = 1


class RunStatus(enum.StrEnum):
    """Where a run ended."""

    COMPLETED = "completed"
    WAIT_USER = "wait_user"
    MAX_CYCLES = "max_cycles"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CompletionReason(enum.StrEnum):
    """Why a run ended."""

    TOOL_FINISH = "tool_finish"
    NO_TOOL_FINISH = "no_tool_finish"
    STOP_ON_FIRST_TOOL = "stop_on_first_tool"
    STOP_AT_TOOL_NAME = "stop_at_tool_name"
    WAIT_USER = "wait_user"
    MAX_CYCLES = "max_cycles"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunEvent(BaseModel):
    """The envelope shared by every event type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = EVENT_VERSION
    type: str
    event_id: str
    seq: int
    run_id: str
    trace_id: str
    created_at: float
    session_id: str | None = None
    parent_run_id: str | None = None
    parent_event_id: str | None = None
    cycle_index: int | None = None
    agent_name: str | None = None
    metadata: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON object of this event. Unset optional envelope fields are left out;
        payload nulls (e.g. an unknown token count) are kept."""
        data = self.model_dump(mode="json")
        for key in _OPTIONAL_ENVELOPE:
            if data[key] is None:
                del data[key]
        return data


_OPTIONAL_ENVELOPE = (
    "session_id",
    "parent_run_id",
    "parent_event_id",
    "cycle_index",
    "agent_name",
    "metadata",
)


# --------------------------------------------------------------------------- run lifecycle


class RunStarted(RunEvent):
    """The run began; ``input`` is the user input as given."""

    type: Literal["run_started"] = "run_started"
    input: Any = None


class AgentStarted(RunEvent):
    """An agent took control of the run (at start, and after a handoff)."""

    type: Literal["agent_started"] = "agent_started"


class CycleStarted(RunEvent):
    """A new cycle began; ``cycle_index`` is set."""

    type: Literal["cycle_started"] = "cycle_started"


# --------------------------------------------------------------------------- model calls


ModelOperation = Literal["agent_cycle", "memory_compaction", "session_memory"]


class _ModelCallEvent(RunEvent):
    call_id: str
    operation_id: str
    attempt: int = 1
    operation: ModelOperation = "agent_cycle"
    backend: str | None = None
    model: str | None = None


class ModelCallStarted(_ModelCallEvent):
    """One attempt of a model call started."""

    type: Literal["model_call_started"] = "model_call_started"
    endpoint: str | None = None


class ModelCallCompleted(_ModelCallEvent):
    """A model call attempt returned a full response."""

    type: Literal["model_call_completed"] = "model_call_completed"
    usage: TokenUsage = Field(default_factory=TokenUsage)


class ModelCallFailed(_ModelCallEvent):
    """A model call attempt failed; ``retryable`` says whether another attempt follows."""

    type: Literal["model_call_failed"] = "model_call_failed"
    error_code: str
    error: str = ""
    retryable: bool = False
    outcome: Literal["definitive", "ambiguous"] = "definitive"
    usage: TokenUsage = Field(default_factory=TokenUsage)


class AssistantDelta(RunEvent):
    """A piece of answer text as the model streams it."""

    type: Literal["assistant_delta"] = "assistant_delta"
    delta: str


class ReasoningDelta(RunEvent):
    """A piece of private reasoning; never rendered as answer text."""

    type: Literal["reasoning_delta"] = "reasoning_delta"
    delta: str


class ModelToolCallStarted(RunEvent):
    """The model began writing a tool call."""

    type: Literal["model_tool_call_started"] = "model_tool_call_started"
    tool_call_id: str | None = None
    tool_name: str
    tool_call_index: int
    arguments_chars: int = 0


class ModelToolCallProgress(RunEvent):
    """The model wrote more of a tool call's arguments."""

    type: Literal["model_tool_call_progress"] = "model_tool_call_progress"
    tool_call_id: str | None = None
    tool_name: str
    tool_call_index: int
    arguments_chars: int


class ToolCallRef(BaseModel):
    """A tool call as listed on ``assistant_message``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str


class AssistantMessageEvent(RunEvent):
    """The assistant message as appended to history, once per model response."""

    type: Literal["assistant_message"] = "assistant_message"
    text: str = ""
    tool_calls: list[ToolCallRef] = Field(default_factory=list)


# --------------------------------------------------------------------------- tool calls


class ToolCallPlanned(RunEvent):
    """The runtime accepted a tool call from the model for processing."""

    type: Literal["tool_call_planned"] = "tool_call_planned"
    tool_call_id: str
    tool_name: str
    arguments: Any = None


class ApprovalRequested(RunEvent):
    """A tool call waits for a decision."""

    type: Literal["approval_requested"] = "approval_requested"
    request_id: str
    tool_call_id: str
    tool_name: str
    message: str = ""


class ApprovalResolved(RunEvent):
    """A pending approval was decided."""

    type: Literal["approval_resolved"] = "approval_resolved"
    request_id: str
    tool_call_id: str
    tool_name: str
    action: Literal["allow", "allow_session", "deny", "timeout"]


class ToolCallStarted(RunEvent):
    """A tool is about to execute; side effects may begin after this event."""

    type: Literal["tool_call_started"] = "tool_call_started"
    tool_call_id: str
    tool_name: str
    arguments: Any = None


class ToolCallCompleted(RunEvent):
    """A tool call ended (executed or refused before execution)."""

    type: Literal["tool_call_completed"] = "tool_call_completed"
    tool_call_id: str
    tool_name: str
    status: str
    directive: str
    error_code: str | None = None
    execution_started: bool = True
    duration_ms: float = 0.0


# --------------------------------------------------------------------------- memory, sub-runs


class MemoryCompactStarted(RunEvent):
    """Compaction began."""

    type: Literal["memory_compact_started"] = "memory_compact_started"
    trigger: Literal["threshold", "prompt_too_long", "manual"]
    message_count: int
    estimated_tokens: int
    thresholds: dict[str, int] = Field(default_factory=dict)


class MemoryCompactCompleted(RunEvent):
    """Compaction finished; ``dropped`` is a short record of what left the context."""

    type: Literal["memory_compact_completed"] = "memory_compact_completed"
    mode: Literal["micro", "structural", "summary", "emergency"]
    before_count: int
    after_count: int
    reclaimed_tokens: int
    archived_count: int = 0
    dropped: list[dict[str, Any]] = Field(default_factory=list)


class SubRunStarted(RunEvent):
    """A child run started under a tool call of this run."""

    type: Literal["sub_run_started"] = "sub_run_started"
    parent_tool_call_id: str | None = None
    task_id: str | None = None
    child_run_id: str
    child_agent_name: str | None = None


class SubRunCompleted(RunEvent):
    """A child run ended."""

    type: Literal["sub_run_completed"] = "sub_run_completed"
    parent_tool_call_id: str | None = None
    task_id: str | None = None
    child_run_id: str
    status: str
    final_output: Any = None


class HandoffStarted(RunEvent):
    """Control is moving to another agent."""

    type: Literal["handoff_started"] = "handoff_started"
    source_agent: str
    target_agent: str
    tool_call_id: str


class HandoffCompleted(RunEvent):
    """Control moved to another agent."""

    type: Literal["handoff_completed"] = "handoff_completed"
    source_agent: str
    target_agent: str
    tool_call_id: str
    status: str


class SessionPersisted(RunEvent):
    """The run's turn was written to its session."""

    type: Literal["session_persisted"] = "session_persisted"


class BudgetSnapshot(RunEvent):
    """Usage so far against the run's budget."""

    type: Literal["budget_snapshot"] = "budget_snapshot"
    usage: dict[str, Any] = Field(default_factory=dict)


class BudgetExhausted(RunEvent):
    """A budget limit was hit."""

    type: Literal["budget_exhausted"] = "budget_exhausted"
    usage: dict[str, Any] = Field(default_factory=dict)
    limit: str


class CheckpointCreated(RunEvent):
    """A checkpoint was committed."""

    type: Literal["checkpoint_created"] = "checkpoint_created"
    checkpoint_key: str
    resume_attempt: int = 0


class CheckpointResumed(RunEvent):
    """The run resumed from a checkpoint."""

    type: Literal["checkpoint_resumed"] = "checkpoint_resumed"
    checkpoint_key: str
    resume_attempt: int = 0


class Diagnostic(RunEvent):
    """An observation with no control authority (a hint injected, a setting ignored ...)."""

    type: Literal["diagnostic"] = "diagnostic"
    level: Literal["debug", "info", "warning", "error"] = "info"
    code: str
    details: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- terminal


class RunCompleted(RunEvent):
    """Terminal: the run completed or is waiting for the user."""

    type: Literal["run_completed"] = "run_completed"
    status: RunStatus
    final_output: Any = None
    completion_reason: CompletionReason
    completion_tool_name: str | None = None


class RunFailed(RunEvent):
    """Terminal: the run failed (a typed error, max cycles, budget)."""

    type: Literal["run_failed"] = "run_failed"
    status: RunStatus = RunStatus.FAILED
    error: str
    error_code: str
    completion_reason: CompletionReason
    partial_output: str | None = None


class RunCancelled(RunEvent):
    """Terminal: the run was cancelled."""

    type: Literal["run_cancelled"] = "run_cancelled"
    reason: str | None = None
    partial_output: str | None = None


TERMINAL_EVENT_TYPES = frozenset({"run_completed", "run_failed", "run_cancelled"})

AnyRunEvent = Annotated[
    RunStarted
    | AgentStarted
    | CycleStarted
    | ModelCallStarted
    | ModelCallCompleted
    | ModelCallFailed
    | AssistantDelta
    | ReasoningDelta
    | ModelToolCallStarted
    | ModelToolCallProgress
    | AssistantMessageEvent
    | ToolCallPlanned
    | ApprovalRequested
    | ApprovalResolved
    | ToolCallStarted
    | ToolCallCompleted
    | MemoryCompactStarted
    | MemoryCompactCompleted
    | SubRunStarted
    | SubRunCompleted
    | HandoffStarted
    | HandoffCompleted
    | SessionPersisted
    | BudgetSnapshot
    | BudgetExhausted
    | CheckpointCreated
    | CheckpointResumed
    | Diagnostic
    | RunCompleted
    | RunFailed
    | RunCancelled,
    Field(discriminator="type"),
]

_event_adapter: TypeAdapter[Any] | None = None


def parse_event(data: dict[str, Any]) -> RunEvent:
    """Read one event from its flat JSON object.

    Raises ``UnsupportedVersionError`` for a version this build does not know and pydantic's
    ``ValidationError`` for an unknown type or a malformed payload.
    """
    global _event_adapter
    version = data.get("version")
    if version != EVENT_VERSION:
        raise UnsupportedVersionError(
            f"event version {version!r} is not supported (this build reads {EVENT_VERSION})"
        )
    if _event_adapter is None:
        _event_adapter = TypeAdapter(AnyRunEvent)
    event: RunEvent = _event_adapter.validate_python(data)
    return event
