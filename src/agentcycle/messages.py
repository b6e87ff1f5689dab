"""Conversation data: messages, content parts, tool calls, tool results and token usage.

These are the wire and checkpoint shapes. They are immutable pydantic models: history grows by
appending new objects, never by rewriting old ones, so per-message caches (for example a token
count) stay valid for the life of the run.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import Field

from agentcycle._frozen import FrozenModel, shared_fields_set, trusted

# --------------------------------------------------------------------------- content parts


class TextPart(FrozenModel):
    """A run of plain text inside a message."""

    type: Literal["text"] = "text"
    text: str


class ImagePart(FrozenModel):
    """An image, either by URL (``https://`` or ``data:``) or as base64 ``data``."""

    type: Literal["image"] = "image"
    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: Literal["auto", "low", "high"] | None = None

    def as_url(self) -> str:
        """The image as a URL; inline data becomes a ``data:`` URL."""
        if self.url is not None:
            return self.url
        return f"data:{self.media_type or 'image/png'};base64,{self.data or ''}"


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]
Content = str | list[ContentPart]


def content_text(content: Content) -> str:
    """The text of ``content``, with non-text parts left out."""
    if isinstance(content, str):
        return content
    return "".join(part.text for part in content if isinstance(part, TextPart))


# --------------------------------------------------------------------------- tool calls


class ToolCall(FrozenModel):
    """One call the model asked for. ``arguments`` is the raw JSON text the model wrote; it may
    be malformed, which the orchestrator reports back to the model as an error result."""

    id: str
    name: str
    arguments: str = "{}"


class ToolResultStatus(enum.StrEnum):
    """How a tool call ended."""

    SUCCESS = "success"
    ERROR = "error"
    WAIT_RESPONSE = "wait_response"
    RUNNING = "running"


class Flow(enum.StrEnum):
    """How the loop goes on after a tool call (the ``directive`` of ``tool_call_completed``)."""

    CONTINUE = "continue"
    FINISH = "finish"
    WAIT_USER = "wait_user"
    HANDOFF = "handoff"


class Finish(FrozenModel):
    """End the run as completed (``task_finish``). The final output is ``output`` when the
    agent declares an ``output_type`` (``typed_output``), else ``message``."""

    kind: Literal["finish"] = "finish"
    flow: ClassVar[Flow] = Flow.FINISH
    message: str = ""
    output: Any = None
    typed_output: bool = False
    exposed_files: tuple[str, ...] | None = None

    @property
    def final_output(self) -> Any:
        """What the run returns as its final output."""
        return self.output if self.typed_output else self.message


class AskUser(FrozenModel):
    """Stop the run to wait for the user's answer (``ask_user``)."""

    kind: Literal["ask_user"] = "ask_user"
    flow: ClassVar[Flow] = Flow.WAIT_USER
    question: str
    options: tuple[Any, ...] = ()
    selection_type: str = "single"
    allow_custom_options: bool = True


class HandOff(FrozenModel):
    """Give control to agent ``target`` from the next cycle on; the rest of the batch is
    skipped. ``input`` is the note the target gets."""

    kind: Literal["handoff"] = "handoff"
    flow: ClassVar[Flow] = Flow.HANDOFF
    target: str
    input: str = ""


class ActivateSkill(FrozenModel):
    """Show the model a skill's instructions after the tool results (``activate_skill``)."""

    kind: Literal["activate_skill"] = "activate_skill"
    flow: ClassVar[Flow] = Flow.CONTINUE
    name: str
    instructions: str
    allowed_tools: tuple[str, ...] | None = None
    reason: str | None = None


class AttachImage(FrozenModel):
    """Show the model an image after the tool results (``read_image``): by ``url``, or as
    base64 ``data``; ``label`` names it in the text beside it."""

    kind: Literal["attach_image"] = "attach_image"
    flow: ClassVar[Flow] = Flow.CONTINUE
    label: str
    url: str | None = None
    data: str | None = None
    media_type: str | None = None


ToolDirective = Annotated[
    Finish | AskUser | HandOff | ActivateSkill | AttachImage, Field(discriminator="kind")
]
"""What a tool result asks of the loop beyond its content; the loop dispatches on the type."""


class ToolResult(FrozenModel):
    """The outcome of one tool call: model-visible ``content``, an optional typed
    ``directive`` for the loop, and host-only ``metadata`` (never read by the loop)."""

    status: ToolResultStatus = ToolResultStatus.SUCCESS
    directive: ToolDirective | None = None
    content: str = ""
    metadata: dict[str, Any] = Field(default_factory=dict)
    error_code: str | None = None

    @property
    def flow(self) -> Flow:
        """How the loop goes on after this result."""
        return self.directive.flow if self.directive is not None else Flow.CONTINUE

    @classmethod
    def success(cls, content: str, **fields: Any) -> ToolResult:
        """A successful result with ``content`` shown to the model."""
        if fields or type(content) is not str:
            return cls(content=content, **fields)
        # The common case, built without validation (``content`` is a str): one per tool call.
        values: dict[str, Any] = {
            "status": ToolResultStatus.SUCCESS,
            "directive": None,
            "content": content,
            "metadata": {},
            "error_code": None,
        }
        return trusted(cls, values, _SUCCESS_FIELDS)

    @classmethod
    def error(
        cls, error_code: str, message: str, *, details: Any = None, **fields: Any
    ) -> ToolResult:
        """An error result; the model sees ``{"ok": false, "error_code", "error", ...}``."""
        from agentcycle._json import dumps

        body: dict[str, Any] = {"ok": False, "error_code": error_code, "error": message}
        if details is not None:
            body["details"] = details
        if fields or type(error_code) is not str:
            return cls(
                status=ToolResultStatus.ERROR, content=dumps(body), error_code=error_code, **fields
            )
        values: dict[str, Any] = {
            "status": ToolResultStatus.ERROR,
            "directive": None,
            "content": dumps(body),
            "metadata": {},
            "error_code": error_code,
        }
        return trusted(cls, values, _ERROR_FIELDS)


_SUCCESS_FIELDS = shared_fields_set("content")
_ERROR_FIELDS = shared_fields_set("status", "content", "error_code")


# --------------------------------------------------------------------------- messages


class PromptSection(FrozenModel):
    """A named part of the system prompt (``agentcycle.prompts`` builds and documents them).

    ``stable`` sections stay the same from one model call, run or resume to the next (the
    agent's definition, tools guidance, skills), so providers can cache the prompt up to the
    last of them; volatile ones (the current time, recalled memory) change between runs."""

    id: str
    text: str
    stable: bool = True


class SystemMessage(FrozenModel):
    """Instructions for the model. ``content`` is the whole prompt as one text; ``sections``,
    when set, are the named parts it was joined from (a prompt bundle), which providers that
    cache prompt prefixes send as separate blocks."""

    role: Literal["system"] = "system"
    content: str
    sections: tuple[PromptSection, ...] = ()


class UserMessage(FrozenModel):
    """Input from the user (or a runtime hint written on the user's behalf)."""

    role: Literal["user"] = "user"
    content: Content
    synthetic: bool = False
    """True for messages the runtime wrote (hints, steering notes), not the person."""


class AssistantMessage(FrozenModel):
    """A model response as appended to history."""

    role: Literal["assistant"] = "assistant"
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str | None = None

    @classmethod
    def of(
        cls, content: str, tool_calls: tuple[ToolCall, ...], reasoning: str | None
    ) -> AssistantMessage:
        """The message for one model answer (the same as ``AssistantMessage(content=...,
        tool_calls=..., reasoning=...)``, without re-validating parts that are typed already:
        the loop builds one per cycle)."""
        if (
            type(content) is not str
            or type(tool_calls) is not tuple
            or not (reasoning is None or type(reasoning) is str)
            or not all(type(call) is ToolCall for call in tool_calls)
        ):
            return cls(content=content, tool_calls=tool_calls, reasoning=reasoning)
        values: dict[str, Any] = {
            "role": "assistant",
            "content": content,
            "tool_calls": tool_calls,
            "reasoning": reasoning,
        }
        return trusted(cls, values, _ASSISTANT_FIELDS)


class ToolMessage(FrozenModel):
    """The result of one tool call, paired with the call by ``tool_call_id``."""

    role: Literal["tool"] = "tool"
    tool_call_id: str
    name: str
    content: Content
    is_error: bool = False

    @classmethod
    def answering(cls, call: ToolCall, result: ToolResult) -> ToolMessage:
        """The message that pairs ``result`` with ``call`` in history (built from the two
        validated models without validating again: the loop builds one per tool call)."""
        values: dict[str, Any] = {
            "role": "tool",
            "tool_call_id": call.id,
            "name": call.name,
            "content": result.content,
            "is_error": result.status is ToolResultStatus.ERROR,
        }
        return trusted(cls, values, _TOOL_MESSAGE_FIELDS)


_ASSISTANT_FIELDS = shared_fields_set("content", "tool_calls", "reasoning")
_TOOL_MESSAGE_FIELDS = shared_fields_set("tool_call_id", "name", "content", "is_error")


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]


# --------------------------------------------------------------------------- usage


_N = TypeVar("_N", int, float)


def _add(a: _N | None, b: _N | None) -> _N | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


class TokenUsage(FrozenModel):
    """Token counts of one or more model calls. ``None`` means unknown, never zero.

    ``input_tokens`` counts the whole prompt, cache reads (``cached_tokens``) and writes
    (``cache_creation_tokens``) included. ``cost_usd`` is set when the model has a price
    (``agentcycle.pricing``). A sum adds the known values of each field: a part whose count (or
    cost) is unknown adds nothing, and the field stays ``None`` only when no part knows it.
    Reasoning tokens are the exception: providers report them for some calls and not others,
    so once a part that reports usage leaves them unknown, the sum's are unknown too (a partial
    count would pass for the whole). A usage that knows nothing (``TokenUsage()``) adds nothing.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    cache_creation_tokens: int | None = None
    cost_usd: float | None = None

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if other.knows_nothing():
            return self
        if self.knows_nothing():
            return other
        reasoning = (
            None
            if self.reasoning_tokens is None or other.reasoning_tokens is None
            else self.reasoning_tokens + other.reasoning_tokens
        )
        return TokenUsage(
            input_tokens=_add(self.input_tokens, other.input_tokens),
            output_tokens=_add(self.output_tokens, other.output_tokens),
            total_tokens=_add(self.total_tokens, other.total_tokens),
            reasoning_tokens=reasoning,
            cached_tokens=_add(self.cached_tokens, other.cached_tokens),
            cache_creation_tokens=_add(self.cache_creation_tokens, other.cache_creation_tokens),
            cost_usd=_add(self.cost_usd, other.cost_usd),
        )

    def knows_nothing(self) -> bool:
        """True when no count and no cost is known (a call that reported no usage)."""
        return (
            self.input_tokens is None
            and self.output_tokens is None
            and self.total_tokens is None
            and self.reasoning_tokens is None
            and self.cached_tokens is None
            and self.cache_creation_tokens is None
            and self.cost_usd is None
        )

    @classmethod
    def of(cls, input_tokens: int | None, output_tokens: int | None, **extra: Any) -> TokenUsage:
        """Usage with ``total_tokens`` derived when both sides are known."""
        total = extra.pop("total_tokens", None)
        if total is None and input_tokens is not None and output_tokens is not None:
            total = input_tokens + output_tokens
        return cls(
            input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=total, **extra
        )
