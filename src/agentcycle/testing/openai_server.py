"""A scriptable OpenAI-compatible Chat Completions server on loopback, for tests and demos.

::

    from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer, ServerToolCall

    with OpenAICompatServer([
        ChatReply(tool_calls=[ServerToolCall("read_file", {"path": "a.txt"})]),
        ChatReply(text="done", usage=usage(12, 3)),
    ]) as server:
        ...  # point a model at server.base_url (ends in /v1), any API key
        assert server.requests[0].headers["authorization"] == "Bearer sk-test"

In pytest, start it in a fixture (``with OpenAICompatServer() as server: yield server``) and
``server.enqueue(...)`` replies per test, or pass ``handler=`` to compute each reply from the
request JSON. It serves ``stream=true`` (SSE ``data:`` lines ending with ``data: [DONE]``, text
and tool-call arguments split into ``chunk_size`` pieces, usage as a final chunk when the client
asks with ``stream_options.include_usage``) and plain JSON completions. A plain ``str`` reply is
a text answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentcycle.testing._loopback import (
    ErrorReply,
    Exchange,
    LoopbackServer,
    RecordedRequest,
    ServerToolCall,
    split,
)

__all__ = [
    "ChatReply",
    "ErrorReply",
    "OpenAICompatServer",
    "RecordedRequest",
    "ServerToolCall",
    "usage",
]


def usage(
    prompt_tokens: int,
    completion_tokens: int,
    *,
    cached_tokens: int | None = None,
    reasoning_tokens: int | None = None,
) -> dict[str, Any]:
    """A Chat Completions ``usage`` object; the details appear only when given."""
    body: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        body["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    if reasoning_tokens is not None:
        body["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return body


@dataclass(frozen=True, slots=True)
class ChatReply:
    """A successful completion.

    ``reasoning`` is sent as ``reasoning_content``. ``usage`` (see ``usage()``) is omitted when
    ``None``. ``finish_reason`` defaults to ``tool_calls`` or ``stop``. ``cut_after=N`` drops
    the connection after N streamed events (0: right after the headers; for a non-streamed
    request, before any response). ``delay`` seconds pass before the response starts.
    ``empty=True`` streams no chunk at all, only ``data: [DONE]``: how llama.cpp's server
    answers a prompt that does not fit its context window; ``done=False`` leaves out the
    ``[DONE]`` too, a 200 stream with an empty body: how llama-cpp-python's server does.
    """

    text: str = ""
    tool_calls: Sequence[ServerToolCall] = ()
    reasoning: str | None = None
    usage: Mapping[str, Any] | None = None
    finish_reason: str | None = None
    model: str | None = None
    chunk_size: int | None = None
    cut_after: int | None = None
    delay: float = 0.0
    empty: bool = False
    done: bool = True


class OpenAICompatServer(LoopbackServer[ChatReply]):
    """A loopback server speaking ``POST /v1/chat/completions`` (streamed and not)."""

    @property
    def base_url(self) -> str:
        """The API base to configure clients with: ``http://127.0.0.1:<port>/v1``."""
        return f"{self.origin}/v1"

    def _serve(self, exchange: Exchange, method: str, path: str, body: Any) -> None:
        if method != "POST" or not path.endswith("/chat/completions"):
            exchange.json(404, _error_body("not found: " + path, "invalid_request_error", None))
            return
        reply = self._next_reply(body)
        if isinstance(reply, str):
            reply = ChatReply(text=reply)
        if not exchange.wait(reply.delay):
            return
        if isinstance(reply, ErrorReply):
            error = reply.body
            if error is None:
                error = _error_body(reply.message, reply.error_type, reply.code)
            exchange.json(reply.status, error, reply.headers)
            return
        request = body if isinstance(body, dict) else {}
        model = reply.model or str(request.get("model") or "test-model")
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            self._stream(exchange, reply, model, include_usage)
        elif reply.cut_after is not None:
            exchange.cut()
        else:
            exchange.json(200, _completion(reply, model))

    def _stream(
        self, exchange: Exchange, reply: ChatReply, model: str, include_usage: bool
    ) -> None:
        chunks = [] if reply.empty else _chunks(reply, model, self.chunk_size)
        events = [json.dumps(chunk) for chunk in chunks]
        if include_usage and reply.usage is not None and not reply.empty:
            events.append(json.dumps(_chunk(model, [], usage=dict(reply.usage))))
        if reply.done:
            events.append("[DONE]")
        exchange.start_events()
        for number, data in enumerate(events):
            if reply.cut_after is not None and number >= reply.cut_after:
                exchange.cut()
                return
            exchange.event(data)
        exchange.end_events()


def _error_body(message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": error_type or "invalid_request_error",
            "param": None,
            "code": code,
        }
    }


_CREATED = int(time.time())


def _finish_reason(reply: ChatReply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _call_id(number: int, call: ServerToolCall) -> str:
    return call.id or f"call_{number}"


def _completion(reply: ChatReply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.reasoning is not None:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(number, call),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_text()},
            }
            for number, call in enumerate(reply.tool_calls)
        ]
    body: dict[str, Any] = {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": _CREATED,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish_reason(reply)}],
    }
    if reply.usage is not None:
        body["usage"] = dict(reply.usage)
    return body


def _chunk(model: str, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "choices": choices,
        **extra,
    }


def _delta(model: str, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return _chunk(model, [{"index": 0, "delta": delta, "finish_reason": finish_reason}])


def _chunks(reply: ChatReply, model: str, default_size: int) -> list[dict[str, Any]]:
    size = reply.chunk_size or default_size
    chunks = [_delta(model, {"role": "assistant", "content": ""})]
    for piece in split(reply.reasoning or "", size):
        chunks.append(_delta(model, {"reasoning_content": piece}))
    for piece in split(reply.text, size):
        chunks.append(_delta(model, {"content": piece}))
    for number, call in enumerate(reply.tool_calls):
        head = {
            "index": number,
            "id": _call_id(number, call),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        chunks.append(_delta(model, {"tool_calls": [head]}))
        for piece in split(call.arguments_text(), size):
            tail = {"index": number, "function": {"arguments": piece}}
            chunks.append(_delta(model, {"tool_calls": [tail]}))
    chunks.append(_delta(model, {}, _finish_reason(reply)))
    return chunks
