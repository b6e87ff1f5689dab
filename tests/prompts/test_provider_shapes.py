"""What providers receive of a prompt bundle, over real HTTP on loopback through the real SDKs:
Anthropic gets cacheable system blocks and history breakpoints, OpenAI-compatible servers one
flattened system message; cache reads and writes flow into events, results and cost."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from agentcycle import Agent, ModelPrice, RunConfig, Runner, StaticPriceTable
from agentcycle.events import ModelCallCompleted, RunEvent
from agentcycle.models.anthropic import AnthropicModel
from agentcycle.models.base import EndpointTarget
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.prompts import PromptBundle, PromptSection, current_time_section
from agentcycle.result import RunResult
from agentcycle.testing.anthropic_server import (
    AnthropicCompatServer,
    MessagesReply,
)
from agentcycle.testing.anthropic_server import (
    ServerToolCall as AnthropicCall,
)
from agentcycle.testing.anthropic_server import (
    usage as anthropic_usage,
)
from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer
from agentcycle.testing.openai_server import ServerToolCall as OpenAICall
from agentcycle.testing.openai_server import usage as openai_usage

BUNDLE = PromptBundle.of(
    PromptSection(id="agent", text="You review pull requests."),
    current_time_section(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
)
PLAN = {"todos": [{"title": "Read the diff", "status": "completed", "priority": "high"}]}
FINISH = {"message": "Looks good."}
PRICE = ModelPrice(
    input_per_million=3.0,
    output_per_million=15.0,
    cached_input_per_million=0.3,
    cache_write_per_million=3.75,
)


@pytest.fixture
def anthropic_server() -> AsyncIterator[AnthropicCompatServer]:
    with AnthropicCompatServer() as server:
        yield server


@pytest.fixture
def openai_server() -> AsyncIterator[OpenAICompatServer]:
    with OpenAICompatServer() as server:
        yield server


async def run_streamed(agent: Agent, config: RunConfig) -> tuple[RunResult, list[RunEvent]]:
    handle = await Runner.start(agent, "Review PR #7", config=config)
    events = [event async for event in handle.events()]
    return await handle.result(), events


def breakpoints(body: Any) -> int:
    """Every ``cache_control`` marker anywhere in a request body."""
    if isinstance(body, dict):
        return ("cache_control" in body) + sum(breakpoints(v) for v in body.values())
    if isinstance(body, list):
        return sum(breakpoints(v) for v in body)
    return 0


async def test_anthropic_gets_system_blocks_and_history_breakpoints(
    anthropic_server: AnthropicCompatServer,
) -> None:
    anthropic_server.enqueue(
        MessagesReply(
            tool_uses=[AnthropicCall("todo_write", PLAN, id="toolu_1")],
            usage=anthropic_usage(
                40, 10, cache_read_input_tokens=0, cache_creation_input_tokens=1500
            ),
        ),
        MessagesReply(
            tool_uses=[AnthropicCall("task_finish", FINISH, id="toolu_2")],
            usage=anthropic_usage(
                60, 12, cache_read_input_tokens=1500, cache_creation_input_tokens=0
            ),
        ),
    )
    model = AnthropicModel(
        [EndpointTarget("local", anthropic_server.base_url, "claude-test", api_key="k")],
        name="claude-test",
    )
    config = RunConfig(price_table=StaticPriceTable({"claude-test": PRICE}))
    try:
        result, events = await run_streamed(Agent(instructions=BUNDLE, model=model), config)
    finally:
        await model.aclose()

    assert result.final_output == "Looks good."
    first, second = (r.json for r in anthropic_server.requests)
    system = first["system"]
    assert [block["text"][:12] for block in system] == [
        "You review p",
        "You work in ",
        "Current date",
    ]
    # The breakpoint closes the stable prefix (agent, tools); the time stays outside it.
    assert [block.get("cache_control") for block in system] == [None, {"type": "ephemeral"}, None]
    assert second["system"] == system
    # History: the last user turn of each request carries a breakpoint; in the second request
    # the first turn keeps its own (the prefix the first request wrote).
    assert first["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    turns = [m for m in second["messages"] if m["role"] == "user"]
    assert [t["content"][-1].get("cache_control") for t in turns] == [{"type": "ephemeral"}] * 2
    assert turns[-1]["content"][-1]["type"] == "tool_result"
    assert breakpoints(first) == 2 and breakpoints(second) == 3  # the API allows 4

    completed = [e for e in events if isinstance(e, ModelCallCompleted)]
    assert [(e.usage.cached_tokens, e.usage.cache_creation_tokens) for e in completed] == [
        (0, 1500),
        (1500, 0),
    ]
    assert result.usage.cached_tokens == 1500
    assert result.usage.cache_creation_tokens == 1500
    assert result.usage.input_tokens == 40 + 1500 + 60 + 1500
    # Cache writes at 3.75, reads at 0.30, the rest at 3.00, output at 15.00 per million.
    expected = (1500 * 3.75 + 1500 * 0.3 + 100 * 3.0 + 22 * 15.0) / 1_000_000
    assert result.usage.cost_usd == pytest.approx(expected)


async def test_openai_compatible_servers_get_one_flattened_system_message(
    openai_server: OpenAICompatServer,
) -> None:
    openai_server.enqueue(
        ChatReply(
            tool_calls=[OpenAICall("todo_write", PLAN)],
            usage=openai_usage(900, 10, cached_tokens=0),
        ),
        ChatReply(
            tool_calls=[OpenAICall("task_finish", FINISH)],
            usage=openai_usage(950, 12, cached_tokens=896),
        ),
    )
    model = OpenAIChatModel(
        [EndpointTarget("local", openai_server.base_url, "gpt-test", api_key="k")],
        name="gpt-test",
    )
    # OpenAI bills no cache writes: a price without them.
    price = PRICE.model_copy(update={"cache_write_per_million": None})
    prices = StaticPriceTable({"gpt-test": price})
    try:
        result, events = await run_streamed(
            Agent(instructions=BUNDLE, model=model), RunConfig(price_table=prices)
        )
    finally:
        await model.aclose()

    assert result.final_output == "Looks good."
    for request in openai_server.requests:
        messages = request.json["messages"]
        systems = [m for m in messages if m["role"] == "system"]
        assert systems == [messages[0]]
        content = systems[0]["content"]
        assert isinstance(content, str)
        assert content.startswith("You review pull requests.\n\nYou work in cycles")
        assert content.endswith("Current date and time: 2026-03-01T12:00:00+00:00")
        assert "cache_control" not in json.dumps(request.json)

    completed = [e for e in events if isinstance(e, ModelCallCompleted)]
    assert [e.usage.cached_tokens for e in completed] == [0, 896]
    assert result.usage.cached_tokens == 896
    expected = (896 * 0.3 + (1850 - 896) * 3.0 + 22 * 15.0) / 1_000_000
    assert result.usage.cost_usd == pytest.approx(expected)
