"""Prompt-too-long recovery against a real HTTP provider path (the loopback OpenAI server).

The server plays a provider with a small window: it rejects any request whose messages exceed a
size with the ``context_length_exceeded`` error real providers send.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, ModelSettings, RetrySettings, RunConfig, Runner, function_tool
from agentcycle.events import RunStatus
from agentcycle.models.base import EndpointTarget
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.runtime.context import SUMMARY_INSTRUCTIONS
from agentcycle.testing.openai_server import (
    ChatReply,
    ErrorReply,
    OpenAICompatServer,
    ServerToolCall,
)

RESULT_CHARS = 5_000
LIMIT_CHARS = 20_000
FETCHES = 6


@function_tool(run_in_thread=False)
def fetch(n: int) -> str:
    """Fetch one page."""
    return f"page {n} " + "x" * RESULT_CHARS


def too_long() -> ErrorReply:
    return ErrorReply(
        400, "This model's maximum context length is 8192 tokens.", code="context_length_exceeded"
    )


class Provider:
    """Answers agent calls with fetches then a finish, summary calls with a summary (or an
    error), and rejects any request over ``limit`` characters of messages."""

    def __init__(self, limit: Callable[[int], int], summary_ok: bool = True) -> None:
        self.limit = limit
        self.summary_ok = summary_ok
        self.accepted = 0
        self.rejected: list[int] = []
        self.summaries = 0

    def __call__(self, body: Any) -> ChatReply | ErrorReply:
        messages = body["messages"]
        if messages[0]["content"] == SUMMARY_INSTRUCTIONS:
            self.summaries += 1
            if not self.summary_ok:
                return ErrorReply(400, "summaries are not available", code="invalid_request")
            return ChatReply(text="Earlier pages were fetched.")
        size = len(json.dumps(messages))
        if size > self.limit(self.accepted):
            self.rejected.append(size)
            return too_long()
        self.accepted += 1
        if self.accepted > FETCHES:
            return ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": "done"})])
        return ChatReply(tool_calls=[ServerToolCall("fetch", {"n": self.accepted})])


@pytest.fixture
def serve() -> Iterator[Callable[[Provider], OpenAICompatServer]]:
    servers: list[OpenAICompatServer] = []

    def start(provider: Provider) -> OpenAICompatServer:
        server = OpenAICompatServer(handler=provider)
        server.__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def model_for(server: OpenAICompatServer) -> OpenAIChatModel:
    target = EndpointTarget(
        endpoint_id="loopback", api_base=server.base_url, model_id="loop-1", api_key="sk-test"
    )
    retry = RetrySettings(max_attempts=2, initial_delay=0.01, max_delay=0.02, jitter=0.0)
    return OpenAIChatModel(
        [target], name="loop-1", backend="test", settings=ModelSettings(retry=retry)
    )


async def test_prompt_too_long_then_success_after_compaction(
    serve: Callable[[Provider], OpenAICompatServer], tmp_path: Path
) -> None:
    provider = Provider(lambda accepted: LIMIT_CHARS)
    server = serve(provider)
    agent = Agent(model=model_for(server), tools=[fetch], max_cycles=FETCHES + 2)
    handle = await Runner.start(agent, "fetch the pages", config=RunConfig(workspace=tmp_path))
    result = await handle.result()
    events = [e async for e in handle.events()]

    assert result.completed, result.error
    assert provider.rejected, "the window was never exceeded: the test proves nothing"
    failed = [e for e in events if e.type == "model_call_failed"]
    assert {e.error_code for e in failed} == {"prompt_too_long"}
    started = [e for e in events if e.type == "memory_compact_started"]
    assert len(started) == len(provider.rejected)
    assert {e.trigger for e in started} == {"prompt_too_long"}
    # Each rejection is followed by one compaction, then the cycle's call is sent again.
    for e in failed:
        after = events[events.index(e) + 1 :]
        retry = next(
            i
            for i, x in enumerate(after)
            if x.type == "model_call_started" and x.operation == "agent_cycle"
        )
        between = [x.type for x in after[:retry] if x.type.startswith("memory_compact")]
        assert between == ["memory_compact_started", "memory_compact_completed"]
        assert after[retry].cycle_index == e.cycle_index
    completed = [e for e in events if e.type == "memory_compact_completed"]
    archived = [r for e in completed for r in e.dropped if r["stage"] == "micro"]
    assert archived and all(r["artifact"] for r in archived)
    for record in archived:  # the full text is in the workspace, readable by the model
        text = (tmp_path / record["artifact"]).read_text()
        assert len(text) > RESULT_CHARS
    # The accepted requests all fit the provider's window.
    calls = [r.json["messages"] for r in server.requests]
    sizes = [len(json.dumps(m)) for m in calls if m[0]["content"] != SUMMARY_INSTRUCTIONS]
    assert sum(size <= LIMIT_CHARS for size in sizes) == provider.accepted == FETCHES + 1


async def test_exhaustion_after_three_attempts_fails_with_context_exhausted(
    serve: Callable[[Provider], OpenAICompatServer],
) -> None:
    # Everything fits until the last fetch; after that the window shrinks to nothing.
    provider = Provider(lambda accepted: 10**9 if accepted < FETCHES else 10, summary_ok=False)
    server = serve(provider)
    agent = Agent(model=model_for(server), tools=[fetch], max_cycles=FETCHES + 2)
    handle = await Runner.start(agent, "fetch the pages")
    result = await handle.result()
    events = [e async for e in handle.events()]

    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "context_exhausted"
    assert result.error["details"]["attempts"] == 3
    assert result.error["details"]["last_error"] == "prompt_too_long"
    assert len(provider.rejected) == 4  # the first try and three retries, then no more
    started = [e for e in events if e.type == "memory_compact_started"]
    completed = [e for e in events if e.type == "memory_compact_completed"]
    assert [e.trigger for e in started] == ["prompt_too_long"] * 3
    assert completed[-1].mode == "emergency"
    assert all(e.reclaimed_tokens > 0 for e in completed)
    # The summary call failed; the local summary stood in for it.
    summaries = [r for e in completed for r in e.dropped if r["stage"] == "summary"]
    assert provider.summaries >= 1 and summaries
    assert {r["summarized_by"] for r in summaries} == {"local"}
    assert events[-1].type == "run_failed" and events[-1].error_code == "context_exhausted"
    assert len(server.requests) == FETCHES + 4 + provider.summaries  # a 400 is not retried
