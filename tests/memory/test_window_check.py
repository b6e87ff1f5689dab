"""The runtime's own context-window check: a prompt its incremental count says cannot fit the
model's window is refused before it is sent, whatever the provider (scripted, the loopback
OpenAI-compatible and Anthropic servers), after compaction had its chance; it fails the run as
``prompt_too_long`` (memory off) or ``context_exhausted`` once recovery cannot shrink it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.events import RunStatus
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.models.anthropic import AnthropicModel
from agentcycle.models.base import EndpointTarget, ModelRequest, ModelResponse
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.testing import ScriptedModel, call_tool, reply
from agentcycle.testing.anthropic_server import AnthropicCompatServer, MessagesReply
from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer, ServerToolCall

WINDOW = 2_048
OVER = "twelve thousand tokens " * 3_000  # about 12,000 tokens: far over the window
OFF = MemoryPolicy(enabled=False)


def failed_without_sending(result: Any, events: list[Any], code: str) -> None:
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == code, result.error
    assert not [e for e in events if e.type == "model_call_started"]


async def run(agent: Agent, prompt: str, **config: Any) -> tuple[Any, list[Any]]:
    handle = await Runner.start(agent, prompt, config=RunConfig(max_cycles=3, **config))
    result = await handle.result()
    return result, [e async for e in handle.events()]


async def test_scripted_model_memory_off_fails_as_prompt_too_long_unsent() -> None:
    model = ScriptedModel([reply("never")], context_length=WINDOW)
    result, events = await run(Agent(model=model), OVER, memory=OFF)
    failed_without_sending(result, events, "prompt_too_long")
    assert model.calls == 0
    assert result.error is not None
    assert "it was not sent" in result.error["message"]
    assert result.error["details"]["context_length"] == WINDOW
    assert result.error["details"]["estimated_tokens"] >= WINDOW


async def test_scripted_model_compaction_runs_first_then_context_exhausted() -> None:
    model = ScriptedModel([reply("never")], context_length=WINDOW)
    result, events = await run(Agent(model=model), OVER)
    failed_without_sending(result, events, "context_exhausted")
    assert model.calls == 0
    assert result.error is not None and result.error["details"]["last_error"] == "prompt_too_long"
    triggers = [e.trigger for e in events if e.type == "memory_compact_started"]
    # The threshold compaction ran before the check; the refusal then went through recovery.
    assert triggers[0] == "threshold" and "prompt_too_long" in triggers


async def test_a_prompt_that_fits_is_sent_and_growth_past_the_window_is_refused() -> None:
    @function_tool(run_in_thread=False)
    def dump() -> str:
        """Return a huge text."""
        return "z " * 12_000

    def step(request: ModelRequest) -> ModelResponse:
        return call_tool("dump", {})

    model = ScriptedModel(step, context_length=WINDOW)
    result, events = await run(Agent(model=model, tools=[dump]), "dump it", memory=OFF)
    # The first prompt fitted and was sent; the second carries the tool result and cannot.
    assert model.calls == 1
    assert result.error is not None and result.error["code"] == "prompt_too_long"
    assert len([e for e in events if e.type == "model_call_started"]) == 1


async def test_an_unknown_window_is_not_checked() -> None:
    model = ScriptedModel([call_tool("task_finish", {"message": "fine"})])
    result, _ = await run(Agent(model=model), OVER, memory=OFF)
    assert result.completed, result.error
    assert model.calls == 1


async def test_openai_compatible_server_gets_nothing_over_http() -> None:
    with OpenAICompatServer() as server:
        server.enqueue(ChatReply(text="never"))
        # The adapter itself declares no window: only the runtime knows it (the memory policy).
        model = OpenAIChatModel(
            [EndpointTarget("loop", server.base_url, "loop-1", api_key="sk-test")], name="loop-1"
        )
        try:
            policy = MemoryPolicy(context_length=WINDOW, enabled=False)
            result, events = await run(Agent(model=model), OVER, memory=policy)
        finally:
            await model.aclose()
        failed_without_sending(result, events, "prompt_too_long")
        assert server.requests == []


async def test_anthropic_server_gets_nothing_over_http(tmp_path: Path) -> None:
    with AnthropicCompatServer() as server:
        server.enqueue(MessagesReply(text="never"))
        model = AnthropicModel(
            [
                EndpointTarget(
                    "a", server.base_url, "claude-x", api_key="sk-test", endpoint_type="anthropic"
                )
            ],
            name="claude-x",
        )
        try:
            result, events = await run(
                Agent(model=model),
                OVER,
                memory=MemoryPolicy(context_length=WINDOW),
                workspace=tmp_path,
            )
        finally:
            await model.aclose()
        failed_without_sending(result, events, "context_exhausted")
        assert server.requests == []


@pytest.mark.parametrize("size", [100, 1_000])
async def test_prompts_under_the_window_still_reach_the_server(size: int) -> None:
    with OpenAICompatServer() as server:
        server.enqueue(ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": "ok"})]))
        model = OpenAIChatModel(
            [EndpointTarget("loop", server.base_url, "loop-1", api_key="sk-test")], name="loop-1"
        )
        try:
            policy = MemoryPolicy(context_length=WINDOW, enabled=False)
            result, _ = await run(Agent(model=model), "word " * size, memory=policy)
        finally:
            await model.aclose()
        assert result.completed, result.error
        assert len(server.requests) == 1
