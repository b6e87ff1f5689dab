"""A scriptable Anthropic Messages API server on loopback, for tests.

::

    from agentcycle.testing.anthropic_server import AnthropicCompatServer, MessagesReply

    with AnthropicCompatServer([MessagesReply(text="hi", usage=usage(10, 2))]) as server:
        ...  # point a model at server.base_url

Streamed requests get the Messages SSE sequence (``message_start``, ``content_block_start`` /
``content_block_delta`` / ``content_block_stop`` per block, ``message_delta`` with the stop
reason and output usage, ``message_stop``); other requests get one JSON message. Replies come
from the queue, then from ``handler(request_json)``; a plain ``str`` is a text answer.
"""

from __future__ import annotations

import json
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
    "AnthropicCompatServer",
    "ErrorReply",
    "MessagesReply",
    "RecordedRequest",
    "ServerToolCall",
    "usage",
]


def usage(
    input_tokens: int,
    output_tokens: int,
    *,
    cache_read_input_tokens: int | None = None,
    cache_creation_input_tokens: int | None = None,
) -> dict[str, Any]:
    """A Messages API ``usage`` object; the cache counts appear only when given."""
    body: dict[str, Any] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if cache_read_input_tokens is not None:
        body["cache_read_input_tokens"] = cache_read_input_tokens
    if cache_creation_input_tokens is not None:
        body["cache_creation_input_tokens"] = cache_creation_input_tokens
    return body


@dataclass(frozen=True, slots=True)
class MessagesReply:
    """A successful message: optional ``thinking``, then ``text``, then ``tool_uses``.

    ``stop_reason`` defaults to ``tool_use`` or ``end_turn``. When streaming, ``usage`` is split
    the way the API does it: input counts in ``message_start``, ``output_tokens`` in
    ``message_delta``. ``cut_after=N`` drops the connection after N events; ``delay`` seconds
    pass before the response starts.
    """

    text: str = ""
    tool_uses: Sequence[ServerToolCall] = ()
    thinking: str | None = None
    usage: Mapping[str, Any] | None = None
    stop_reason: str | None = None
    model: str | None = None
    chunk_size: int | None = None
    cut_after: int | None = None
    delay: float = 0.0


class AnthropicCompatServer(LoopbackServer[MessagesReply]):
    """A loopback server speaking ``POST /v1/messages`` (streamed and not)."""

    @property
    def base_url(self) -> str:
        """The API base to configure clients with: ``http://127.0.0.1:<port>`` (the SDK adds
        ``/v1/messages``; ``AnthropicModel`` also accepts the base with ``/v1``)."""
        return self.origin

    def _serve(self, exchange: Exchange, method: str, path: str, body: Any) -> None:
        if method != "POST" or not path.endswith("/messages"):
            exchange.json(404, _error_body("not_found_error", "not found: " + path))
            return
        reply = self._next_reply(body)
        if isinstance(reply, str):
            reply = MessagesReply(text=reply)
        if not exchange.wait(reply.delay):
            return
        if isinstance(reply, ErrorReply):
            error = reply.body
            if error is None:
                error = _error_body(reply.error_type or "invalid_request_error", reply.message)
            exchange.json(reply.status, error, reply.headers)
            return
        request = body if isinstance(body, dict) else {}
        model = reply.model or str(request.get("model") or "test-model")
        if request.get("stream"):
            self._stream(exchange, reply, model)
        elif reply.cut_after is not None:
            exchange.cut()
        else:
            exchange.json(200, _message(reply, model, _content(reply)))

    def _stream(self, exchange: Exchange, reply: MessagesReply, model: str) -> None:
        events = _events(reply, model, reply.chunk_size or self.chunk_size)
        exchange.start_events()
        for number, (name, data) in enumerate(events):
            if reply.cut_after is not None and number >= reply.cut_after:
                exchange.cut()
                return
            exchange.event(json.dumps(data), event=name)
        exchange.end_events()


def _error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}}


def _stop_reason(reply: MessagesReply) -> str:
    return reply.stop_reason or ("tool_use" if reply.tool_uses else "end_turn")


def _tool_id(number: int, call: ServerToolCall) -> str:
    return call.id or f"toolu_{number:02d}"


def _content(reply: MessagesReply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.thinking is not None:
        blocks.append({"type": "thinking", "thinking": reply.thinking, "signature": "sig"})
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for number, call in enumerate(reply.tool_uses):
        blocks.append(
            {
                "type": "tool_use",
                "id": _tool_id(number, call),
                "name": call.name,
                "input": json.loads(call.arguments_text()),
            }
        )
    return blocks


def _message(reply: MessagesReply, model: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "msg_loopback",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": dict(reply.usage) if reply.usage is not None else {},
    }


def _events(reply: MessagesReply, model: str, size: int) -> list[tuple[str, dict[str, Any]]]:
    start_usage = dict(reply.usage or {})
    output_tokens = start_usage.pop("output_tokens", None)
    start = _message(reply, model, [])
    start["stop_reason"] = None
    # Like the API: a provisional output count at the start, the real one in message_delta.
    start["usage"] = start_usage if output_tokens is None else {**start_usage, "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    index = 0

    def block(start_block: dict[str, Any], deltas: list[dict[str, Any]]) -> None:
        nonlocal index
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start_block},
            )
        )
        for delta in deltas:
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1

    if reply.thinking is not None:
        pieces = [{"type": "thinking_delta", "thinking": p} for p in split(reply.thinking, size)]
        pieces.append({"type": "signature_delta", "signature": "sig"})
        block({"type": "thinking", "thinking": "", "signature": ""}, pieces)
    if reply.text:
        block(
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": p} for p in split(reply.text, size)],
        )
    for number, call in enumerate(reply.tool_uses):
        block(
            {"type": "tool_use", "id": _tool_id(number, call), "name": call.name, "input": {}},
            [
                {"type": "input_json_delta", "partial_json": p}
                for p in split(call.arguments_text(), size)
            ],
        )
    delta_usage = {"output_tokens": output_tokens} if output_tokens is not None else {}
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
                "usage": delta_usage,
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events
