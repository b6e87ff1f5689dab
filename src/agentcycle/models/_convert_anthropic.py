"""Conversion between agentcycle's data and the Anthropic Messages wire shapes.

Pure functions and a stream accumulator; no SDK import. Leading system messages become the
``system`` parameter; consecutive tool results are merged into one user message of
``tool_result`` blocks, as the Messages API requires. Assistant reasoning is not sent back: the
API accepts thinking blocks only with the signature it issued, which history does not keep.

Prompt caching: a system message that carries prompt-bundle sections is sent as one text block
per section, with a ``cache_control`` breakpoint on the last block of its stable prefix, and
the last block of each of the last two user turns gets one too (the tail that the next call
extends, and the one before it as a fallback): three of the four breakpoints a request may
carry. A plain system message (no sections) is sent as text, with no breakpoints.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from agentcycle.messages import (
    AssistantMessage,
    Content,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    TokenUsage,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentcycle.models._wire_cache import WireCache
from agentcycle.models.base import (
    ModelDelta,
    ModelResponse,
    ModelSettings,
    ReasoningTextDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallStartDelta,
    ToolSpec,
)

DEFAULT_MAX_TOKENS = 4096
"""Anthropic requires ``max_tokens``; used when the settings leave it unset."""

# ``reasoning={"effort": ...}`` for portability with OpenAI-style settings: a thinking budget.
_EFFORT_BUDGET = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}

Kind = Literal["system", "message", "tool_result", "skip"]
Wire = tuple[Kind, Any]
System = str | list[dict[str, Any]] | None
"""The ``system`` parameter: text, or text blocks with a cache breakpoint."""

CACHE_CONTROL = {"type": "ephemeral"}
"""The breakpoint marker (the default five-minute cache)."""
HISTORY_BREAKPOINTS = 2
"""User turns, from the last, whose last block gets a breakpoint."""

# --------------------------------------------------------------------------- messages


def _image(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        source = {"type": "base64", "media_type": part.media_type or "image/png", "data": part.data}
    elif part.url is not None and part.url.startswith("data:") and ";base64," in part.url:
        header, data = part.url[5:].split(";base64,", 1)
        source = {"type": "base64", "media_type": header or "image/png", "data": data}
    else:
        source = {"type": "url", "url": part.url or ""}
    return {"type": "image", "source": source}


def _blocks(content: Content) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    return [
        {"type": "text", "text": part.text} if isinstance(part, TextPart) else _image(part)
        for part in content
    ]


def _tool_input(arguments: str) -> dict[str, Any]:
    # The API needs an object; malformed arguments were already reported to the model as an
    # error result, so an empty input keeps the history valid.
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def convert_message(message: Message) -> Wire:
    """The wire form of one history message, tagged with how it is assembled."""
    if isinstance(message, SystemMessage):
        return ("system", (message.content, _system_blocks(message)))
    if isinstance(message, UserMessage):
        return ("message", {"role": "user", "content": _blocks(message.content)})
    if isinstance(message, AssistantMessage):
        blocks: list[dict[str, Any]] = []
        if message.content:
            blocks.append({"type": "text", "text": message.content})
        for call in message.tool_calls:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": _tool_input(call.arguments),
                }
            )
        if not blocks:
            # The API rejects empty assistant turns.
            return ("skip", None)
        return ("message", {"role": "assistant", "content": blocks})
    if isinstance(message, ToolMessage):
        block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": message.tool_call_id,
            "content": _blocks(message.content),
        }
        if message.is_error:
            block["is_error"] = True
        return ("tool_result", block)
    raise TypeError(f"not a message: {type(message).__name__}")


def _system_blocks(message: SystemMessage) -> list[dict[str, Any]] | None:
    """One text block per section, a breakpoint after the stable prefix; ``None`` for a plain
    system message."""
    if not message.sections:
        return None
    blocks: list[dict[str, Any]] = []
    breakpoint_at = -1
    for section in message.sections:
        if not section.text:
            continue  # the API rejects empty text blocks
        if section.stable and breakpoint_at == len(blocks) - 1:
            breakpoint_at = len(blocks)
        blocks.append({"type": "text", "text": section.text})
    if breakpoint_at >= 0:
        blocks[breakpoint_at] = {**blocks[breakpoint_at], "cache_control": CACHE_CONTROL}
    return blocks


def _with_breakpoint(message: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of a wire user message whose last block carries a breakpoint (``None`` when it
    has no block that may carry one). Copies: converted messages are shared across calls."""
    content = message["content"]
    if isinstance(content, str):
        if not content:
            return None
        return {**message, "content": [{"type": "text", "text": content, **_MARK}]}
    if not content or (content[-1].get("type") == "text" and not content[-1].get("text")):
        return None
    return {**message, "content": [*content[:-1], {**content[-1], **_MARK}]}


_MARK = {"cache_control": CACHE_CONTROL}


class MessageConverter:
    """Converts histories to ``(system, messages)``, converting each message only once."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: WireCache[Message, Wire] = WireCache()

    def convert(self, messages: Sequence[Message]) -> tuple[System, list[dict[str, Any]]]:
        """The ``system`` parameter (leading system messages: text, or cacheable blocks) and
        the wire ``messages``."""
        system: list[tuple[str, list[dict[str, Any]] | None]] = []
        out: list[dict[str, Any]] = []
        results: list[dict[str, Any]] | None = None
        get = self._cache.get
        for message in messages:
            kind, wire = get(message, convert_message)
            if kind == "skip":
                continue
            if kind == "tool_result":
                if results is None:
                    # A fresh list per call: cached blocks are shared, never mutated.
                    results = []
                    out.append({"role": "user", "content": results})
                results.append(wire)
                continue
            results = None
            if kind == "system":
                if not out:
                    system.append(wire)
                else:
                    # The API has no mid-conversation system role.
                    out.append({"role": "user", "content": wire[0]})
                continue
            out.append(wire)
        if len(system) == 1 and system[0][1] is not None:
            _mark_history(out)
            return system[0][1], out
        return ("\n\n".join(text for text, _ in system) or None), out


def _mark_history(out: list[dict[str, Any]]) -> None:
    """Put breakpoints on the last ``HISTORY_BREAKPOINTS`` user turns of ``out`` (in place:
    the list is this call's own)."""
    left = HISTORY_BREAKPOINTS
    for i in range(len(out) - 1, -1, -1):
        if out[i]["role"] != "user":
            continue
        marked = _with_breakpoint(out[i])
        if marked is not None:
            out[i] = marked
            left -= 1
            if not left:
                return


# --------------------------------------------------------------------------- request


def _tool_choice(choice: str | None, parallel: bool | None) -> dict[str, Any] | None:
    if choice is None and parallel is None:
        return None
    if choice in (None, "auto"):
        wire: dict[str, Any] = {"type": "auto"}
    elif choice == "required":
        wire = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    else:
        wire = {"type": "tool", "name": choice}
    if parallel is False:
        wire["disable_parallel_tool_use"] = True
    return wire


def _thinking(reasoning: dict[str, Any] | None) -> dict[str, Any] | None:
    if not reasoning:
        return None
    if isinstance(reasoning.get("thinking"), dict):
        return dict(reasoning["thinking"])
    budget = reasoning.get("budget_tokens")
    if budget is None and reasoning.get("effort") in _EFFORT_BUDGET:
        budget = _EFFORT_BUDGET[reasoning["effort"]]
    if budget is None:
        return None
    return {"type": "enabled", "budget_tokens": int(budget)}


def request_params(
    model_id: str,
    system: System,
    messages: list[dict[str, Any]],
    tools: Sequence[ToolSpec],
    settings: ModelSettings,
    *,
    stream: bool,
) -> dict[str, Any]:
    """Keyword arguments for ``messages.create``.

    ``reasoning`` accepts ``{"budget_tokens": N}``, ``{"effort": "low"|"medium"|"high"}`` (a
    budget of 1024/4096/16384) or ``{"thinking": {...}}`` passed as is. ``response_format`` has
    no Messages API equivalent and is not sent.
    """
    params: dict[str, Any] = {
        "model": model_id,
        "max_tokens": settings.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages,
    }
    if stream:
        params["stream"] = True
    if system:
        params["system"] = system
    if tools:
        params["tools"] = [
            {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
            for tool in tools
        ]
        choice = _tool_choice(settings.tool_choice, settings.parallel_tool_calls)
        if choice is not None:
            params["tool_choice"] = choice
    thinking = _thinking(settings.reasoning)
    if thinking is not None:
        params["thinking"] = thinking
    if settings.timeout is not None:
        params["timeout"] = settings.timeout
    if settings.extra_headers:
        params["extra_headers"] = dict(settings.extra_headers)
    # Recent SDK releases dropped the sampling keywords the API still accepts: send them in the
    # body directly.
    body: dict[str, Any] = {}
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    if settings.top_p is not None:
        body["top_p"] = settings.top_p
    body.update(settings.extra_body or {})
    if body:
        params["extra_body"] = body
    return params


# --------------------------------------------------------------------------- responses


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Usage:
    """Running usage: ``message_start`` reports input, ``message_delta`` the final output."""

    __slots__ = ("cache_creation", "cache_read", "input", "output")

    def __init__(self) -> None:
        self.input: int | None = None
        self.output: int | None = None
        self.cache_read: int | None = None
        self.cache_creation: int | None = None

    def update(self, usage: object) -> None:
        if usage is None:
            return
        for attribute, field in (
            ("input", "input_tokens"),
            ("output", "output_tokens"),
            ("cache_read", "cache_read_input_tokens"),
            ("cache_creation", "cache_creation_input_tokens"),
        ):
            value = _int(getattr(usage, field, None))
            if value is not None:
                setattr(self, attribute, value)

    def token_usage(self) -> TokenUsage:
        # Anthropic's ``input_tokens`` excludes cache reads and writes; agentcycle's counts the
        # whole prompt (as OpenAI does), so context accounting is the same for every provider.
        total_input = self.input
        if total_input is not None:
            total_input += (self.cache_read or 0) + (self.cache_creation or 0)
        return TokenUsage.of(
            total_input,
            self.output,
            cached_tokens=self.cache_read,
            cache_creation_tokens=self.cache_creation,
        )


def convert_usage(usage: object) -> TokenUsage:
    """``TokenUsage`` from a Messages API ``usage`` object."""
    running = _Usage()
    running.update(usage)
    return running.token_usage()


class _Call:
    __slots__ = ("arguments", "id", "index", "name", "total")

    def __init__(self, index: int, call_id: str, name: str) -> None:
        self.index = index
        self.id = call_id
        self.name = name
        self.arguments: list[str] = []
        self.total = 0


class StreamAccumulator:
    """Folds Messages API stream events into deltas and one ``ModelResponse``."""

    __slots__ = (
        "_blocks",
        "_calls",
        "_endpoint",
        "_model",
        "_reasoning",
        "_text",
        "_usage",
        "finished",
        "response_id",
        "stop_reason",
    )

    def __init__(self, model_id: str, endpoint: str) -> None:
        self._model = model_id
        self._endpoint = endpoint
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: list[_Call] = []
        self._blocks: dict[int, _Call] = {}
        self._usage = _Usage()
        self.stop_reason: str | None = None
        self.response_id: str | None = None
        self.finished = False

    def feed(self, event: Any) -> list[ModelDelta]:
        """The deltas carried by one event."""
        kind = event.type
        out: list[ModelDelta] = []
        if kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                self._add_text(delta.text, out)
            elif delta.type == "input_json_delta":
                call = self._blocks.get(event.index)
                if call is not None and delta.partial_json:
                    call.arguments.append(delta.partial_json)
                    call.total += len(delta.partial_json)
                    out.append(
                        ToolCallArgumentsDelta(
                            call.index, call.id, call.name, delta.partial_json, call.total
                        )
                    )
            elif delta.type == "thinking_delta":
                self._add_reasoning(delta.thinking, out)
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "text":
                self._add_text(block.text, out)
            elif block.type == "thinking":
                self._add_reasoning(block.thinking, out)
            elif block.type == "tool_use":
                call = _Call(len(self._calls), block.id, block.name)
                self._calls.append(call)
                self._blocks[event.index] = call
                out.append(ToolCallStartDelta(call.index, call.id, call.name))
        elif kind == "message_start":
            message = event.message
            self.response_id = message.id
            self._model = message.model or self._model
            self._usage.update(message.usage)
        elif kind == "message_delta":
            self.stop_reason = event.delta.stop_reason or self.stop_reason
            self._usage.update(event.usage)
        elif kind == "message_stop":
            self.finished = True
        return out

    def _add_text(self, text: str | None, out: list[ModelDelta]) -> None:
        if text:
            self._text.append(text)
            out.append(TextDelta(text))

    def _add_reasoning(self, text: str | None, out: list[ModelDelta]) -> None:
        if text:
            self._reasoning.append(text)
            out.append(ReasoningTextDelta(text))

    def response(self) -> ModelResponse:
        """The final response once the stream ended."""
        return ModelResponse(
            text="".join(self._text),
            tool_calls=tuple(
                ToolCall(id=call.id, name=call.name, arguments="".join(call.arguments) or "{}")
                for call in self._calls
            ),
            reasoning="".join(self._reasoning) or None,
            usage=self._usage.token_usage(),
            finish_reason=self.stop_reason,
            model=self._model,
            endpoint=self._endpoint,
            response_id=self.response_id,
        )


def message_items(message: Any, model_id: str, endpoint: str) -> list[Any]:
    """Deltas and the final response for a non-streamed message."""
    out: list[Any] = []
    text: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for block in message.content or ():
        if block.type == "text" and block.text:
            text.append(block.text)
            out.append(TextDelta(block.text))
        elif block.type == "thinking" and block.thinking:
            reasoning.append(block.thinking)
            out.append(ReasoningTextDelta(block.thinking))
        elif block.type == "tool_use":
            arguments = json.dumps(block.input if block.input is not None else {})
            index = len(calls)
            out.append(ToolCallStartDelta(index, block.id, block.name))
            out.append(
                ToolCallArgumentsDelta(index, block.id, block.name, arguments, len(arguments))
            )
            calls.append(ToolCall(id=block.id, name=block.name, arguments=arguments))
    out.append(
        ModelResponse(
            text="".join(text),
            tool_calls=tuple(calls),
            reasoning="".join(reasoning) or None,
            usage=convert_usage(message.usage),
            finish_reason=message.stop_reason,
            model=message.model or model_id,
            endpoint=endpoint,
            response_id=message.id,
        )
    )
    return out
