"""Typed run events: the one stream every host, store and tracer consumes.

Each event is a flat JSON object: the envelope fields (``version``, ``type``, ``event_id``,
``seq``, ``run_id``, ``trace_id``, ``created_at`` and optional identity fields) sit beside the
payload fields of its type. ``parse_event`` reads one back and rejects unknown versions.
See ``shared/design/EVENTS.md`` for the taxonomy and ordering rules.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, TypeAdapter
from pydantic_core import to_jsonable_python

from agentcycle._builders import attribute_copier
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
    BUDGET_EXHAUSTED = "budget_exhausted"
    GUARDRAIL_TRIPPED = "guardrail_tripped"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class EventOrigin:
    """Who emitted an event: the envelope fields every event of one emitter shares, and how
    its event ids are formed.

    A run's bus holds one origin (a new one when the agent in control changes) and every event
    it emits refers to it, instead of each event holding six identity fields and an id string
    of its own: a process running thousands of runs keeps every event of each of them.
    """

    run_id: str
    trace_id: str
    session_id: str | None = None
    parent_run_id: str | None = None
    parent_event_id: str | None = None
    agent_name: str | None = None
    id_prefix: str = ""
    """An event's ``event_id`` is this prefix followed by its ``seq``, ..."""
    event_id: str | None = None
    """... unless this is set: the id of the one event that was read back with an id of
    another form (``parse_event``)."""

    def id_for(self, seq: int) -> str:
        """The ``event_id`` of this origin's event number ``seq``."""
        if self.event_id is not None:
            return self.event_id
        return f"{self.id_prefix}{seq}"


UNSTAMPED = EventOrigin(run_id="", trace_id="")
"""The origin of an event built and not yet published (the bus sets the real one)."""


@dataclass(slots=True, kw_only=True)
class RunEvent:
    """The envelope shared by every event type.

    Events are slotted dataclasses rather than validated models because the loop emits several
    per cycle; treat them as immutable once emitted (stores and subscribers share them). The
    identity fields (``event_id``, ``run_id``, ``trace_id``, ``session_id``, ``parent_run_id``,
    ``parent_event_id``, ``agent_name``) are read from the shared ``origin``; on the wire they
    sit flat beside the others (``to_dict``, ``parse_event``).
    """

    __pydantic_config__ = ConfigDict(extra="forbid")  # parse_event rejects unknown fields

    type: ClassVar[str] = ""
    omitted_when_none: ClassVar[frozenset[str]] = frozenset()
    """Optional payload fields left out of ``to_dict`` while unset (other nulls are kept)."""
    # A class constant, not a slot: every event this build makes or reads is this version
    # (``parse_event`` rejects others), and a slot would cost 8 bytes on every event kept.
    version: ClassVar[int] = EVENT_VERSION
    # The envelope: stamped by the bus that publishes the event (``EventBus.publish``), so the
    # loop builds an event from its payload alone. ``parse_event`` requires all three.
    origin: EventOrigin = UNSTAMPED
    seq: int = 0
    created_at: float = 0.0
    cycle_index: int | None = None
    metadata: dict[str, Any] | None = None

    @property
    def event_id(self) -> str:
        """Unique, stable through stores and replays (``evt_…``)."""
        return self.origin.id_for(self.seq)

    @property
    def run_id(self) -> str:
        """The run that emitted the event (a child run's events keep their own)."""
        return self.origin.run_id

    @property
    def trace_id(self) -> str:
        """The trace of the run tree (a child run shares its parent's)."""
        return self.origin.trace_id

    @property
    def session_id(self) -> str | None:
        """The session of the run, if it has one."""
        return self.origin.session_id

    @property
    def parent_run_id(self) -> str | None:
        """For a child run's event: the parent run."""
        return self.origin.parent_run_id

    @property
    def parent_event_id(self) -> str | None:
        """For a child run's event: the ``sub_run_started`` event in the parent's stream."""
        return self.origin.parent_event_id

    @property
    def agent_name(self) -> str | None:
        """The agent in control when the event was emitted."""
        return self.origin.agent_name

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON object of this event. Unset optional envelope fields are left out;
        payload nulls (e.g. an unknown token count) are kept."""
        converted: dict[str, Any] = to_jsonable_python(self.to_wire())
        return converted

    def to_wire(self) -> dict[str, Any]:
        """The object of ``to_dict``, with the payload's values as they are (models,
        dataclasses, enums, tuples) rather than converted to JSON types: for a writer that
        serialises it with pydantic's JSON serializer anyway (the durable run log); ``to_dict``
        is this object converted by pydantic."""
        origin = self.origin
        data: dict[str, Any] = {
            "version": EVENT_VERSION,
            "event_id": origin.id_for(self.seq),
            "seq": self.seq,
            "run_id": origin.run_id,
            "trace_id": origin.trace_id,
            "created_at": self.created_at,
        }
        if origin.session_id is not None:
            data["session_id"] = origin.session_id
        if origin.parent_run_id is not None:
            data["parent_run_id"] = origin.parent_run_id
        if origin.parent_event_id is not None:
            data["parent_event_id"] = origin.parent_event_id
        if self.cycle_index is not None:
            data["cycle_index"] = self.cycle_index
        if origin.agent_name is not None:
            data["agent_name"] = origin.agent_name
        if self.metadata is not None:
            data["metadata"] = self.metadata
        _payload_copier(type(self))(self, data)
        data["type"] = self.type
        return data

    def to_wire_payload(self) -> dict[str, Any]:
        """``to_wire`` without the identity the event's origin holds (``version``,
        ``event_id``, ``run_id``, ``trace_id``, ``session_id``, the parent ids,
        ``agent_name``): for a writer that stores that identity once (``wire_identity``) for
        many events of one origin, as a durable run's log records do. ``with_identity``
        makes the ``to_wire`` object again."""
        data: dict[str, Any] = {"seq": self.seq, "created_at": self.created_at}
        if self.cycle_index is not None:
            data["cycle_index"] = self.cycle_index
        if self.metadata is not None:
            data["metadata"] = self.metadata
        _payload_copier(type(self))(self, data)
        data["type"] = self.type
        return data


def wire_identity(origin: EventOrigin) -> dict[str, Any]:
    """The fields ``RunEvent.to_wire_payload`` leaves out, for the events of ``origin`` (an
    origin a bus publishes with: its ids are ``id_prefix`` + ``seq``), as a JSON object:
    ``version``, the set identity fields and ``id_prefix``."""
    identity: dict[str, Any] = {
        "version": EVENT_VERSION,
        "run_id": origin.run_id,
        "trace_id": origin.trace_id,
    }
    for name in ("session_id", "parent_run_id", "parent_event_id", "agent_name"):
        value = getattr(origin, name)
        if value is not None:
            identity[name] = value
    identity["id_prefix"] = origin.id_prefix
    return identity


def with_identity(data: dict[str, Any], identity: Mapping[str, Any]) -> dict[str, Any]:
    """The ``to_wire`` object of an event stored as ``to_wire_payload`` made it, given the
    ``wire_identity`` of its origin (an object that already has a ``run_id`` is whole and
    returned as is)."""
    if "run_id" in data:
        return data
    whole = {key: value for key, value in identity.items() if key != "id_prefix"}
    whole["event_id"] = f"{identity['id_prefix']}{data['seq']}"
    whole.update(data)
    return whole


def _payload_copier(cls: type[RunEvent]) -> Callable[[RunEvent, dict[str, Any]], None]:
    """The generated function that copies ``cls``'s payload fields into a wire object."""
    copy = _payload_copiers.get(cls)
    if copy is None:
        copy = _payload_copiers[cls] = attribute_copier(_payload_fields(cls), cls.omitted_when_none)
    return copy


def _payload_fields(cls: type[RunEvent]) -> tuple[str, ...]:
    """The payload fields of an event type, in declaration order."""
    names = _payload_names.get(cls)
    if names is None:
        names = _payload_names[cls] = tuple(
            f.name for f in dataclass_fields(cls) if f.name not in _ENVELOPE_FIELDS
        )
    return names


_payload_names: dict[type[RunEvent], tuple[str, ...]] = {}
_payload_copiers: dict[type[RunEvent], Callable[[RunEvent, dict[str, Any]], None]] = {}


_ENVELOPE_FIELDS = frozenset({"origin", "seq", "created_at", "cycle_index", "metadata"})
"""Fields ``to_wire`` writes with the envelope, not as payload."""

_ORIGIN_FIELDS = (
    "event_id",
    "run_id",
    "trace_id",
    "session_id",
    "parent_run_id",
    "parent_event_id",
    "agent_name",
)
"""The wire fields an event reads from its origin."""

_WIRE_ENVELOPE = (*_ORIGIN_FIELDS, "seq", "created_at")


# --------------------------------------------------------------------------- run lifecycle


@dataclass(slots=True, kw_only=True)
class RunStarted(RunEvent):
    """The run began; ``input`` is the user input as given."""

    type: ClassVar[str] = "run_started"
    input: Any = None


@dataclass(slots=True, kw_only=True)
class AgentStarted(RunEvent):
    """An agent took control of the run (at start, and after a handoff)."""

    type: ClassVar[str] = "agent_started"


@dataclass(slots=True, kw_only=True)
class CycleStarted(RunEvent):
    """A new cycle began; ``cycle_index`` is set."""

    type: ClassVar[str] = "cycle_started"


# --------------------------------------------------------------------------- model calls


ModelOperation = Literal["agent_cycle", "memory_compaction", "session_memory", "output_repair"]


@dataclass(slots=True, kw_only=True)
class _ModelCallEvent(RunEvent):
    call_id: str
    operation_id: str
    attempt: int = 1
    operation: ModelOperation = "agent_cycle"
    backend: str | None = None
    model: str | None = None


@dataclass(slots=True, kw_only=True)
class ModelCallStarted(_ModelCallEvent):
    """One attempt of a model call started."""

    type: ClassVar[str] = "model_call_started"
    endpoint: str | None = None


@dataclass(slots=True, kw_only=True)
class ModelCallCompleted(_ModelCallEvent):
    """A model call attempt returned a full response."""

    type: ClassVar[str] = "model_call_completed"
    usage: TokenUsage = field(default_factory=TokenUsage)


@dataclass(slots=True, kw_only=True)
class ModelCallFailed(_ModelCallEvent):
    """A model call attempt failed; ``retryable`` says whether another attempt follows."""

    type: ClassVar[str] = "model_call_failed"
    error_code: str
    error: str = ""
    retryable: bool = False
    outcome: Literal["definitive", "ambiguous"] = "definitive"
    usage: TokenUsage = field(default_factory=TokenUsage)


@dataclass(slots=True, kw_only=True)
class AssistantDelta(RunEvent):
    """A piece of answer text as the model streams it."""

    type: ClassVar[str] = "assistant_delta"
    delta: str


@dataclass(slots=True, kw_only=True)
class ReasoningDelta(RunEvent):
    """A piece of private reasoning; never rendered as answer text."""

    type: ClassVar[str] = "reasoning_delta"
    delta: str


@dataclass(slots=True, kw_only=True)
class ModelToolCallStarted(RunEvent):
    """The model began writing a tool call."""

    type: ClassVar[str] = "model_tool_call_started"
    tool_call_id: str | None = None
    tool_name: str
    tool_call_index: int
    arguments_chars: int = 0


@dataclass(slots=True, kw_only=True)
class ModelToolCallProgress(RunEvent):
    """The model wrote more of a tool call's arguments."""

    type: ClassVar[str] = "model_tool_call_progress"
    tool_call_id: str | None = None
    tool_name: str
    tool_call_index: int
    arguments_chars: int


@dataclass(frozen=True, slots=True)
class ToolCallRef:
    """A tool call as listed on ``assistant_message``."""

    id: str
    name: str


@dataclass(slots=True, kw_only=True)
class AssistantMessageEvent(RunEvent):
    """The assistant message as appended to history, once per model response."""

    type: ClassVar[str] = "assistant_message"
    text: str = ""
    tool_calls: list[ToolCallRef] = field(default_factory=list)


# --------------------------------------------------------------------------- tool calls

_SERVER_FIELD = frozenset({"server"})


@dataclass(slots=True, kw_only=True)
class ToolCallPlanned(RunEvent):
    """The runtime accepted a tool call from the model for processing."""

    type: ClassVar[str] = "tool_call_planned"
    omitted_when_none: ClassVar[frozenset[str]] = _SERVER_FIELD
    tool_call_id: str
    tool_name: str
    arguments: Any = None
    server: str | None = None
    """The MCP server of an MCP tool (absent for other tools)."""


@dataclass(slots=True, kw_only=True)
class ApprovalRequested(RunEvent):
    """A tool call waits for a decision."""

    type: ClassVar[str] = "approval_requested"
    request_id: str
    tool_call_id: str
    tool_name: str
    message: str = ""


@dataclass(slots=True, kw_only=True)
class ApprovalResolved(RunEvent):
    """A pending approval was decided."""

    type: ClassVar[str] = "approval_resolved"
    request_id: str
    tool_call_id: str
    tool_name: str
    action: Literal["allow", "allow_session", "deny", "timeout"]
    cause: Literal["answer", "timeout", "cancelled", "budget_exhausted"] = "answer"
    """What ended the wait: an answer (the host, a provider, a resumed run's decision), the
    approval timeout, or the run stopping while it waited (``cancelled``, or the wall-time
    budget running out): those resolve ``timeout`` before the run's terminal event."""
    reason: str | None = None
    """The answer's reason, when it gave one."""


@dataclass(slots=True, kw_only=True)
class ToolCallStarted(RunEvent):
    """A tool is about to execute; side effects may begin after this event."""

    type: ClassVar[str] = "tool_call_started"
    omitted_when_none: ClassVar[frozenset[str]] = _SERVER_FIELD
    tool_call_id: str
    tool_name: str
    arguments: Any = None
    server: str | None = None
    """The MCP server of an MCP tool (absent for other tools)."""


@dataclass(slots=True, kw_only=True)
class ToolCallCompleted(RunEvent):
    """A tool call ended (executed or refused before execution). ``result_preview`` is a
    one-line gist of what the model got back (at most 160 characters, secret-scrubbed; see
    ``agentcycle.tools.result_preview``), for hosts that show results without holding them;
    ``None`` when there is nothing to show. It is optional: events written before it existed
    read back with ``None``."""

    type: ClassVar[str] = "tool_call_completed"
    omitted_when_none: ClassVar[frozenset[str]] = _SERVER_FIELD
    tool_call_id: str
    tool_name: str
    status: str
    directive: str
    error_code: str | None = None
    execution_started: bool = True
    duration_ms: float = 0.0
    server: str | None = None
    """The MCP server of an MCP tool (absent for other tools)."""
    result_preview: str | None = None


# --------------------------------------------------------------------------- MCP servers


@dataclass(slots=True, kw_only=True)
class MCPServerStarted(RunEvent):
    """An MCP server the run uses started (or restarted after a failure)."""

    type: ClassVar[str] = "mcp_server_started"
    server: str
    transport: Literal["stdio", "http"]
    duration_ms: float = 0.0


@dataclass(slots=True, kw_only=True)
class MCPServerFailed(RunEvent):
    """An MCP server did not start or could not list its tools; its tools are not offered.
    ``stderr`` is the tail of a stdio server's standard error."""

    type: ClassVar[str] = "mcp_server_failed"
    server: str
    message: str
    stderr: str = ""


@dataclass(slots=True, kw_only=True)
class MCPToolsListed(RunEvent):
    """The tools an MCP server offers the run (exposed names, after its filters);
    ``cached`` when the list came from the cache rather than a ``tools/list`` request."""

    type: ClassVar[str] = "mcp_tools_listed"
    server: str
    tools: list[str] = field(default_factory=list)
    cached: bool = False


# --------------------------------------------------------------------------- memory, sub-runs


@dataclass(slots=True, kw_only=True)
class MemoryCompactStarted(RunEvent):
    """Compaction began."""

    type: ClassVar[str] = "memory_compact_started"
    trigger: Literal["threshold", "prompt_too_long", "manual"]
    message_count: int
    estimated_tokens: int
    thresholds: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True, kw_only=True)
class MemoryCompactCompleted(RunEvent):
    """Compaction finished. ``mode`` is the most drastic stage that ran; counts are messages,
    tokens are estimates of the whole request; ``dropped`` is a short record of what left the
    context (one entry per archived result, one per summary or emergency drop)."""

    type: ClassVar[str] = "memory_compact_completed"
    mode: Literal["micro", "structural", "summary", "emergency"]
    before_count: int
    after_count: int
    tokens_before: int = 0
    tokens_after: int = 0
    reclaimed_tokens: int
    archived_count: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class SessionMemoryUpdated(RunEvent):
    """Session memory stored the notes an extraction produced (``agentcycle.memory.session``).
    ``trigger`` says why it ran; ``added`` counts the new notes by category; ``dropped`` is how
    many of the oldest notes went to keep the session within its bound; ``total`` the notes
    the session holds now."""

    type: ClassVar[str] = "session_memory_updated"
    trigger: Literal["threshold", "run_end"]
    added: dict[str, int] = field(default_factory=dict)
    dropped: int = 0
    total: int = 0


@dataclass(slots=True, kw_only=True)
class SubRunStarted(RunEvent):
    """A child run started under a tool call of this run (``parent_tool_call_id``); its own
    events follow in this stream with ``parent_run_id`` set, then ``sub_run_completed``."""

    type: ClassVar[str] = "sub_run_started"
    parent_tool_call_id: str | None = None
    task_id: str | None = None
    child_run_id: str
    child_agent_name: str | None = None


@dataclass(slots=True, kw_only=True)
class SubRunCompleted(RunEvent):
    """A child run ended with ``status`` (a ``RunStatus`` value); ``final_output`` is its
    output (the question for ``wait_user``), ``error_code`` its error when it failed."""

    type: ClassVar[str] = "sub_run_completed"
    parent_tool_call_id: str | None = None
    task_id: str | None = None
    child_run_id: str
    child_agent_name: str | None = None
    """The agent that ended the child run (after any handoffs inside it)."""
    status: str
    final_output: Any = None
    error_code: str | None = None


@dataclass(slots=True, kw_only=True)
class HandoffStarted(RunEvent):
    """Control is moving to another agent within this run (``transfer_to_<agent>``)."""

    type: ClassVar[str] = "handoff_started"
    source_agent: str
    target_agent: str
    tool_call_id: str


@dataclass(slots=True, kw_only=True)
class HandoffCompleted(RunEvent):
    """The handoff ended: ``status`` is ``completed`` (``agent_started`` of the target
    follows) or ``failed`` (the target could not be prepared; the run fails)."""

    type: ClassVar[str] = "handoff_completed"
    source_agent: str
    target_agent: str
    tool_call_id: str
    status: str


@dataclass(slots=True, kw_only=True)
class SessionPersisted(RunEvent):
    """The run's turn was written to its session."""

    type: ClassVar[str] = "session_persisted"


@dataclass(slots=True, kw_only=True)
class BudgetExhausted(RunEvent):
    """A budget limit was hit; ``usage`` is every counter of the run (``BudgetUsage``) and
    ``limit`` the limit's name. ``run_failed`` with ``budget_exhausted`` follows."""

    type: ClassVar[str] = "budget_exhausted"
    usage: dict[str, Any] = field(default_factory=dict)
    limit: str


@dataclass(slots=True, kw_only=True)
class CheckpointCreated(RunEvent):
    """A checkpoint was committed."""

    type: ClassVar[str] = "checkpoint_created"
    checkpoint_key: str
    resume_attempt: int = 0


@dataclass(slots=True, kw_only=True)
class CheckpointResumed(RunEvent):
    """The run resumed from a checkpoint."""

    type: ClassVar[str] = "checkpoint_resumed"
    checkpoint_key: str
    resume_attempt: int = 0


@dataclass(slots=True, kw_only=True)
class Diagnostic(RunEvent):
    """An observation with no control authority (a hint injected, a setting ignored ...)."""

    type: ClassVar[str] = "diagnostic"
    level: Literal["debug", "info", "warning", "error"] = "info"
    code: str
    details: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- chat sessions
# Emitted by a ``ChatSession`` (``agentcycle.chat``), not by a run: their ``run_id`` and
# ``trace_id`` are the chat session's stream id (``chat_…``) and their ``seq`` counts the
# session's own events. In the session's stream they sit between the events of its runs.

InputKind = Literal["prompt", "steer", "follow_up"]


@dataclass(slots=True, kw_only=True)
class SessionInputQueued(RunEvent):
    """The host gave the chat session an input (``kind``); it waits for its run.
    ``active_run_id`` is the run going on at that moment, if any."""

    type: ClassVar[str] = "session_input_queued"
    input_id: str
    kind: InputKind
    text: str
    active_run_id: str | None = None


@dataclass(slots=True, kw_only=True)
class SessionInputDelivered(RunEvent):
    """A queued input reached a run: as the input it started with (``delivery="run_input"``,
    before that run's ``run_started``) or as a steering message before one of its model calls
    (``"steering"``, after that run's ``steering_applied`` diagnostic)."""

    type: ClassVar[str] = "session_input_delivered"
    input_id: str
    kind: InputKind
    delivery: Literal["run_input", "steering"]
    target_run_id: str


@dataclass(slots=True, kw_only=True)
class SessionInputDropped(RunEvent):
    """A queued input will never reach a model: the host cancelled (``cancelled``), the run
    before it failed (``run_failed``), its run could not start (``start_failed``, ``error``
    says why) or the session closed (``closed``). ``text`` is the input, for the host to
    offer again."""

    type: ClassVar[str] = "session_input_dropped"
    input_id: str
    kind: InputKind
    text: str
    reason: Literal["cancelled", "run_failed", "start_failed", "closed"]
    error: str | None = None


@dataclass(slots=True, kw_only=True)
class SessionIdle(RunEvent):
    """The chat session has no run going and no input queued; ``last_run_id`` and
    ``last_status`` describe the run that ended last (if one started)."""

    type: ClassVar[str] = "session_idle"
    last_run_id: str | None = None
    """``None`` when no run could start."""
    last_status: RunStatus | None = None


@dataclass(slots=True, kw_only=True)
class SessionClosed(RunEvent):
    """The chat session closed: the last event of its stream."""

    type: ClassVar[str] = "session_closed"


# --------------------------------------------------------------------------- guardrails, output


@dataclass(slots=True, kw_only=True)
class GuardrailChecked(RunEvent):
    """A guardrail judged the run's input (``stage="input"``, right after ``agent_started``)
    or its final output (``stage="output"``). ``outcome``: ``passed``, ``tripped`` (then
    ``guardrail_tripped`` follows) or ``failed`` (it raised: the run fails with
    ``guardrail_failed``)."""

    type: ClassVar[str] = "guardrail_checked"
    stage: Literal["input", "output"]
    guardrail: str
    outcome: Literal["passed", "tripped", "failed"]
    duration_ms: float = 0.0


@dataclass(slots=True, kw_only=True)
class GuardrailTripped(RunEvent):
    """A guardrail stopped the run; ``run_failed`` with ``error_code`` (completion reason
    ``guardrail_tripped``) follows."""

    type: ClassVar[str] = "guardrail_tripped"
    stage: Literal["input", "output"]
    guardrail: str
    error_code: str
    message: str = ""
    details: Any = None


@dataclass(slots=True, kw_only=True)
class OutputRejected(RunEvent):
    """The run's final output was rejected: it did not coerce into the ``output_type``
    (``invalid_final_output``) or the output validator rejected it with ``error_code``.
    ``repaired`` is ``True`` for the answer of the repair call."""

    type: ClassVar[str] = "output_rejected"
    error_code: str
    message: str = ""
    details: Any = None
    repaired: bool = False


# --------------------------------------------------------------------------- terminal


@dataclass(slots=True, kw_only=True)
class RunCompleted(RunEvent):
    """Terminal: the run completed or is waiting for the user."""

    type: ClassVar[str] = "run_completed"
    status: RunStatus
    final_output: Any = None
    completion_reason: CompletionReason
    completion_tool_name: str | None = None


@dataclass(slots=True, kw_only=True)
class RunFailed(RunEvent):
    """Terminal: the run failed (a typed error, max cycles, budget, a guardrail)."""

    type: ClassVar[str] = "run_failed"
    status: RunStatus = RunStatus.FAILED
    error: str
    error_code: str
    completion_reason: CompletionReason
    partial_output: str | None = None


@dataclass(slots=True, kw_only=True)
class RunCancelled(RunEvent):
    """Terminal: the run was cancelled."""

    type: ClassVar[str] = "run_cancelled"
    reason: str | None = None
    partial_output: str | None = None


TERMINAL_EVENT_TYPES = frozenset({"run_completed", "run_failed", "run_cancelled"})

EVENT_TYPES: dict[str, type[RunEvent]] = {
    cls.type: cls
    for cls in (
        RunStarted,
        AgentStarted,
        CycleStarted,
        ModelCallStarted,
        ModelCallCompleted,
        ModelCallFailed,
        AssistantDelta,
        ReasoningDelta,
        ModelToolCallStarted,
        ModelToolCallProgress,
        AssistantMessageEvent,
        ToolCallPlanned,
        ApprovalRequested,
        ApprovalResolved,
        ToolCallStarted,
        ToolCallCompleted,
        MCPServerStarted,
        MCPServerFailed,
        MCPToolsListed,
        MemoryCompactStarted,
        MemoryCompactCompleted,
        SessionMemoryUpdated,
        SubRunStarted,
        SubRunCompleted,
        HandoffStarted,
        HandoffCompleted,
        SessionPersisted,
        BudgetExhausted,
        CheckpointCreated,
        CheckpointResumed,
        Diagnostic,
        SessionInputQueued,
        SessionInputDelivered,
        SessionInputDropped,
        SessionIdle,
        SessionClosed,
        GuardrailChecked,
        GuardrailTripped,
        OutputRejected,
        RunCompleted,
        RunFailed,
        RunCancelled,
    )
}
"""Every event type by its ``type`` string."""

_adapters: dict[type[RunEvent], TypeAdapter[Any]] = {}


def _adapter(cls: type[RunEvent]) -> TypeAdapter[Any]:
    adapter = _adapters.get(cls)
    if adapter is None:
        adapter = _adapters[cls] = TypeAdapter(cls)
    return adapter


def parse_event(data: dict[str, Any]) -> RunEvent:
    """Read one event from its flat JSON object.

    Raises ``UnsupportedVersionError`` for a version this build does not know, ``ValueError``
    for an unknown type and pydantic's ``ValidationError`` for a malformed payload.
    """
    version = data.get("version")
    if version != EVENT_VERSION:
        raise UnsupportedVersionError(
            f"event version {version!r} is not supported (this build reads {EVENT_VERSION})"
        )
    cls = EVENT_TYPES.get(data.get("type", ""))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    fields = {key: value for key, value in data.items() if key not in ("type", "version")}
    if "origin" in fields:  # not a wire field: the identity sits flat in the object
        raise ValueError("unknown event field 'origin'")
    identity = {key: fields.pop(key) for key in _WIRE_ENVELOPE if key in fields}
    envelope = _identity_adapter().validate_python(identity)
    origin = envelope.origin()
    event: RunEvent = _adapter(cls).validate_python(
        {**fields, "origin": origin, "seq": envelope.seq, "created_at": envelope.created_at}
    )
    # An id of the form every bus writes (prefix + seq) reads back as the emitted origin did,
    # so the event compares equal to the one that was stored.
    literal, suffix = origin.event_id or "", str(event.seq)
    if literal.endswith(suffix):
        event.origin = replace(origin, id_prefix=literal[: -len(suffix)], event_id=None)
    return event


@dataclass(frozen=True, slots=True)
class _WireIdentity:
    """The envelope fields of an event's flat JSON object (``event_id`` as written): the
    identity its origin holds, and the ``seq`` and ``created_at`` every event must carry."""

    event_id: str
    run_id: str
    trace_id: str
    seq: int
    created_at: float
    session_id: str | None = None
    parent_run_id: str | None = None
    parent_event_id: str | None = None
    agent_name: str | None = None

    def origin(self) -> EventOrigin:
        return EventOrigin(
            run_id=self.run_id,
            trace_id=self.trace_id,
            session_id=self.session_id,
            parent_run_id=self.parent_run_id,
            parent_event_id=self.parent_event_id,
            agent_name=self.agent_name,
            event_id=self.event_id,
        )


@functools.cache
def _identity_adapter() -> TypeAdapter[_WireIdentity]:
    # Built on first use, like the event adapters: importing events stays cheap.
    return TypeAdapter(_WireIdentity)
