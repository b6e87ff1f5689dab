"""Real local servers (llama.cpp server, Ollama, vLLM), their quirks reproduced on the loopback
server: per-model ``stream`` and ``tool_choice`` from the settings file, a malformed streamed
tool call asked again unstreamed, an empty 200 stream read as prompt-too-long, and a prompt that
cannot fit refused before it is sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from model_helpers import ask, collect, target

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.errors import PromptTooLongError
from agentcycle.events import ModelCallFailed, RunStatus
from agentcycle.models.base import AttemptFailed, AttemptStarted, ModelSettings, ToolSpec
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.models.provider import SettingsModelProvider
from agentcycle.models.settings import parse_settings
from agentcycle.testing.openai_server import (
    ChatReply,
    ErrorReply,
    OpenAICompatServer,
    ServerToolCall,
)

TOOL = ToolSpec("lookup", "Look up an order.", {"type": "object", "properties": {}})


def settings_for(server: OpenAICompatServer, **model: Any) -> SettingsModelProvider:
    data = {
        "VERSION": "2",
        "endpoints": [{"id": "llama", "api_base": server.base_url}],
        "backends": {"local": {"models": {"qwen": {"endpoints": ["llama"], **model}}}},
    }
    return SettingsModelProvider(parse_settings(data))


async def test_stream_and_tool_choice_per_model_in_the_settings_file(
    openai_server: OpenAICompatServer,
) -> None:
    provider = settings_for(
        openai_server, stream=False, settings={"tool_choice": "auto", "temperature": 0.1}
    )
    model = provider.get_model("qwen").model
    openai_server.enqueue(ChatReply(text="hello"))
    _, response = await collect(model, ask(tools=[TOOL]))
    assert response.text == "hello"
    sent = openai_server.requests[0].json
    assert "stream" not in sent and sent["tool_choice"] == "auto"
    await model.aclose()  # type: ignore[attr-defined]


def test_an_anthropic_model_cannot_turn_streaming_off() -> None:
    data = {
        "VERSION": "2",
        "endpoints": [{"id": "a", "endpoint_type": "anthropic"}],
        "backends": {"b": {"models": {"m": {"endpoints": ["a"], "stream": False}}}},
    }
    with pytest.raises(Exception, match="always streams"):
        parse_settings(data)


def broken_when_streamed(body: Any) -> ChatReply:
    """llama.cpp's server in ``auto`` mode: streamed tool-call arguments come back broken."""
    arguments = '{"order": 7' if body.get("stream") else {"order": 7}
    return ChatReply(tool_calls=[ServerToolCall("lookup", arguments)])


async def test_a_malformed_streamed_tool_call_is_asked_again_unstreamed(
    make_openai: Callable[..., OpenAIChatModel],
) -> None:
    with OpenAICompatServer(handler=broken_when_streamed) as server:
        model = make_openai(server.base_url)
        items, response = await collect(model, ask(tools=[TOOL]))
        assert response.tool_calls[0].arguments == '{"order": 7}'
        failed = [item for item in items if isinstance(item, AttemptFailed)]
        assert [(f.attempt, f.error.code) for f in failed] == [(1, "malformed_tool_call")]
        assert [i.attempt for i in items if isinstance(i, AttemptStarted)] == [2]
        assert [r.json.get("stream") for r in server.requests] == [True, None]
        # The endpoint is known to break streamed tool calls now: the next call is unstreamed.
        await collect(model, ask(tools=[TOOL]))
        assert server.requests[2].json.get("stream") is None
        # Text-only calls still stream.
        server.enqueue(ChatReply(text="plain"))
        await collect(model, ask())
        assert server.requests[3].json.get("stream") is True


@function_tool
def lookup(order: int) -> str:
    """Look up an order."""
    return f"order {order}: shipped"


def finish_after_the_tool(body: Any) -> ChatReply:
    if any(m.get("role") == "tool" for m in body["messages"]):
        return ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": "ok"})])
    return broken_when_streamed(body)


async def test_the_retry_shows_in_the_run_events() -> None:
    with OpenAICompatServer(handler=finish_after_the_tool) as server:
        model = OpenAIChatModel([target(server.base_url)], name="qwen")
        events = [e async for e in Runner.stream(Agent(model=model, tools=[lookup]), "7?")]
        await model.aclose()
    failures = [e for e in events if isinstance(e, ModelCallFailed)]
    assert [(f.error_code, f.retryable) for f in failures] == [("malformed_tool_call", True)]
    assert events[-1].type == "run_completed"


async def test_an_empty_stream_near_the_window_is_prompt_too_long(
    openai_server: OpenAICompatServer,
) -> None:
    model = OpenAIChatModel([target(openai_server.base_url)], name="qwen", context_length=2_048)
    openai_server.enqueue(ChatReply(empty=True))
    with pytest.raises(PromptTooLongError, match="empty answer"):
        await collect(model, ask("word " * 1_400))  # about 1,750 tokens: near, not over
    assert len(openai_server.requests) == 1  # not retried as a cut stream
    await model.aclose()


async def test_an_empty_stream_far_from_the_window_is_asked_again_unstreamed(
    openai_server: OpenAICompatServer,
) -> None:
    model = OpenAIChatModel(
        [target(openai_server.base_url)],
        name="qwen",
        context_length=2_048,
        settings=ModelSettings.model_validate({"retry": {"max_attempts": 1}}),
    )
    openai_server.enqueue(ChatReply(empty=True), ChatReply(text="hello"))
    _, response = await collect(model, ask("short"))
    assert response.text == "hello"
    first, again = (r.json for r in openai_server.requests)
    assert first["stream"] is True and "stream" not in again
    await model.aclose()


def over_the_window(body: Any) -> ChatReply | ErrorReply:
    """llama-cpp-python's server with a 2,048-token window: a streamed request over it gets a
    200 with an empty body, the same request unstreamed a context-length 400."""
    if body.get("stream"):
        return ChatReply(empty=True, done=False)
    return ErrorReply(
        400,
        "This model's maximum context length is 2048 tokens. However, you requested 14031 "
        "tokens (14031 in the messages, None in the completion). Please reduce the length of "
        "the messages or completion.",
        code="context_length_exceeded",
    )


async def test_an_empty_body_with_no_window_known_is_prompt_too_long_not_a_cut_stream() -> None:
    with OpenAICompatServer(handler=over_the_window) as server:
        model = OpenAIChatModel([target(server.base_url)], name="qwen")  # no window known
        events = [e async for e in Runner.stream(Agent(model=model), "twelve " * 3_000)]
        await model.aclose()
    codes = [e.error_code for e in events if isinstance(e, ModelCallFailed)]
    assert "stream_interrupted" not in codes and codes[-1] == "prompt_too_long"
    assert events[-1].type == "run_failed"
    streamed = [r.json.get("stream") for r in server.requests]
    assert streamed == [True, None]  # once streamed, once not: never retried as a cut stream


async def test_a_prompt_that_cannot_fit_is_never_sent(openai_server: OpenAICompatServer) -> None:
    model = OpenAIChatModel([target(openai_server.base_url)], name="qwen", context_length=2_048)
    with pytest.raises(PromptTooLongError, match="it was not sent"):
        await collect(model, ask("twelve thousand " * 3_200))
    assert openai_server.requests == []
    await model.aclose()


def test_a_run_on_a_small_window_fails_without_sending(openai_server: OpenAICompatServer) -> None:
    provider = settings_for(openai_server, context_length=512)
    agent = Agent(model="qwen")
    result = Runner.run_sync(
        agent, "x " * 5_000, config=RunConfig(model_provider=provider, max_cycles=2)
    )
    assert result.status is RunStatus.FAILED
    assert openai_server.requests == []
