"""AnthropicModel over real HTTP on loopback."""

from __future__ import annotations

import json

import pytest
from model_helpers import API_KEY, ask, collect, target

from agentcycle.errors import ModelError, PromptTooLongError
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
from agentcycle.models.base import (
    AttemptFailed,
    ModelRequest,
    ModelSettings,
    ReasoningTextDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallStartDelta,
    ToolSpec,
)
from agentcycle.testing.anthropic_server import ErrorReply, MessagesReply, ServerToolCall, usage

SEARCH = ToolSpec(
    "search", "Search the docs.", {"type": "object", "properties": {"q": {"type": "string"}}}
)


async def test_streaming_text_tool_use_and_usage_with_cache_tokens(
    anthropic_server, make_anthropic
):
    arguments = json.dumps({"q": "how do retries work in agentcycle?"})
    anthropic_server.enqueue(
        MessagesReply(
            thinking="The user wants docs.",
            text="Searching now.",
            tool_uses=[ServerToolCall("search", arguments, id="toolu_1")],
            usage=usage(20, 42, cache_read_input_tokens=1000, cache_creation_input_tokens=300),
            chunk_size=3,
        )
    )
    model = make_anthropic(anthropic_server.base_url)

    deltas, response = await collect(
        model,
        ModelRequest(
            messages=[SystemMessage(content="Be brief."), UserMessage(content="retries?")],
            tools=[SEARCH],
        ),
    )

    assert response.text == "Searching now."
    assert response.reasoning == "The user wants docs."
    assert response.tool_calls == (ToolCall(id="toolu_1", name="search", arguments=arguments),)
    assert response.finish_reason == "tool_use"
    assert response.usage == TokenUsage(
        input_tokens=1320,  # uncached 20 + cache reads 1000 + cache writes 300
        output_tokens=42,
        total_tokens=1362,
        cached_tokens=1000,
        cache_creation_tokens=300,
    )
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == "Searching now."
    assert "".join(d.text for d in deltas if isinstance(d, ReasoningTextDelta)) == (
        "The user wants docs."
    )
    assert ToolCallStartDelta(0, "toolu_1", "search") in deltas
    progress = [d for d in deltas if isinstance(d, ToolCallArgumentsDelta)]
    assert len(progress) > 5
    assert "".join(d.text for d in progress) == arguments
    assert progress[-1].total_chars == len(arguments)

    sent = anthropic_server.requests[0]
    assert sent.path == "/v1/messages"
    assert API_KEY in (sent.headers.get("x-api-key", "") + sent.headers.get("authorization", ""))
    assert sent.json["system"] == "Be brief."
    assert sent.json["max_tokens"] == 4096
    assert sent.json["stream"] is True
    assert sent.json["messages"] == [{"role": "user", "content": "retries?"}]
    assert sent.json["tools"] == [
        {"name": "search", "description": "Search the docs.", "input_schema": SEARCH.parameters}
    ]


async def test_unknown_usage_stays_none(anthropic_server, make_anthropic):
    anthropic_server.enqueue(MessagesReply(text="hi"))
    _, response = await collect(make_anthropic(anthropic_server.base_url), ask())
    assert response.usage == TokenUsage()


async def test_history_conversion_merges_consecutive_tool_results(anthropic_server, make_anthropic):
    anthropic_server.enqueue("done")
    history = [
        SystemMessage(content="System rules."),
        UserMessage(
            content=[
                TextPart(text="Look:"),
                ImagePart(url="data:image/jpeg;base64,/9j/4AAQ"),
                ImagePart(url="https://example.test/cat.png"),
            ]
        ),
        AssistantMessage(
            content="Two searches.",
            reasoning="not sent back",
            tool_calls=(
                ToolCall(id="t1", name="search", arguments='{"q": "a"}'),
                ToolCall(id="t2", name="search", arguments="{not json"),
            ),
        ),
        ToolMessage(tool_call_id="t1", name="search", content="result a"),
        ToolMessage(tool_call_id="t2", name="search", content="bad arguments", is_error=True),
        UserMessage(content="thanks"),
    ]
    model = make_anthropic(anthropic_server.base_url)

    await collect(model, ModelRequest(messages=history, tools=[SEARCH]))

    body = anthropic_server.requests[0].json
    assert body["system"] == "System rules."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look:"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Two searches."},
                {"type": "tool_use", "id": "t1", "name": "search", "input": {"q": "a"}},
                {"type": "tool_use", "id": "t2", "name": "search", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "result a"},
                {
                    "type": "tool_result",
                    "tool_use_id": "t2",
                    "content": "bad arguments",
                    "is_error": True,
                },
            ],
        },
        {"role": "user", "content": "thanks"},
    ]


async def test_settings_mapping(anthropic_server, make_anthropic):
    anthropic_server.enqueue("ok")
    settings = ModelSettings(
        max_tokens=512,
        temperature=0.1,
        tool_choice="required",
        parallel_tool_calls=False,
        reasoning={"budget_tokens": 2048},
        extra_headers={"anthropic-beta": "test-beta"},
    )
    await collect(make_anthropic(anthropic_server.base_url), ask(tools=[SEARCH], settings=settings))

    sent = anthropic_server.requests[0]
    assert sent.json["max_tokens"] == 512
    assert sent.json["temperature"] == 0.1
    assert sent.json["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert sent.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert sent.headers["anthropic-beta"] == "test-beta"


async def test_non_streamed_mode(anthropic_server, make_anthropic):
    anthropic_server.enqueue(
        MessagesReply(
            text="Calling.",
            tool_uses=[ServerToolCall("search", {"q": "x"}, id="toolu_9")],
            usage=usage(5, 6, cache_read_input_tokens=10),
        )
    )
    model = make_anthropic(anthropic_server.base_url, stream=False)

    _, response = await collect(model, ask(tools=[SEARCH]))

    assert "stream" not in anthropic_server.requests[0].json
    assert response.tool_calls == (ToolCall(id="toolu_9", name="search", arguments='{"q": "x"}'),)
    assert response.usage.input_tokens == 15
    assert response.usage.cached_tokens == 10
    assert response.usage.cache_creation_tokens is None


async def test_prompt_too_long_raises_prompt_too_long_error(anthropic_server, make_anthropic):
    anthropic_server.enqueue(
        ErrorReply(
            400,
            message="prompt is too long: 215000 tokens > 200000 maximum",
            error_type="invalid_request_error",
        )
    )
    model = make_anthropic(anthropic_server.base_url)

    with pytest.raises(PromptTooLongError) as caught:
        await collect(model, ask())

    assert caught.value.code == "prompt_too_long"
    assert len(anthropic_server.requests) == 1


async def test_overloaded_is_retried_then_succeeds(anthropic_server, make_anthropic):
    anthropic_server.enqueue(
        ErrorReply(529, message="Overloaded", error_type="overloaded_error"), "recovered"
    )
    items, response = await collect(make_anthropic(anthropic_server.base_url), ask())

    assert response.text == "recovered"
    assert isinstance(items[0], AttemptFailed)
    assert items[0].error.code == "server_error"


async def test_auth_error_is_typed_and_keeps_the_key_secret(anthropic_server, make_anthropic):
    anthropic_server.enqueue(
        ErrorReply(401, message=f"invalid x-api-key {API_KEY}", error_type="authentication_error")
    )
    model = make_anthropic(anthropic_server.base_url)

    with pytest.raises(ModelError) as caught:
        await collect(model, ask())

    assert caught.value.code == "authentication_failed"
    assert len(anthropic_server.requests) == 1
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(caught.value.to_dict())


async def test_stream_cut_mid_answer_is_ambiguous(anthropic_server, make_anthropic):
    anthropic_server.enqueue(MessagesReply(text="partial answer here", cut_after=4), "unused")
    model = make_anthropic(anthropic_server.base_url)

    with pytest.raises(ModelError) as caught:
        await collect(model, ask())

    assert caught.value.outcome == "ambiguous"
    assert len(anthropic_server.requests) == 1


async def test_api_base_with_or_without_v1(anthropic_server, make_anthropic):
    anthropic_server.enqueue("a", "b")
    for base in (anthropic_server.base_url, anthropic_server.base_url + "/v1/"):
        model = make_anthropic([target(base, endpoint_type="anthropic")])
        await collect(model, ask())
    assert [r.path for r in anthropic_server.requests] == ["/v1/messages", "/v1/messages"]
