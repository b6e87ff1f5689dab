"""``ScriptedModel``: a deterministic model for tests and examples.

    model = ScriptedModel([
        call_tool("todo_write", {"todos": [...]}),
        reply("thinking out loud"),
        call_tool("task_finish", {"message": "done"}),
    ])

``steps`` is a list of responses (``ModelResponse``, or an exception to raise) or a callable
``(request) -> response`` that sees the messages and tools of each request. The model streams
like a real one (text, tool-call start and argument deltas), so every event a host sees with a
real provider appears with it too.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentcycle._json import dumps
from agentcycle.errors import ModelError
from agentcycle.messages import Message, TokenUsage, ToolCall
from agentcycle.models._playback import response_items
from agentcycle.models.base import (
    NO_USAGE,
    ModelInfo,
    ModelRequest,
    ModelResponse,
    ModelStreamItem,
)

ScriptStep = ModelResponse | BaseException
Script = Sequence[ScriptStep] | Callable[[ModelRequest], ScriptStep]

_call_ids = itertools.count(1)


def _arguments_text(arguments: dict[str, Any] | str | None) -> str:
    if arguments is None:
        return "{}"
    if isinstance(arguments, str):
        return arguments  # raw text, possibly malformed on purpose
    return dumps(arguments)


def call_tool(
    name: str | Sequence[tuple[str, dict[str, Any] | str | None]],
    arguments: dict[str, Any] | str | None = None,
    text: str | None = None,
    *,
    reasoning: str | None = None,
    usage: TokenUsage | None = None,
) -> ModelResponse:
    """A response that calls one tool (``call_tool("x", {...})``) or several
    (``call_tool([("a", {...}), ("b", {...})])``). A ``str`` argument is sent verbatim, so a
    test can script malformed JSON."""
    pairs = [(name, arguments)] if isinstance(name, str) else list(name)
    calls = tuple(
        ToolCall(id=f"call_{next(_call_ids)}", name=tool, arguments=_arguments_text(args))
        for tool, args in pairs
    )
    return ModelResponse(
        text=text or "",
        tool_calls=calls,
        reasoning=reasoning,
        usage=usage or NO_USAGE,
        finish_reason="tool_calls",
    )


def reply(
    text: str, *, reasoning: str | None = None, usage: TokenUsage | None = None
) -> ModelResponse:
    """A plain text response with no tool call."""
    return ModelResponse(
        text=text, reasoning=reasoning, usage=usage or NO_USAGE, finish_reason="stop"
    )


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request as the model saw it: the history up to that call and the offered tools."""

    messages: Sequence[Message]
    tools: tuple[str, ...]
    request: ModelRequest


class ScriptedModel:
    """A model that plays back a script (see the module docstring).

    ``context_length`` and ``max_output_tokens`` declare limits as a settings file would, so
    runs with a small window exercise memory compaction; summary calls arrive as requests with
    ``operation="memory_compaction"``, session memory extractions with
    ``operation="session_memory"``. ``record_requests=False`` keeps no requests (``requests``
    stays empty, ``calls`` still counts): for load tests that hold thousands of runs in one
    process. ``native_multimodal=True`` declares a model that takes images, so runs with a
    workspace offer it ``read_image``."""

    def __init__(
        self,
        steps: Script,
        *,
        name: str = "scripted",
        context_length: int | None = None,
        max_output_tokens: int | None = None,
        native_multimodal: bool = False,
        stream_chunk_chars: int = 0,
        record_requests: bool = True,
    ) -> None:
        self._steps = steps
        self._position = 0
        self._seen: list[tuple[ModelRequest, int]] = []
        self._record = record_requests
        self._calls = 0
        self._name = name
        self._chunk = stream_chunk_chars
        self.info = ModelInfo(
            context_length=context_length,
            max_output_tokens=max_output_tokens,
            native_multimodal=native_multimodal,
        )

    @property
    def name(self) -> str:
        """The model name reported in events."""
        return self._name

    @property
    def backend(self) -> str | None:
        """Always ``"scripted"``."""
        return "scripted"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, each with the history as that call saw it. A compaction
        rewrites the history in place, so entries from before it show the compacted messages;
        inspect ``request.messages`` inside a callable script to see a request exactly."""
        return [
            RecordedRequest(
                messages=request.messages[:length],
                tools=tuple(request.tool_names()),
                request=request,
            )
            for request, length in self._seen
        ]

    @property
    def calls(self) -> int:
        """How many times the model was called."""
        return self._calls

    def _next(self, request: ModelRequest) -> ScriptStep:
        if callable(self._steps):
            return self._steps(request)
        if self._position >= len(self._steps):
            raise ModelError(
                f"ScriptedModel ran out of steps after {len(self._steps)} responses.",
                code="script_exhausted",
            )
        step = self._steps[self._position]
        self._position += 1
        return step

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamItem]:
        """Play the next step as a stream of deltas ending with the response."""
        # Recording the length, not a copy, keeps each call O(1) however long the history.
        self._calls += 1
        if self._record:
            self._seen.append((request, len(request.messages)))
        step = self._next(request)
        if isinstance(step, BaseException):
            raise step
        # The same items ``play_response`` streams, without a nested async generator.
        for item in response_items(step, self._chunk):
            yield item
