"""The v1 app-server protocol as pydantic models: every request's params and result, every
notification's params and the approval server request (``shared/design/APP_SERVER.md``).

Wire rules the models encode:

- field names are camelCase on the wire (``thread_id`` here is ``threadId`` there);
- every object is closed (``extra="forbid"``) except the open bags typed ``dict[str, Any]``
  (``payload``, ``metadata``, ``result``, input items, usage objects);
- a field whose default is ``None`` is *optional*: left out of the message when unset, never
  sent as ``null`` (``wire()``), and not nullable in the schema; a field typed ``X | None``
  without a default is *required nullable*: always present, ``null`` meaning "no value";
- timestamps are unix seconds as floats.

The JSON Schema and TypeScript bundles (``agentcycle.app_server.schemas``) are generated from
these models, so they are the one description of the wire.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer
from pydantic.alias_generators import to_camel

PROTOCOL_VERSION: Literal["v1"] = "v1"
"""The protocol version the server speaks; extensions never change it."""

ApprovalDecision = Literal["allow", "allow_session", "deny", "timeout"]
"""How an approval request was (or is to be) decided; case-sensitive."""

APPROVAL_DECISIONS: tuple[str, ...] = ("allow", "allow_session", "deny", "timeout")
"""The values of ``ApprovalDecision``, for checks at run time."""

CompletionReasonName = Literal[
    "tool_finish",
    "no_tool_finish",
    "stop_on_first_tool",
    "stop_at_tool_name",
    "wait_user",
    "max_cycles",
    "cancelled",
    "failed",
    "budget_exhausted",
    "guardrail_tripped",
]
"""Why a turn ended (``turn/completed.completionReason``)."""

RequestId = str | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
"""A JSON-RPC request id: a string or a signed 64-bit integer."""

Timestamp = float
"""Unix seconds."""

OpenObject = dict[str, Any]
"""An open bag: any keys allowed."""


class WireModel(BaseModel):
    """Base of every protocol object: closed, camelCase on the wire, optional fields omitted."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
    )

    @model_serializer(mode="wrap")
    def _omit_unset_optionals(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Optional fields (default None) are left out rather than sent as null: v1 objects
        # are closed and their optional fields are not nullable.
        data: dict[str, Any] = handler(self)
        for name, info in type(self).model_fields.items():
            if info.default is None and getattr(self, name) is None:
                data.pop(info.alias or name, None)
        return data

    def wire(self) -> dict[str, Any]:
        """This object as it goes on the wire (JSON-able, camelCase, optionals omitted)."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- objects (§4)


class AppThread(WireModel):
    """A conversation: a sequence of turns with one agent."""

    thread_id: str
    agent_key: str
    cwd: str | None
    created_at: Timestamp
    updated_at: Timestamp
    archived_at: Timestamp | None
    status: str
    """``idle``, ``running``, ``archived`` or ``closed`` (clients ignore unknown values)."""
    metadata: OpenObject


class AppTurn(WireModel):
    """One user input and the run that answered it."""

    turn_id: str
    thread_id: str
    run_id: str | None
    status: str
    """``queued``, ``running``, ``completed``, ``failed`` or ``interrupted``."""
    started_at: Timestamp
    completed_at: Timestamp | None
    input: list[OpenObject]
    result: OpenObject
    """The optional terminal fields of ``turn/completed`` once the turn ended, else ``{}``."""


class AppItem(WireModel):
    """One thing that happened in a turn (a message, a model call, a tool call, an approval),
    projected from the run's events."""

    item_id: str
    thread_id: str
    turn_id: str
    type: str
    status: str
    payload: OpenObject
    created_at: Timestamp
    updated_at: Timestamp


class ModelSummary(WireModel):
    """A model the server can run turns with."""

    id: str
    supports_tools: bool
    provider: str | None = None
    display_name: str | None = None
    context_length: Annotated[int, Field(ge=0)] | None = None
    metadata: OpenObject | None = None


class CheckpointSummary(WireModel):
    """Where a durable run stands (``turn/resume``)."""

    key: str
    resume_attempt: int
    cycle_index: int
    status: Literal[
        "pending",
        "running",
        "wait_user",
        "completed",
        "failed",
        "max_cycles",
        "reconciliation_required",
    ]
    terminal_acknowledged: bool


class InterruptionSummary(WireModel):
    """The operation a resumed run could not safely repeat."""

    reason: str
    operation_id: str
    operation_kind: Literal["model", "tool"]
    cycle_index: int
    risk: str
    idempotency_support: Literal["supported", "unsupported", "unknown"]


# --------------------------------------------------------------------------- handshake (§3)


class ClientInfo(WireModel):
    """Who the client is."""

    name: str
    title: str | None = None
    version: str | None = None


class ClientCapabilities(WireModel):
    """What the client opts into."""

    experimental_api: bool | None = None
    opt_out_notification_methods: list[str] | None = None


class InitializeParams(WireModel):
    """``initialize`` params."""

    client_info: ClientInfo
    capabilities: ClientCapabilities | None = None


class ServerCapabilities(WireModel):
    """What the server offers."""

    model_list: bool
    thread_lifecycle: bool
    notification_opt_out: bool
    schema_export: bool
    approval_resolve: bool


class InitializeResponse(WireModel):
    """``initialize`` result."""

    user_agent: str
    protocol_version: Literal["v1"]
    capabilities: ServerCapabilities


# --------------------------------------------------------------------------- requests (§5)


class ThreadStartParams(WireModel):
    """``thread/start`` params (``agentKey`` defaults to ``"default"``)."""

    agent_key: str | None = None
    cwd: str | None = None
    metadata: OpenObject | None = None


class ThreadStartResponse(WireModel):
    """``thread/start`` result (also the ``thread/started`` params)."""

    thread_id: str
    agent_key: str
    cwd: str | None
    status: str


class ThreadResumeParams(WireModel):
    """``thread/resume`` params (``subscribe`` defaults to true)."""

    thread_id: str
    subscribe: bool | None = None


class ThreadReadParams(WireModel):
    """``thread/read`` params."""

    thread_id: str
    after_item_id: str | None = None


class ThreadReadResponse(WireModel):
    """A thread's snapshot: the thread, its turns and its items in store order."""

    thread: AppThread
    turns: list[AppTurn]
    items: list[AppItem]


class ThreadResumeResponse(ThreadReadResponse):
    """``thread/resume`` result: the same snapshot as ``thread/read``."""


class ThreadListParams(WireModel):
    """``thread/list`` params."""

    include_archived: bool | None = None
    archived: bool | None = None
    offset: Annotated[int, Field(ge=0)] | None = None
    limit: Annotated[int, Field(ge=0)] | None = None


class ThreadListResponse(WireModel):
    """``thread/list`` result, in creation order."""

    threads: list[AppThread]


class ThreadArchiveParams(WireModel):
    """``thread/archive`` params."""

    thread_id: str


class ThreadArchiveResponse(WireModel):
    """``thread/archive`` result."""

    thread_id: str
    archived: bool


class ThreadUnsubscribeParams(WireModel):
    """``thread/unsubscribe`` params."""

    thread_id: str


class ThreadUnsubscribeResponse(WireModel):
    """``thread/unsubscribe`` result; ``closed`` when nobody is subscribed and no turn runs."""

    thread_id: str
    subscribed: bool
    closed: bool


class TurnStartParams(WireModel):
    """``turn/start`` params; the run input is the text of the text items joined by newlines."""

    thread_id: str
    input: list[OpenObject] | None = None
    metadata: OpenObject | None = None


class TurnStartResponse(WireModel):
    """``turn/start`` result."""

    thread_id: str
    turn_id: str
    status: str


class TurnSteerParams(WireModel):
    """``turn/steer`` params."""

    thread_id: str
    expected_turn_id: str | None = None
    input: list[OpenObject] | None = None


class TurnFollowUpParams(TurnSteerParams):
    """``turn/followUp`` params."""


class TurnQueuedResponse(WireModel):
    """``turn/steer`` and ``turn/followUp`` result."""

    thread_id: str
    turn_id: str
    queued: bool


class TurnInterruptParams(WireModel):
    """``turn/interrupt`` params."""

    thread_id: str
    expected_turn_id: str | None = None
    reason: str | None = None


class TurnInterruptResponse(WireModel):
    """``turn/interrupt`` result; the turn ends later with ``turn/completed``."""

    thread_id: str
    turn_id: str
    cancelled: bool


class TurnResumeParams(WireModel):
    """``turn/resume`` params."""

    thread_id: str
    turn_id: str
    checkpoint_key: str


class TurnResumeResponse(WireModel):
    """``turn/resume`` result."""

    thread_id: str
    turn_id: str
    run_id: str | None
    status: str
    final_output: Any = None
    completion_reason: CompletionReasonName | None = None
    completion_tool_name: str | None = None
    partial_output: str | None = None
    checkpoint: CheckpointSummary | None = None
    interruption: InterruptionSummary | None = None
    error: str | None = None


class ApprovalResolveParams(WireModel):
    """``approval/resolve`` params: the request-style answer to an ``approval/request``."""

    thread_id: str
    turn_id: str
    request_id: str
    decision: ApprovalDecision
    reason: str | None = None
    metadata: OpenObject | None = None


class ApprovalResolveResponse(WireModel):
    """``approval/resolve`` result (empty)."""


class ModelListParams(WireModel):
    """``model/list`` params."""

    agent_key: str | None = None
    provider: str | None = None


class ModelListResponse(WireModel):
    """``model/list`` result."""

    models: list[ModelSummary]


class SchemaExportParams(WireModel):
    """``schema/export`` params: none."""


class SchemaExportResponse(WireModel):
    """``schema/export`` result: JSON Schemas as text by bare name, TypeScript by file name."""

    json_schema: dict[str, str]
    typescript: dict[str, str]


# --------------------------------------------------------------------------- notifications (§6)


class ThreadStartedParams(ThreadStartResponse):
    """``thread/started`` params."""


class ThreadStatusChangedParams(WireModel):
    """``thread/status/changed`` params."""

    thread_id: str
    status: str


class ThreadArchivedParams(WireModel):
    """``thread/archived`` params."""

    thread_id: str
    archived: bool


class ThreadClosedParams(WireModel):
    """``thread/closed`` params."""

    thread_id: str


class TurnStartedParams(WireModel):
    """``turn/started`` params."""

    thread_id: str
    turn_id: str
    run_id: str | None = None
    status: str | None = None


class TurnCompletedParams(WireModel):
    """``turn/completed`` params (§7); the optional fields are omitted when absent."""

    thread_id: str
    turn_id: str
    status: str
    run_id: str | None = None
    final_output: Any = None
    completion_reason: CompletionReasonName | None = None
    completion_tool_name: str | None = None
    partial_output: str | None = None
    error: str | None = None
    token_usage: OpenObject | None = None
    budget_usage: OpenObject | None = None
    budget_exhaustion: OpenObject | None = None
    checkpoint: CheckpointSummary | None = None
    interruption: InterruptionSummary | None = None


class AgentMessageDeltaParams(AppItem):
    """``item/agentMessage/delta`` params: the item plus the text piece."""

    delta: str


class ToolCallDeltaParams(AppItem):
    """``item/toolCall/delta`` params: the item plus the delta (any JSON)."""

    delta: Any


class ApprovalRequestedParams(WireModel):
    """``approval/requested`` params (and ``approval/request`` params)."""

    request_id: str
    thread_id: str
    turn_id: str
    tool_call_id: str
    tool_name: str
    preview: str
    arguments: OpenObject


class ApprovalRequestParams(ApprovalRequestedParams):
    """``approval/request`` (server request) params; its JSON-RPC id is ``requestId``."""


class ApprovalResolvedParams(WireModel):
    """``approval/resolved`` params: the decision as given."""

    request_id: str
    thread_id: str
    turn_id: str
    decision: ApprovalDecision
    reason: str | None = None
    metadata: OpenObject | None = None


class ErrorWarningParams(WireModel):
    """``error/warning`` params; ``code`` is ``run_failed``, ``event_stream``, ``follow_up``
    or ``item_identity_conflict``."""

    message: str
    code: str | None = None


# --------------------------------------------------------------------------- extensions (ext)
# Visible only to connections that sent ``capabilities.experimentalApi: true``; not part of
# the exported v1 schemas.


class ThreadResumeExtParams(ThreadResumeParams):
    """``thread/resume`` params with the ext ``afterCursor``: replay what came after it."""

    after_cursor: str | None = None


class ThreadEventsListParams(WireModel):
    """ext ``thread/events/list`` params."""

    thread_id: str
    after_cursor: str | None = None
    limit: Annotated[int, Field(ge=1, le=256)] | None = None


class LoggedEvent(WireModel):
    """One logged thread-scoped notification."""

    cursor: str
    method: str
    params: OpenObject


class ThreadEventsListResponse(WireModel):
    """ext ``thread/events/list`` result; ``nextCursor`` is ``null`` at the live end."""

    events: list[LoggedEvent]
    next_cursor: str | None
    truncated: bool


EXT_REQUESTS: dict[str, tuple[type[WireModel], type[WireModel]]] = {
    "thread/events/list": (ThreadEventsListParams, ThreadEventsListResponse),
}
"""ext methods: method -> (params model, result model)."""

EXT_PARAMS: dict[str, tuple[type[WireModel], frozenset[str]]] = {
    "thread/resume": (ThreadResumeExtParams, frozenset({"afterCursor"})),
}
"""v1 methods with ext params: method -> (params model with them, the ext param names)."""


# --------------------------------------------------------------------------- method tables


CLIENT_REQUESTS: dict[str, tuple[type[WireModel], type[WireModel], bool]] = {
    "initialize": (InitializeParams, InitializeResponse, True),
    "thread/start": (ThreadStartParams, ThreadStartResponse, False),
    "thread/resume": (ThreadResumeParams, ThreadResumeResponse, True),
    "thread/read": (ThreadReadParams, ThreadReadResponse, True),
    "thread/list": (ThreadListParams, ThreadListResponse, False),
    "thread/archive": (ThreadArchiveParams, ThreadArchiveResponse, True),
    "thread/unsubscribe": (ThreadUnsubscribeParams, ThreadUnsubscribeResponse, True),
    "turn/start": (TurnStartParams, TurnStartResponse, True),
    "turn/steer": (TurnSteerParams, TurnQueuedResponse, True),
    "turn/followUp": (TurnFollowUpParams, TurnQueuedResponse, True),
    "turn/interrupt": (TurnInterruptParams, TurnInterruptResponse, True),
    "turn/resume": (TurnResumeParams, TurnResumeResponse, True),
    "approval/resolve": (ApprovalResolveParams, ApprovalResolveResponse, True),
    "model/list": (ModelListParams, ModelListResponse, False),
    "schema/export": (SchemaExportParams, SchemaExportResponse, False),
}
"""Every v1 client request: method -> (params model, result model, params required)."""

SERVER_NOTIFICATIONS: dict[str, type[WireModel]] = {
    "thread/started": ThreadStartedParams,
    "thread/status/changed": ThreadStatusChangedParams,
    "thread/archived": ThreadArchivedParams,
    "thread/closed": ThreadClosedParams,
    "turn/started": TurnStartedParams,
    "turn/completed": TurnCompletedParams,
    "item/started": AppItem,
    "item/completed": AppItem,
    "item/agentMessage/delta": AgentMessageDeltaParams,
    "item/toolCall/delta": ToolCallDeltaParams,
    "approval/requested": ApprovalRequestedParams,
    "approval/resolved": ApprovalResolvedParams,
    "error/warning": ErrorWarningParams,
}
"""Every v1 server notification: method -> params model."""

SERVER_REQUESTS: dict[str, type[WireModel]] = {"approval/request": ApprovalRequestParams}
"""Every v1 server request: method -> params model."""
