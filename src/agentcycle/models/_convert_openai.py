"""Conversion between agentcycle's data and the OpenAI Chat Completions wire shapes.

Pure functions and a small stream accumulator; no SDK import. Chunks and completions are read by
attribute with ``getattr`` so both the SDK's objects and fields that only some compatible servers
send (``reasoning_content``, DeepSeek's ``prompt_cache_hit_tokens``) work.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

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
    content_text,
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

WireMessages = tuple[dict[str, Any], ...]

# --------------------------------------------------------------------------- messages


def _content(content: Content) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if all(isinstance(part, TextPart) for part in content):
        # Plain strings are understood by every compatible server; part arrays are not.
        return content_text(content)
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            parts.append({"type": "text", "text": part.text})
        else:
            parts.append(_image(part))
    return parts


def _image(part: ImagePart) -> dict[str, Any]:
    image: dict[str, Any] = {"url": part.as_url()}
    if part.detail is not None:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


def convert_message(message: Message, *, send_reasoning: bool = False) -> WireMessages:
    """The wire messages for one history message (a tool result with images becomes a tool
    message plus a user message carrying the images, since tool messages take only text)."""
    if isinstance(message, SystemMessage):
        return ({"role": "system", "content": message.content},)
    if isinstance(message, UserMessage):
        return ({"role": "user", "content": _content(message.content)},)
    if isinstance(message, AssistantMessage):
        wire: dict[str, Any] = {"role": "assistant"}
        if message.tool_calls:
            wire["content"] = message.content or None
            wire["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ]
        else:
            wire["content"] = message.content
        if send_reasoning and message.reasoning:
            wire["reasoning_content"] = message.reasoning
        return (wire,)
    if isinstance(message, ToolMessage):
        tool = {
            "role": "tool",
            "tool_call_id": message.tool_call_id,
            "content": content_text(message.content),
        }
        if isinstance(message.content, str):
            return (tool,)
        images = [_image(part) for part in message.content if isinstance(part, ImagePart)]
        if not images:
            return (tool,)
        if not tool["content"]:
            tool["content"] = "(images attached in the next message)"
        caption = {"type": "text", "text": f"Images returned by tool call {message.tool_call_id}:"}
        return (tool, {"role": "user", "content": [caption, *images]})
    raise TypeError(f"not a message: {type(message).__name__}")


class MessageConverter:
    """Converts histories to wire messages, converting each message only once."""

    __slots__ = ("_cache", "_send_reasoning")

    def __init__(self, *, send_reasoning: bool = False) -> None:
        self._send_reasoning = send_reasoning
        self._cache: WireCache[Message, WireMessages] = WireCache()

    def _convert(self, message: Message) -> WireMessages:
        return convert_message(message, send_reasoning=self._send_reasoning)

    def convert(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        """The wire ``messages`` list for ``messages``; cached dicts are shared, not copied."""
        out: list[dict[str, Any]] = []
        get = self._cache.get
        for message in messages:
            out.extend(get(message, self._convert))
        return out


# --------------------------------------------------------------------------- request


def convert_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """The wire ``tools`` list."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


def is_official_openai(api_base: str | None) -> bool:
    """Whether ``api_base`` is OpenAI's own API (``None`` means the SDK's default, which is)."""
    if not api_base:
        return True
    return (urlsplit(api_base).hostname or "").lower() == "api.openai.com"


def _tool_choice(choice: str) -> str | dict[str, Any]:
    if choice in ("auto", "required", "none"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def request_params(
    model_id: str,
    messages: list[dict[str, Any]],
    tools: Sequence[ToolSpec],
    settings: ModelSettings,
    *,
    stream: bool,
    official: bool = False,
) -> dict[str, Any]:
    """Keyword arguments for ``chat.completions.create``.

    ``reasoning`` maps its ``effort`` key to ``reasoning_effort``; other providers' knobs (for
    example DeepSeek's or Qwen's ``enable_thinking``) go through ``extra_body``. ``max_tokens``
    is sent as ``max_completion_tokens`` to OpenAI itself (``official``), whose reasoning models
    reject the old name, and as ``max_tokens`` everywhere else, where it is the one understood.
    """
    params: dict[str, Any] = {"model": model_id, "messages": messages}
    if stream:
        params["stream"] = True
        params["stream_options"] = {"include_usage": True}
    if tools:
        params["tools"] = convert_tools(tools)
        if settings.tool_choice is not None:
            params["tool_choice"] = _tool_choice(settings.tool_choice)
        # Only meaningful (and only accepted by strict servers) when tools are offered.
        if settings.parallel_tool_calls is not None:
            params["parallel_tool_calls"] = settings.parallel_tool_calls
    if settings.temperature is not None:
        params["temperature"] = settings.temperature
    if settings.top_p is not None:
        params["top_p"] = settings.top_p
    if settings.max_tokens is not None:
        params["max_completion_tokens" if official else "max_tokens"] = settings.max_tokens
    if settings.reasoning and settings.reasoning.get("effort") is not None:
        params["reasoning_effort"] = settings.reasoning["effort"]
    if settings.response_format is not None:
        params["response_format"] = settings.response_format
    if settings.timeout is not None:
        params["timeout"] = settings.timeout
    if settings.extra_headers:
        params["extra_headers"] = dict(settings.extra_headers)
    if settings.extra_body:
        params["extra_body"] = dict(settings.extra_body)
    return params


# --------------------------------------------------------------------------- responses


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def convert_usage(usage: object) -> TokenUsage:
    """``TokenUsage`` from a Chat Completions ``usage`` object; absent counts stay ``None``."""
    if usage is None:
        return TokenUsage()
    cached: int | None = None
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    if prompt_details is not None:
        cached = _int(getattr(prompt_details, "cached_tokens", None))
    if cached is None:
        # DeepSeek reports cache hits at the top level; Moonshot as ``cached_tokens``.
        cached = _int(getattr(usage, "prompt_cache_hit_tokens", None))
        if cached is None:
            cached = _int(getattr(usage, "cached_tokens", None))
    reasoning: int | None = None
    completion_details = getattr(usage, "completion_tokens_details", None)
    if completion_details is not None:
        reasoning = _int(getattr(completion_details, "reasoning_tokens", None))
    return TokenUsage.of(
        _int(getattr(usage, "prompt_tokens", None)),
        _int(getattr(usage, "completion_tokens", None)),
        total_tokens=_int(getattr(usage, "total_tokens", None)),
        cached_tokens=cached,
        reasoning_tokens=reasoning,
    )


def reasoning_text(delta_or_message: object) -> str | None:
    """Reasoning text sent as ``reasoning_content`` (DeepSeek, Qwen, vLLM, Moonshot) or as a
    string ``reasoning`` (OpenRouter, Ollama)."""
    value = getattr(delta_or_message, "reasoning_content", None)
    if isinstance(value, str):
        return value
    value = getattr(delta_or_message, "reasoning", None)
    return value if isinstance(value, str) else None


def _call_id(index: int) -> str:
    # Some local servers omit tool call ids; the loop needs one to pair results with calls.
    return f"call_{index}_{uuid.uuid4().hex[:12]}"


class _CallBuilder:
    __slots__ = ("arguments", "id", "name", "started", "total", "unreported")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name = ""
        self.arguments: list[str] = []
        self.total = 0
        self.unreported: list[str] = []
        self.started = False


class StreamAccumulator:
    """Folds streamed chunks into deltas and, at the end, one ``ModelResponse``."""

    __slots__ = (
        "_calls",
        "_endpoint",
        "_model",
        "_reasoning",
        "_text",
        "finish_reason",
        "response_id",
        "usage",
    )

    def __init__(self, model_id: str, endpoint: str) -> None:
        self._model = model_id
        self._endpoint = endpoint
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _CallBuilder] = {}
        self.finish_reason: str | None = None
        self.response_id: str | None = None
        self.usage: object | None = None

    def feed(self, chunk: Any) -> list[ModelDelta]:
        """The deltas carried by one chunk."""
        if chunk.usage is not None:
            self.usage = chunk.usage
        if self.response_id is None and chunk.id:
            self.response_id = chunk.id
        if chunk.model:
            self._model = chunk.model
        out: list[ModelDelta] = []
        for choice in chunk.choices or ():
            if choice.index not in (0, None):
                continue
            delta = choice.delta
            if delta is not None:
                self._feed_delta(delta, out)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        return out

    def _feed_delta(self, delta: Any, out: list[ModelDelta]) -> None:
        reasoning = reasoning_text(delta)
        if reasoning:
            self._reasoning.append(reasoning)
            out.append(ReasoningTextDelta(reasoning))
        text = delta.content or getattr(delta, "refusal", None)
        if text:
            self._text.append(text)
            out.append(TextDelta(text))
        for call in delta.tool_calls or ():
            # A call without an index is taken to be a new, complete call.
            index = call.index if call.index is not None else len(self._calls)
            builder = self._calls.get(index)
            if builder is None:
                builder = self._calls[index] = _CallBuilder()
            if call.id and builder.id is None:
                builder.id = call.id
            function = call.function
            if function is None:
                continue
            if function.name and not builder.name:
                builder.name = function.name
            if builder.name and not builder.started:
                builder.started = True
                if builder.id is None:
                    builder.id = _call_id(index)
                out.append(ToolCallStartDelta(index, builder.id, builder.name))
            piece = function.arguments
            if piece:
                builder.arguments.append(piece)
                builder.total += len(piece)
                if not builder.started:
                    builder.unreported.append(piece)
                    continue
            if builder.unreported:
                # Arguments that arrived before the name are reported with the first chunk
                # after it, so the reported pieces always add up to ``total_chars``.
                piece = "".join(builder.unreported) + (piece or "")
                builder.unreported.clear()
            if piece:
                out.append(
                    ToolCallArgumentsDelta(index, builder.id, builder.name, piece, builder.total)
                )

    def response(self) -> ModelResponse:
        """The final response once the stream ended."""
        calls = tuple(
            ToolCall(
                id=builder.id or _call_id(index),
                name=builder.name,
                arguments="".join(builder.arguments) or "{}",
            )
            for index, builder in sorted(self._calls.items())
        )
        return ModelResponse(
            text="".join(self._text),
            tool_calls=calls,
            reasoning="".join(self._reasoning) or None,
            usage=convert_usage(self.usage),
            finish_reason=self.finish_reason,
            model=self._model,
            endpoint=self._endpoint,
            response_id=self.response_id,
        )


def completion_items(completion: Any, model_id: str, endpoint: str) -> list[Any]:
    """Deltas and the final response for a non-streamed completion, so hosts that render
    deltas see the same shape of events either way."""
    out: list[Any] = []
    choices = completion.choices or ()
    message = choices[0].message if choices else None
    text = ""
    reasoning: str | None = None
    calls: list[ToolCall] = []
    if message is not None:
        reasoning = reasoning_text(message) or None
        if reasoning:
            out.append(ReasoningTextDelta(reasoning))
        text = message.content or getattr(message, "refusal", None) or ""
        if text:
            out.append(TextDelta(text))
        for index, call in enumerate(message.tool_calls or ()):
            function = getattr(call, "function", None)
            if function is None:
                continue
            arguments = function.arguments or "{}"
            call_id = call.id or _call_id(index)
            out.append(ToolCallStartDelta(index, call_id, function.name))
            out.append(
                ToolCallArgumentsDelta(index, call_id, function.name, arguments, len(arguments))
            )
            calls.append(ToolCall(id=call_id, name=function.name, arguments=arguments))
    out.append(
        ModelResponse(
            text=text,
            tool_calls=tuple(calls),
            reasoning=reasoning,
            usage=convert_usage(completion.usage),
            finish_reason=choices[0].finish_reason if choices else None,
            model=completion.model or model_id,
            endpoint=endpoint,
            response_id=completion.id,
        )
    )
    return out
