"""Whole runs through the real OpenAI provider path, over HTTP to a loopback server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agentcycle import Agent, ModelSettings, RetrySettings, RunConfig, Runner, function_tool
from agentcycle.events import CompletionReason, RunStatus
from agentcycle.messages import ToolMessage
from agentcycle.models.base import EndpointTarget
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.runtime._model_call import PROGRESS_STEP_CHARS
from agentcycle.testing.openai_server import (
    ChatReply,
    ErrorReply,
    OpenAICompatServer,
    ServerToolCall,
    usage,
)

API_KEY = "sk-loopback-secret-0123456789"
FAST_RETRY = ModelSettings(
    retry=RetrySettings(max_attempts=3, initial_delay=0.01, max_delay=0.05, jitter=0.0)
)


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


def model_for(server: OpenAICompatServer, *, stream: bool = True) -> OpenAIChatModel:
    target = EndpointTarget(
        endpoint_id="loopback", api_base=server.base_url, model_id="loop-1", api_key=API_KEY
    )
    return OpenAIChatModel(
        [target], name="loop-1", backend="test", settings=FAST_RETRY, stream=stream
    )


def finish(message: str = "done") -> ChatReply:
    return ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": message})])


@function_tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_streamed_tool_call_arguments_split_across_many_chunks(
    server: OpenAICompatServer,
) -> None:
    server.enqueue(
        ChatReply(
            text="Adding.",
            tool_calls=[ServerToolCall("add", {"a": 40, "b": 2})],
            chunk_size=2,
            usage=usage(30, 5, cached_tokens=10),
        ),
        finish("42"),
    )
    handle = await Runner.start(Agent(model=model_for(server), tools=[add]), "add 40 and 2")
    result = await handle.result()
    events = [e async for e in handle.events()]
    assert result.status is RunStatus.COMPLETED and result.final_output == "42"
    tool_result = next(m for m in result.messages if isinstance(m, ToolMessage))
    assert tool_result.content == "42"
    started = [e for e in events if e.type == "model_tool_call_started" and e.cycle_index == 1]
    assert [(e.tool_name, e.tool_call_id) for e in started] == [("add", tool_result.tool_call_id)]
    assert result.model_calls[0].usage.input_tokens == 30
    assert result.model_calls[0].usage.cached_tokens == 10
    assert result.model_calls[1].usage.input_tokens is None  # unknown stays unknown
    first = server.requests[0].json
    assert first["stream"] is True and first["model"] == "loop-1"
    assert [t["function"]["name"] for t in first["tools"]][:3] == [
        "task_finish",
        "ask_user",
        "todo_write",
    ]
    assert server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_non_streamed_responses(server: OpenAICompatServer) -> None:
    server.enqueue(ChatReply(tool_calls=[ServerToolCall("add", {"a": 1, "b": 2})]), finish("3"))
    result = await Runner.run(Agent(model=model_for(server, stream=False), tools=[add]), "1+2")
    assert result.final_output == "3"
    assert all(r.json.get("stream") in (None, False) for r in server.requests)


async def test_rate_limit_then_success_retries_with_events(server: OpenAICompatServer) -> None:
    server.enqueue(
        ErrorReply(429, "slow down", headers={"Retry-After": "0.01"}), finish("after retry")
    )
    handle = await Runner.start(Agent(model=model_for(server)), "go")
    result = await handle.result()
    events = [e async for e in handle.events()]
    assert result.final_output == "after retry"
    calls = [e for e in events if e.type.startswith("model_call_")]
    assert [(e.type, e.attempt) for e in calls] == [
        ("model_call_started", 1),
        ("model_call_failed", 1),
        ("model_call_started", 2),
        ("model_call_completed", 2),
    ]
    assert calls[1].retryable is True and calls[1].error_code == "rate_limited"
    assert len({e.operation_id for e in calls}) == 1
    assert len(server.requests) == 2


async def test_server_errors_until_retries_are_exhausted(server: OpenAICompatServer) -> None:
    server.enqueue(*[ErrorReply(503, "overloaded") for _ in range(3)])
    result = await Runner.run(Agent(model=model_for(server)), "go")
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "server_error"
    assert len(server.requests) == 3
    assert API_KEY not in json.dumps(result.error)


async def test_malformed_arguments_are_repaired_on_the_next_cycle(
    server: OpenAICompatServer,
) -> None:
    server.enqueue(
        ChatReply(tool_calls=[ServerToolCall("add", '{"a": 1, "b": ')]),
        ChatReply(tool_calls=[ServerToolCall("add", {"a": 1, "b": 1})]),
        finish("2"),
    )
    # Unstreamed: a streamed malformed call would first be asked again without streaming.
    result = await Runner.run(Agent(model=model_for(server, stream=False), tools=[add]), "1+1")
    assert result.final_output == "2"
    second_request = server.requests[1].json["messages"]
    error_result = json.loads(second_request[-1]["content"])
    assert second_request[-1]["role"] == "tool"
    assert error_result["error_code"] == "invalid_arguments_json"


async def test_context_length_error_with_nothing_to_compact_is_context_exhausted(
    server: OpenAICompatServer,
) -> None:
    server.enqueue(
        ErrorReply(
            400,
            "This model's maximum context length is 8192 tokens.",
            code="context_length_exceeded",
        )
    )
    result = await Runner.run(Agent(model=model_for(server)), "huge")
    assert result.status is RunStatus.FAILED
    # Only the system prompt and the request: compaction has nothing to remove.
    assert result.error is not None and result.error["code"] == "context_exhausted"
    assert result.error["details"]["last_error"] == "prompt_too_long"
    assert len(server.requests) == 1  # the same prompt is not resent


async def test_ask_user_over_http(server: OpenAICompatServer) -> None:
    server.enqueue(ChatReply(tool_calls=[ServerToolCall("ask_user", {"question": "Which one?"})]))
    result = await Runner.run(Agent(model=model_for(server)), "pick")
    assert result.status is RunStatus.WAIT_USER and result.final_output == "Which one?"


async def test_max_cycles_over_http(server: OpenAICompatServer) -> None:
    server.enqueue("first thought", "second thought")
    result = await Runner.run(
        Agent(model=model_for(server)), "think", config=RunConfig(max_cycles=2)
    )
    assert result.status is RunStatus.MAX_CYCLES
    assert result.completion_reason is CompletionReason.MAX_CYCLES
    assert result.partial_output == "second thought"


async def test_api_key_never_appears_in_events(server: OpenAICompatServer) -> None:
    server.enqueue(ErrorReply(401, "bad key"))
    handle = await Runner.start(Agent(model=model_for(server)), "go")
    result = await handle.result()
    dumped = json.dumps([e.to_dict() async for e in handle.events()])
    assert result.error is not None and result.error["code"] == "authentication_failed"
    assert API_KEY not in dumped and API_KEY not in repr(result)


async def test_long_streamed_arguments_report_progress_in_steps(
    server: OpenAICompatServer,
) -> None:
    text = "y" * (2 * PROGRESS_STEP_CHARS + 50)
    server.enqueue(
        ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": text})], chunk_size=5)
    )
    handle = await Runner.start(Agent(model=model_for(server)), "write a lot")
    result = await handle.result()
    events = [e async for e in handle.events()]
    assert result.status is RunStatus.COMPLETED and result.final_output == text
    progress = [e.arguments_chars for e in events if e.type == "model_tool_call_progress"]
    # Hundreds of 5-character chunks over HTTP, one progress event per step written.
    assert len(progress) == 2
    assert PROGRESS_STEP_CHARS <= progress[0] < PROGRESS_STEP_CHARS + 5
    assert progress[1] - progress[0] >= PROGRESS_STEP_CHARS
