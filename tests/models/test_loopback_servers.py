"""The loopback servers used directly, the way a user's test would: sync context manager,
plain HTTP clients, recorded requests, clean shutdown."""

from __future__ import annotations

import http.client
import json
import threading

from agentcycle.testing.anthropic_server import AnthropicCompatServer, MessagesReply
from agentcycle.testing.openai_server import (
    ChatReply,
    ErrorReply,
    OpenAICompatServer,
    ServerToolCall,
    usage,
)


def post(server_origin: str, path: str, body: dict, headers: dict | None = None):
    host, port = server_origin.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(
            "POST",
            path,
            json.dumps(body),
            {"Content-Type": "application/json", **(headers or {})},
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def sse_data(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def test_openai_server_as_a_sync_context_manager():
    with OpenAICompatServer(
        [
            ChatReply(text="hi", usage=usage(3, 1)),
            ChatReply(tool_calls=[ServerToolCall("f", '{"a": 1', id="c9")], usage=usage(3, 1)),
            ChatReply(text="streamed", usage=usage(2, 2)),
        ]
    ) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")

        status, _, text = post(
            server.origin,
            "/v1/chat/completions",
            {"model": "m", "messages": []},
            {"Authorization": "Bearer k"},
        )
        assert status == 200
        body = json.loads(text)
        assert body["choices"][0]["message"]["content"] == "hi"
        assert body["choices"][0]["finish_reason"] == "stop"
        assert body["usage"]["total_tokens"] == 4

        _, _, text = post(server.origin, "/v1/chat/completions", {"model": "m", "messages": []})
        call = json.loads(text)["choices"][0]["message"]["tool_calls"][0]
        assert call["id"] == "c9"
        assert call["function"]["arguments"] == '{"a": 1'  # malformed text is sent verbatim

        _, headers, text = post(
            server.origin, "/v1/chat/completions", {"model": "m", "messages": [], "stream": True}
        )
        assert headers["Content-Type"] == "text/event-stream"
        events = sse_data(text)
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "streamed"
        # Usage only when the client asks for it with stream_options.include_usage.
        assert all("usage" not in c for c in chunks)

        first = server.requests[0]
        assert first.method == "POST"
        assert first.path == "/v1/chat/completions"
        assert first.headers["authorization"] == "Bearer k"
        assert first.json == {"model": "m", "messages": []}
        assert server.pending_replies == 0


def test_handler_errors_and_an_exhausted_script_are_reported_as_400():
    def handler(body):
        if body["model"] == "boom":
            raise RuntimeError("handler bug")
        return ErrorReply(429, message="later", headers={"Retry-After": "7"})

    with OpenAICompatServer(handler=handler) as server:
        status, headers, text = post(server.origin, "/v1/chat/completions", {"model": "x"})
        assert status == 429
        assert headers["Retry-After"] == "7"
        assert json.loads(text)["error"]["message"] == "later"

        status, _, text = post(server.origin, "/v1/chat/completions", {"model": "boom"})
        assert status == 400
        assert "handler bug" in text

    with OpenAICompatServer() as server:
        status, _, text = post(server.origin, "/v1/chat/completions", {"model": "x"})
        assert status == 400
        assert "no scripted reply left" in text
        status, _, _ = post(server.origin, "/v1/unknown", {})
        assert status == 404


def test_stop_ends_kept_alive_connections_and_joins_threads():
    server = OpenAICompatServer(["one"]).start()
    host, port = server.origin.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    connection.request("POST", "/v1/chat/completions", json.dumps({"model": "m"}))
    assert connection.getresponse().read()
    # The connection stays open (keep-alive) while the server stops.
    server.stop()
    connection.close()
    names = [thread.name for thread in threading.enumerate()]
    assert not any(name.startswith("OpenAICompatServer") for name in names)


def test_anthropic_server_streams_the_messages_event_sequence():
    reply = MessagesReply(
        text="hey",
        tool_uses=[ServerToolCall("f", {"a": 1}, id="toolu_x")],
        usage={"input_tokens": 4, "output_tokens": 2},
    )
    with AnthropicCompatServer([reply]) as server:
        _, _, text = post(
            server.origin, "/v1/messages", {"model": "claude", "stream": True, "messages": []}
        )
    names = [line[len("event: ") :] for line in text.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start"
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 2
    events = [json.loads(data) for data in sse_data(text)]
    assert events[0]["message"]["usage"]["input_tokens"] == 4
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"] == {"output_tokens": 2}
