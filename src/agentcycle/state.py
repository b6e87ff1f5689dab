"""Serialisable run state: a frozen run spec plus one appended record per cycle.

``RunState`` is what a checkpoint stores. It never rewrites history: each finished cycle adds a
``CycleRecord`` holding the messages that cycle appended, so a checkpoint store can persist a run
one cycle at a time (``CycleRecord.model_dump_json()``) and rebuild it by folding the records.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from agentcycle._frozen import FrozenModel, shared_fields_set, trusted
from agentcycle.errors import UnsupportedVersionError
from agentcycle.events import CompletionReason, RunStatus
from agentcycle.messages import (
    AssistantMessage,
    Message,
    PromptSection,
    SystemMessage,
    TokenUsage,
    ToolMessage,
    UserMessage,
)
from agentcycle.models.base import ModelSettings

STATE_VERSION = 2
"""Version 2 moved the sub-task records out of ``RunToolState.extra`` into ``sub_tasks``;
version 1 states are migrated when read."""


SKILL_ALWAYS_ALLOWED = frozenset({"task_finish", "ask_user", "activate_skill", "todo_write"})
"""Tools an active skill's ``allowed-tools`` never removes: the run can still finish, ask the
user, plan, and activate another skill. The run's own policy still applies to them."""


class NoToolPolicy(enum.StrEnum):
    """What happens when the model answers without calling a tool."""

    CONTINUE = "continue"
    FINISH = "finish"
    WAIT_USER = "wait_user"


class TodoItem(FrozenModel):
    """One entry of the run's TODO list (``todo_write``)."""

    id: str
    title: str
    status: Literal["pending", "in_progress", "completed"]
    priority: Literal["low", "medium", "high"]


class FileStamp(FrozenModel):
    """What this run last saw of a workspace file (for write-after-read checks)."""

    sha256: str
    size: int


class ActiveSkill(BaseModel):
    """A skill activated in this run (``activate_skill``). Its ``allowed_tools`` are copied at
    activation, so a resumed run enforces what the model was told even if the skill changed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    allowed_tools: tuple[str, ...] | None = None
    """``None``: the skill does not restrict tools."""
    cycle_index: int
    reason: str | None = None


class SubTaskState(BaseModel):
    """The run's sub-tasks (``create_sub_task``), by task id: each task's record (a
    ``SubTaskInfo`` as JSON), its conversation (messages as JSON) and the tool state its last
    turn left (as JSON), so a follow-up works after a resume in another process."""

    model_config = ConfigDict(extra="forbid")

    records: dict[str, dict[str, Any]] = Field(default_factory=dict)
    conversations: dict[str, list[Any]] = Field(default_factory=dict)
    tool_states: dict[str, dict[str, Any]] = Field(default_factory=dict)


_V1_SUB_TASK_KEYS = {
    "sub_tasks": "records",
    "sub_task_conversations": "conversations",
    "sub_task_tool_states": "tool_states",
}
"""Where version 1 kept sub-task state in ``RunToolState.extra``, and its field now."""


class RunToolState(BaseModel):
    """Mutable state shared by the run's tools; snapshotted into each cycle record.
    ``extra`` is free for the host's own tools; the built-in ones keep typed fields."""

    model_config = ConfigDict(extra="forbid")

    todos: list[TodoItem] = Field(default_factory=list)
    files_seen: dict[str, FileStamp] = Field(default_factory=dict)
    approved_tools: set[str] = Field(default_factory=set)
    """Tools approved with ``allow_session`` for the rest of the run."""
    active_skills: list[ActiveSkill] = Field(default_factory=list)
    """Skills activated so far, in order; a skill stays active for the rest of the run."""
    sub_tasks: SubTaskState | None = None
    """Set by the run's first ``create_sub_task``: a run without sub-tasks stores nothing."""
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_serializer(mode="wrap")
    def _without_absent_sub_tasks(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Leave ``sub_tasks`` out until the run has some: most runs have none."""
        data = handler(self)
        if isinstance(data, dict) and data.get("sub_tasks", True) is None:
            del data["sub_tasks"]
        return data

    @model_validator(mode="before")
    @classmethod
    def _lift_v1_sub_tasks(cls, data: Any) -> Any:
        """Move version 1's sub-task keys out of ``extra`` (a resumed v1 state, or a v1 task's
        saved tool state inside it)."""
        if not isinstance(data, dict):
            return data
        extra = data.get("extra")
        if not isinstance(extra, dict) or not extra.keys() & _V1_SUB_TASK_KEYS.keys():
            return data
        lifted = {new: extra[old] for old, new in _V1_SUB_TASK_KEYS.items() if old in extra}
        rest = {k: v for k, v in extra.items() if k not in _V1_SUB_TASK_KEYS}
        return {**data, "extra": rest, "sub_tasks": lifted}

    def open_todos(self) -> list[TodoItem]:
        """TODO items that are not completed."""
        return [todo for todo in self.todos if todo.status != "completed"]

    def skill_allowed_tools(self) -> frozenset[str] | None:
        """The union of the ``allowed_tools`` of the active skills that declare them, or
        ``None`` when no active skill restricts tools."""
        if not self.active_skills:  # the usual case, asked twice a cycle
            return None
        declared = [s.allowed_tools for s in self.active_skills if s.allowed_tools is not None]
        if not declared:
            return None
        return frozenset(name for allowed in declared for name in allowed)


class RunSpec(FrozenModel):
    """Everything that defines a run, fixed when it starts."""

    run_id: str
    trace_id: str
    agent_name: str
    backend: str | None
    model: str
    model_settings: ModelSettings
    tool_names: tuple[str, ...]
    max_cycles: int
    no_tool_policy: NoToolPolicy
    tool_use_behavior: str
    stop_at_tool_names: tuple[str, ...] = ()
    max_invalid_tool_calls: int
    input: Any
    initial_messages: tuple[Message, ...]
    session_id: str | None = None
    parent_run_id: str | None = None
    max_handoffs: int = 10
    """Handoffs (``transfer_to_<agent>``) the run may make in all; cycles count separately."""
    metadata: dict[str, Any] = Field(default_factory=dict)


class CompactionInfo(FrozenModel):
    """How a compaction rewrote the history (the same facts as ``memory_compact_completed``)."""

    trigger: Literal["threshold", "prompt_too_long", "manual"]
    mode: Literal["micro", "structural", "summary", "emergency"]
    tokens_before: int
    tokens_after: int
    dropped: list[dict[str, Any]] = Field(default_factory=list)


class HandoffRecord(FrozenModel):
    """Control moved to another agent in this cycle. The target's system prompt and the tools
    it was offered are kept, so the state alone says what the model saw from here on and a
    resumed run can check that the target still offers them."""

    source_agent: str
    target_agent: str
    tool_call_id: str
    system_prompt: str
    tool_names: tuple[str, ...]
    system_sections: tuple[PromptSection, ...] = ()
    """The sections of the target's prompt bundle (``system_prompt`` joins their texts)."""


class CycleRecord(FrozenModel):
    """What one cycle added: its messages (assistant, tool results, hints) and its usage.

    A compaction record (``compaction`` set) instead holds the whole compacted history at that
    point: its ``messages`` replace everything before it. It carries the index of the last
    committed cycle and the usage of the summary call, if any."""

    index: int
    messages: tuple[Message, ...]
    usage: TokenUsage
    model_calls: int = 1
    todos: tuple[TodoItem, ...] | None = None
    """The TODO list after this cycle, when the cycle changed it."""
    compaction: CompactionInfo | None = None
    handoff: HandoffRecord | None = None
    """Set when a handoff ended this cycle: the target agent runs the next one."""

    @classmethod
    def of_cycle(
        cls,
        index: int,
        messages: tuple[Message, ...],
        usage: TokenUsage,
        *,
        todos: tuple[TodoItem, ...] | None = None,
        handoff: HandoffRecord | None = None,
    ) -> CycleRecord:
        """The record of one finished cycle, the same as ``CycleRecord(index=..., ...)`` with
        the optional fields passed only when set, built without re-validating models that are
        validated already (the loop builds one per cycle)."""
        if (
            type(index) is not int
            or type(messages) is not tuple
            or type(usage) is not TokenUsage
            or not _MESSAGE_TYPES.issuperset(map(type, messages))
            or not (
                todos is None or (type(todos) is tuple and all(type(t) is TodoItem for t in todos))
            )
            or not (handoff is None or type(handoff) is HandoffRecord)
        ):
            extra: dict[str, Any] = {}
            if todos is not None:
                extra["todos"] = todos
            if handoff is not None:
                extra["handoff"] = handoff
            return cls(index=index, messages=messages, usage=usage, **extra)
        values = {
            "index": index,
            "messages": messages,
            "usage": usage,
            "model_calls": 1,
            "todos": todos,
            "compaction": None,
            "handoff": handoff,
        }
        return trusted(cls, values, _record_fields[todos is not None, handoff is not None])


_MESSAGE_TYPES = frozenset({SystemMessage, UserMessage, AssistantMessage, ToolMessage})
_record_fields = {
    (todos, handoff): shared_fields_set(
        "index",
        "messages",
        "usage",
        *(["todos"] if todos else []),
        *(["handoff"] if handoff else []),
    )
    for todos in (False, True)
    for handoff in (False, True)
}


class PendingToolCall(FrozenModel):
    """A tool call of the last assistant message that has not run yet: it waits for approval
    (``request_id`` set) or follows one that does (order is kept)."""

    tool_call_id: str
    tool_name: str
    arguments: str
    request_id: str | None = None
    message: str | None = None


def set_system_prompt(history: list[Message], message: SystemMessage) -> None:
    """Make ``message`` the history's system prompt (in place): it replaces the leading system
    message, or goes first when there is none."""
    if history and isinstance(history[0], SystemMessage):
        history[0] = message
    else:
        history.insert(0, message)


class RunState(BaseModel):
    """A run as a checkpoint: the spec, the cycle records, and where it ended."""

    model_config = ConfigDict(extra="forbid")

    version: int = STATE_VERSION
    spec: RunSpec
    cycles: list[CycleRecord] = Field(default_factory=list)
    status: RunStatus | None = None
    completion_reason: CompletionReason | None = None
    pending_tool_calls: list[PendingToolCall] = Field(default_factory=list)
    event_seq: int = 0
    """The ``seq`` of the last event emitted, so a resumed run continues the sequence."""
    resume_count: int = 0
    tool_state: RunToolState | None = None
    """The tools' state when the run stopped (todos, files seen, approvals)."""
    session_cursor: int | None = None
    """For a run with a session: how many messages of ``appended_messages()`` the session
    holds (or never gets: the system prompt); the rest is appended as a turn when the run next
    ends."""

    def messages(self) -> list[Message]:
        """The history as the model sees it: the initial messages and every cycle's messages,
        starting over at each compaction record."""
        history: list[Message] = list(self.spec.initial_messages)
        for cycle in self.cycles:
            if cycle.compaction is not None:
                history = list(cycle.messages)
            else:
                history.extend(cycle.messages)
            if cycle.handoff is not None:
                handoff = cycle.handoff
                set_system_prompt(
                    history,
                    SystemMessage(content=handoff.system_prompt, sections=handoff.system_sections),
                )
        return history

    def current_agent(self) -> str:
        """The agent in control: the target of the last handoff, else the one the run
        started with."""
        for cycle in reversed(self.cycles):
            if cycle.handoff is not None:
                return cycle.handoff.target_agent
        return self.spec.agent_name

    def handoff_count(self) -> int:
        """How many handoffs the run has made."""
        return sum(1 for cycle in self.cycles if cycle.handoff is not None)

    def offered_tool_names(self) -> tuple[str, ...]:
        """The tools the agent in control was offered (the last handoff's, else the spec's)."""
        for cycle in reversed(self.cycles):
            if cycle.handoff is not None:
                return cycle.handoff.tool_names
        return self.spec.tool_names

    def appended_messages(self) -> list[Message]:
        """Every message the run added, in order, as if nothing had been compacted: the initial
        messages and each ordinary cycle's messages (compaction records rewrite the history the
        model sees; they add nothing to the conversation)."""
        stream: list[Message] = list(self.spec.initial_messages)
        for cycle in self.cycles:
            if cycle.compaction is None:
                stream.extend(cycle.messages)
        return stream

    def message_count(self) -> int:
        """``len(self.messages())`` without building the list."""
        count = len(self.spec.initial_messages)
        for cycle in self.cycles:
            count = len(cycle.messages) + (0 if cycle.compaction is not None else count)
        return count

    @property
    def last_cycle_index(self) -> int:
        """The index of the last committed cycle (0 before the first)."""
        return self.cycles[-1].index if self.cycles else 0

    def to_json(self) -> str:
        """The state as JSON text."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str) -> RunState:
        """Read a state written by ``to_json`` (this version or version 1, migrated); rejects
        unknown versions."""
        import json

        data = json.loads(text)
        version = data.get("version")
        if version not in _READABLE_VERSIONS:
            raise UnsupportedVersionError(
                f"run state version {version!r} is not supported "
                f"(this build reads {', '.join(map(str, _READABLE_VERSIONS))})"
            )
        # Version 1 differs only inside the tool state, which migrates itself on validation.
        return cls.model_validate({**data, "version": STATE_VERSION})


_READABLE_VERSIONS = (1, STATE_VERSION)


def skill_refusal(state: RunToolState, tool_name: str) -> str | None:
    """Why the run's active skills forbid ``tool_name``, or ``None`` when they allow it. Once a
    skill that declares ``allowed-tools`` is active, only the union of the active skills'
    allowed tools plus ``SKILL_ALWAYS_ALLOWED`` may run; skills without ``allowed-tools``
    neither narrow nor widen, so activating one never lifts another skill's restriction."""
    allowed = state.skill_allowed_tools()
    if allowed is None or tool_name in allowed or tool_name in SKILL_ALWAYS_ALLOWED:
        return None
    names = ", ".join(s.name for s in state.active_skills if s.allowed_tools is not None)
    return f"{tool_name!r} is outside the allowed-tools of the active skill(s) {names}"
