"""OpenAIChatModel over real HTTP on loopback: streaming, non-streamed calls, usage, requests."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from model_helpers import API_KEY, FAST_RETRY, ask, collect, target

from agentcycle.messages import (
    AssistantMessage,
    ImagePart,
    SystemMessage,
    TextPart,
    TokenUsage,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentcycle.models._convert_openai import is_official_openai, request_params
from agentcycle.models.base import (
    Model,
    ModelRequest,
    ModelSettings,
    ReasoningTextDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallStartDelta,
    ToolSpec,
)
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.testing.openai_server import ChatReply, ServerToolCall, usage

WRITE = ToolSpec(
    "write_file",
    "Write a file.",
    {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}},
)


async def test_streamed_tool_call_arguments_split_across_many_chunks(openai_server, make_openai):
    content = "line of text\n" * 40
    arguments = json.dumps({"path": "notes/a.txt", "content": content})
    openai_server.enqueue(
        ChatReply(
            text="Writing.",
            tool_calls=[
                ServerToolCall("write_file", arguments, id="call_w"),
                ServerToolCall("write_file", {"path": "b.txt", "content": ""}, id="call_b"),
            ],
            chunk_size=3,
        )
    )
    model = make_openai(openai_server.base_url)

    deltas, response = await collect(model, ask("write", tools=[WRITE]))

    assert response.text == "Writing."
    assert [(c.id, c.name) for c in response.tool_calls] == [
        ("call_w", "write_file"),
        ("call_b", "write_file"),
    ]
    assert response.tool_calls[0].arguments == arguments
    assert json.loads(response.tool_calls[1].arguments) == {"path": "b.txt", "content": ""}
    assert response.finish_reason == "tool_calls"
    assert response.endpoint == "local"
    starts = [d for d in deltas if isinstance(d, ToolCallStartDelta)]
    assert starts == [
        ToolCallStartDelta(0, "call_w", "write_file"),
        ToolCallStartDelta(1, "call_b", "write_file"),
    ]
    progress = [d for d in deltas if isinstance(d, ToolCallArgumentsDelta) and d.index == 0]
    assert len(progress) > 100  # really split into many chunks
    assert "".join(d.text for d in progress) == arguments
    assert [d.total_chars for d in progress][-1] == len(arguments)
    running = 0
    for delta in progress:
        running += len(delta.text)
        assert delta.total_chars == running
    # Each call's start comes before its argument progress.
    assert deltas.index(starts[0]) < deltas.index(progress[0])

    sent = openai_server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.json["stream"] is True
    assert sent.json["stream_options"] == {"include_usage": True}
    assert sent.json["model"] == "test-model"
    assert sent.json["tools"][0]["function"]["name"] == "write_file"
    assert sent.json["tools"][0]["function"]["parameters"] == WRITE.parameters


async def test_text_and_reasoning_content_stream_separately(openai_server, make_openai):
    openai_server.enqueue(
        ChatReply(text="The answer is 4.", reasoning="2 + 2 is 4, obviously.", chunk_size=5)
    )
    model = make_openai(openai_server.base_url)

    deltas, response = await collect(model, ask("2+2?"))

    reasoning = [d.text for d in deltas if isinstance(d, ReasoningTextDelta)]
    text = [d.text for d in deltas if isinstance(d, TextDelta)]
    assert "".join(reasoning) == "2 + 2 is 4, obviously."
    assert len(reasoning) > 1
    assert "".join(text) == "The answer is 4."
    assert response.text == "The answer is 4."
    assert response.reasoning == "2 + 2 is 4, obviously."
    assert response.tool_calls == ()
    assert response.finish_reason == "stop"


async def test_usage_maps_cached_and_reasoning_tokens(openai_server, make_openai):
    openai_server.enqueue(
        ChatReply(text="ok", usage=usage(120, 30, cached_tokens=100, reasoning_tokens=12))
    )
    model = make_openai(openai_server.base_url)

    _, response = await collect(model, ask())

    assert response.usage == TokenUsage(
        input_tokens=120,
        output_tokens=30,
        total_tokens=150,
        cached_tokens=100,
        reasoning_tokens=12,
    )


async def test_unknown_usage_stays_none_never_zero(openai_server, make_openai):
    model = make_openai(openai_server.base_url)
    openai_server.enqueue(ChatReply(text="no usage at all"))
    _, response = await collect(model, ask())
    assert response.usage == TokenUsage()

    openai_server.enqueue(ChatReply(text="no details", usage=usage(7, 3)))
    _, response = await collect(model, ask())
    assert response.usage.input_tokens == 7
    assert response.usage.output_tokens == 3
    assert response.usage.total_tokens == 10
    assert response.usage.cached_tokens is None
    assert response.usage.reasoning_tokens is None


async def test_non_streamed_mode(openai_server, make_openai):
    openai_server.enqueue(
        ChatReply(
            text="Let me look.",
            reasoning="Need the file.",
            tool_calls=[ServerToolCall("read_file", {"path": "a.txt"}, id="call_r")],
            usage=usage(50, 10, cached_tokens=0),
        )
    )
    model = make_openai(openai_server.base_url, stream=False)

    deltas, response = await collect(model, ask("read a.txt", tools=[WRITE]))

    assert "stream" not in openai_server.requests[0].json
    assert "stream_options" not in openai_server.requests[0].json
    assert response.text == "Let me look."
    assert response.reasoning == "Need the file."
    assert response.tool_calls == (
        ToolCall(id="call_r", name="read_file", arguments='{"path": "a.txt"}'),
    )
    assert response.usage.cached_tokens == 0  # a reported zero is kept
    assert response.usage.input_tokens == 50
    assert response.finish_reason == "tool_calls"
    # Hosts rendering deltas see the same shapes, all at once.
    assert TextDelta("Let me look.") in deltas
    assert ToolCallStartDelta(0, "call_r", "read_file") in deltas


async def test_history_is_converted_to_the_wire_shape(openai_server, make_openai):
    openai_server.enqueue("fine", "fine again")
    history = [
        SystemMessage(content="You are terse."),
        UserMessage(
            content=[
                TextPart(text="What is in this picture?"),
                ImagePart(data="iVBORw0KGgo=", media_type="image/png", detail="low"),
            ]
        ),
        AssistantMessage(
            content="",
            reasoning="private thoughts",
            tool_calls=(ToolCall(id="c1", name="zoom", arguments='{"x": 1}'),),
        ),
        ToolMessage(tool_call_id="c1", name="zoom", content="zoomed"),
        UserMessage(content=[TextPart(text="and "), TextPart(text="now?")]),
    ]
    model = make_openai(openai_server.base_url)

    await collect(model, ModelRequest(messages=history))
    await collect(model, ModelRequest(messages=history))

    first, second = (r.json["messages"] for r in openai_server.requests)
    assert first == second
    assert first == [
        {"role": "system", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "zoom", "arguments": '{"x": 1}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "zoomed"},
        {"role": "user", "content": "and now?"},
    ]


async def test_reasoning_is_sent_back_only_when_asked(openai_server, make_openai):
    openai_server.enqueue("a", "b")
    history = [
        UserMessage(content="hi"),
        AssistantMessage(content="hello", reasoning="greet back"),
        UserMessage(content="again"),
    ]
    await collect(make_openai(openai_server.base_url), ModelRequest(messages=history))
    await collect(
        make_openai(openai_server.base_url, send_reasoning=True), ModelRequest(messages=history)
    )

    plain, with_reasoning = (r.json["messages"][1] for r in openai_server.requests)
    assert plain == {"role": "assistant", "content": "hello"}
    assert with_reasoning == {
        "role": "assistant",
        "content": "hello",
        "reasoning_content": "greet back",
    }


async def test_tool_result_images_follow_as_a_user_message(openai_server, make_openai):
    openai_server.enqueue("seen")
    history = [
        UserMessage(content="screenshot please"),
        AssistantMessage(tool_calls=(ToolCall(id="s1", name="screenshot"),)),
        ToolMessage(
            tool_call_id="s1",
            name="screenshot",
            content=[TextPart(text="captured"), ImagePart(url="https://example.test/s.png")],
        ),
    ]
    await collect(make_openai(openai_server.base_url), ModelRequest(messages=history))

    messages = openai_server.requests[0].json["messages"]
    assert messages[2] == {"role": "tool", "tool_call_id": "s1", "content": "captured"}
    assert messages[3]["role"] == "user"
    assert messages[3]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "https://example.test/s.png"},
    }


async def test_settings_are_mapped_onto_the_request(openai_server, make_openai):
    openai_server.enqueue("one", "two")
    model = make_openai(
        openai_server.base_url,
        settings=ModelSettings(temperature=0.2, max_tokens=64, retry=FAST_RETRY),
    )
    run_settings = ModelSettings(
        top_p=0.9,
        tool_choice="write_file",
        parallel_tool_calls=False,
        reasoning={"effort": "low"},
        response_format={"type": "json_object"},
        extra_headers={"X-Trace": "abc"},
        extra_body={"enable_thinking": True},
    )

    await collect(model, ask(tools=[WRITE], settings=run_settings))
    await collect(model, ask(settings=run_settings))  # no tools offered

    with_tools, without_tools = openai_server.requests
    body = with_tools.json
    assert body["temperature"] == 0.2  # the model's default survives the merge
    assert body["max_tokens"] == 64
    assert body["top_p"] == 0.9
    assert body["tool_choice"] == {"type": "function", "function": {"name": "write_file"}}
    assert body["parallel_tool_calls"] is False
    assert body["reasoning_effort"] == "low"
    assert body["response_format"] == {"type": "json_object"}
    assert body["enable_thinking"] is True
    assert with_tools.headers["x-trace"] == "abc"
    # Tool options are only sent alongside tools.
    for key in ("tools", "tool_choice", "parallel_tool_calls"):
        assert key not in without_tools.json


def test_max_tokens_uses_the_name_each_endpoint_understands():
    settings = ModelSettings(max_tokens=100)
    assert is_official_openai(None)
    assert is_official_openai("https://api.openai.com/v1")
    assert not is_official_openai("http://127.0.0.1:11434/v1")
    official = request_params("gpt", [], (), settings, stream=True, official=True)
    compatible = request_params("qwen", [], (), settings, stream=True)
    assert official["max_completion_tokens"] == 100
    assert "max_tokens" not in official
    assert compatible["max_tokens"] == 100


async def test_endpoint_headers_and_model_id_are_used(openai_server, make_openai):
    openai_server.enqueue("ok")
    model = make_openai(
        [target(openai_server.base_url, model_id="qwen3:8b", headers=(("X-Org", "team-a"),))]
    )
    _, response = await collect(model, ask())

    sent = openai_server.requests[0]
    assert sent.json["model"] == "qwen3:8b"
    assert sent.headers["x-org"] == "team-a"
    assert response.model == "qwen3:8b"


def test_a_model_satisfies_the_protocol_and_survives_new_event_loops(openai_server):
    model = OpenAIChatModel([target(openai_server.base_url)], name="gpt", backend="local")
    assert isinstance(model, Model)
    assert (model.name, model.backend) == ("gpt", "local")

    async def once() -> str:
        _, response = await collect(model, ask())
        return response.text

    openai_server.enqueue("first", "second")
    # Two event loops, as two ``run_sync`` calls would use: the second must not touch the
    # connection pooled on the first.
    first_loop = asyncio.new_event_loop()
    try:
        assert first_loop.run_until_complete(once()) == "first"

        async def second() -> str:
            try:
                return await once()
            finally:
                await model.aclose()

        assert asyncio.run(second()) == "second"
        first_loop.run_until_complete(model.aclose())
    finally:
        first_loop.close()


def test_importing_the_adapters_does_not_import_the_sdks():
    code = (
        "import sys, agentcycle.models.openai, agentcycle.models.anthropic, "
        "agentcycle.testing.openai_server, agentcycle.testing.anthropic_server\n"
        "print(sorted(m for m in ('openai', 'anthropic', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
