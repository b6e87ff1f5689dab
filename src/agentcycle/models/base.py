"""The model interface: requests, streamed deltas, responses, settings and references.

A ``Model`` turns a ``ModelRequest`` into an async stream of ``ModelDelta`` items that ends with
exactly one ``ModelResponse``. Adapters for wire APIs (OpenAI-compatible, Anthropic) and the
scripted test model all implement it; the loop never knows which one it talks to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from agentcycle.messages import Message, TokenUsage, ToolCall


class RetrySettings(BaseModel):
    """Retry policy for transient model errors (connection, 408, 409, 429, 5xx)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = 4
    initial_delay: float = 0.5
    max_delay: float = 20.0
    multiplier: float = 2.0
    jitter: float = 0.25
    """Each delay is scaled by a random factor in ``[1 - jitter, 1 + jitter]``."""


class ModelSettings(BaseModel):
    """Sampling and transport settings. Unset fields (``None``) defer to the layer below;
    ``merge`` applies a later layer field by field (provider -> runner -> agent -> run)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    tool_choice: Literal["auto", "required", "none"] | str | None = None
    parallel_tool_calls: bool | None = None
    reasoning: dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None
    timeout: float | None = None
    """Idle timeout: seconds an attempt may go without streaming anything new (keep-alive
    comments do not count); default 60 (``models._limits``)."""
    total_timeout: float | None = None
    """Seconds one attempt may take in all, headers to last token; default 600."""
    retry: RetrySettings | None = None
    extra_headers: dict[str, str] | None = None
    extra_body: dict[str, Any] | None = None

    def merge(self, later: ModelSettings | None) -> ModelSettings:
        """These settings with every field that ``later`` sets taken from ``later``."""
        if later is None:
            return self
        overrides = {name: getattr(later, name) for name in later.model_fields_set}
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if not overrides:
            return self
        return self.model_copy(update=overrides)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What the model is told about one tool: name, description, JSON Schema of arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One model call. ``messages`` is the run's history as is (not a copy): adapters must not
    mutate it."""

    messages: Sequence[Message]
    tools: Sequence[ToolSpec] = ()
    settings: ModelSettings = field(default_factory=ModelSettings)
    cycle_index: int | None = None
    operation: Literal["agent_cycle", "memory_compaction", "session_memory", "output_repair"] = (
        "agent_cycle"
    )

    def tool_names(self) -> list[str]:
        """Names of the offered tools, in order."""
        return [tool.name for tool in self.tools]


# --------------------------------------------------------------------------- stream items


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Answer text streamed by the model."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningTextDelta:
    """Reasoning text streamed by the model (``reasoning_content`` and similar)."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStartDelta:
    """The model began a tool call at ``index``."""

    index: int
    id: str | None
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallArgumentsDelta:
    """The model wrote ``text`` more argument characters; ``total_chars`` so far."""

    index: int
    id: str | None
    name: str
    text: str
    total_chars: int


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """An adapter began a new attempt (a retry or failover); ``endpoint`` names where."""

    attempt: int
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """An attempt failed and another follows; carries the error for the event stream."""

    attempt: int
    error: Exception
    endpoint: str | None = None


ModelDelta = (
    TextDelta
    | ReasoningTextDelta
    | ToolCallStartDelta
    | ToolCallArgumentsDelta
    | AttemptStarted
    | AttemptFailed
)


NO_USAGE = TokenUsage()
"""Usage with every count unknown (shared: ``TokenUsage`` is immutable)."""


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """The final item of a model stream."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning: str | None = None
    usage: TokenUsage = NO_USAGE
    finish_reason: str | None = None
    model: str | None = None
    endpoint: str | None = None
    response_id: str | None = None


ModelStreamItem = ModelDelta | ModelResponse


@runtime_checkable
class Model(Protocol):
    """A language model the loop can call."""

    @property
    def name(self) -> str:
        """The model's name as reported in events."""
        ...

    @property
    def backend(self) -> str | None:
        """The settings backend this model was resolved from, if any."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamItem]:
        """Stream deltas for ``request``; the last item is the ``ModelResponse``.

        Raises ``ModelError`` (or ``PromptTooLongError``) when the call fails for good.
        """
        ...


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the runtime knows about a resolved model's limits."""

    context_length: int | None = None
    max_output_tokens: int | None = None
    function_call_available: bool = True
    native_multimodal: bool = False


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model named in a settings file: ``ModelRef.backend("openai", "gpt-4.1")`` or
    ``ModelRef.named("gpt-4.1")`` (resolved against the default backend)."""

    model: str
    backend_name: str | None = None

    @classmethod
    def backend(cls, backend: str, model: str) -> ModelRef:
        """A model of a specific backend."""
        return cls(model=model, backend_name=backend)

    @classmethod
    def named(cls, model: str) -> ModelRef:
        """A model of the run's default backend."""
        return cls(model=model)

    def __str__(self) -> str:
        return f"{self.backend_name}/{self.model}" if self.backend_name else self.model


@dataclass(frozen=True, slots=True)
class EndpointTarget:
    """One place a resolved model can be called: an endpoint of the settings file plus the model
    id to send there. Adapters try targets in order (failover). ``api_key`` is never shown in
    ``repr`` or events."""

    endpoint_id: str
    api_base: str | None
    model_id: str
    endpoint_type: Literal["openai", "anthropic"] = "openai"
    api_key: str | None = field(default=None, repr=False)
    headers: tuple[tuple[str, str], ...] = ()
