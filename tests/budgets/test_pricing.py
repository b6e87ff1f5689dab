"""Cost per model call and in total, from a price table or the settings file; unknown stays
``None``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner
from agentcycle.errors import SettingsFileError
from agentcycle.events import ModelCallCompleted, parse_event
from agentcycle.messages import TokenUsage
from agentcycle.models.settings import parse_settings, resolve_model
from agentcycle.pricing import ModelPrice, PriceTable, StaticPriceTable
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.testing.openai_server import (
    ChatReply,
    OpenAICompatServer,
    ServerToolCall,
    usage,
)

GPT = ModelPrice(input_per_million=2.0, output_per_million=8.0, cached_input_per_million=0.5)
CLAUDE = ModelPrice(
    input_per_million=3.0,
    output_per_million=15.0,
    cached_input_per_million=0.3,
    cache_write_per_million=3.75,
)


def test_cached_input_is_priced_at_its_own_rate() -> None:
    # 1,000 prompt tokens of which 400 were cache reads, 100 output tokens.
    cost = GPT.cost(TokenUsage.of(1000, 100, cached_tokens=400))
    assert cost == pytest.approx((600 * 2.0 + 400 * 0.5 + 100 * 8.0) / 1e6)


def test_cache_writes_are_priced_at_their_own_rate() -> None:
    usage_ = TokenUsage.of(1000, 100, cached_tokens=300, cache_creation_tokens=200)
    cost = CLAUDE.cost(usage_)
    assert cost == pytest.approx((500 * 3.0 + 300 * 0.3 + 200 * 3.75 + 100 * 15.0) / 1e6)


def test_without_separate_cache_rates_the_whole_prompt_is_input() -> None:
    plain = ModelPrice(input_per_million=1.0, output_per_million=2.0)
    # Cache counts are not needed, so unknown ones do not make the cost unknown.
    assert plain.cost(TokenUsage.of(1000, 500)) == pytest.approx(0.002)
    assert plain.cost(TokenUsage.of(1000, 500, cached_tokens=900)) == pytest.approx(0.002)


@pytest.mark.parametrize(
    "usage_",
    [
        TokenUsage(),  # the provider reported nothing
        TokenUsage(input_tokens=1000),  # no output count
        TokenUsage(output_tokens=10),  # no input count
        TokenUsage.of(1000, 10),  # a cached rate is set but the cached count is unknown
        TokenUsage.of(100, 10, cached_tokens=500),  # counts that contradict each other
    ],
)
def test_cost_is_unknown_when_a_needed_count_is(usage_: TokenUsage) -> None:
    assert GPT.cost(usage_) is None


def test_cache_write_rate_needs_the_cache_write_count() -> None:
    assert CLAUDE.cost(TokenUsage.of(1000, 100, cached_tokens=0)) is None


def test_static_table_prefers_the_backend_pair_over_the_bare_name() -> None:
    table = StaticPriceTable({("openai", "gpt-4.1"): GPT, "gpt-4.1": CLAUDE})
    assert isinstance(table, PriceTable)
    assert table.price("openai", "gpt-4.1") is GPT
    assert table.price("azure", "gpt-4.1") is CLAUDE
    assert table.price(None, "gpt-4.1") is CLAUDE
    assert table.price("openai", "o3") is None


def test_prices_are_validated() -> None:
    with pytest.raises(ValueError):
        ModelPrice(input_per_million=-1.0, output_per_million=1.0)
    with pytest.raises(ValueError):
        ModelPrice(input_per_million=1.0, output_per_million=1.0, surprise=2)  # type: ignore[call-arg]


async def test_each_call_and_the_total_carry_cost() -> None:
    model = ScriptedModel(
        [
            call_tool("todo_write", {"todos": []}, usage=TokenUsage.of(1000, 100, cached_tokens=0)),
            call_tool(
                "todo_write", {"todos": []}, usage=TokenUsage.of(2000, 50, cached_tokens=1500)
            ),
            call_tool("task_finish", {"message": "ok"}),  # no usage reported: unknown cost
        ]
    )
    config = RunConfig(price_table=StaticPriceTable({"scripted": GPT}))
    handle = await Runner.start(Agent(model=model), "go", config=config)
    result = await handle.result()
    assert result.completed
    first = (1000 * 2.0 + 100 * 8.0) / 1e6
    second = (500 * 2.0 + 1500 * 0.5 + 50 * 8.0) / 1e6
    costs = [call.usage.cost_usd for call in result.model_calls]
    assert costs == [pytest.approx(first), pytest.approx(second), None]
    # The total adds the known costs, like every other count of TokenUsage.
    assert result.usage.cost_usd == pytest.approx(first + second)
    assert result.summary()["usage"]["cost_usd"] == pytest.approx(first + second)
    events = [e async for e in handle.events() if isinstance(e, ModelCallCompleted)]
    assert [e.usage.cost_usd for e in events] == costs
    wire = json.loads(json.dumps(events[0].to_dict()))
    assert wire["usage"]["cost_usd"] == pytest.approx(first)
    assert parse_event(wire) == events[0]
    # Cycle records (what a checkpoint stores) keep the priced usage too.
    assert [c.usage.cost_usd for c in result.state.cycles] == costs


async def test_without_a_price_cost_stays_unknown() -> None:
    other = StaticPriceTable({"some-other-model": GPT})
    for config in (RunConfig(), RunConfig(price_table=other)):
        model = ScriptedModel(
            [call_tool("task_finish", {"message": "ok"}, usage=TokenUsage.of(10, 2))]
        )
        result = await Runner.run(Agent(model=model), "go", config=config)
        assert result.usage.total_tokens == 12
        assert result.usage.cost_usd is None
        assert result.model_calls[0].usage.cost_usd is None


def settings_data(base_url: str, pricing: dict[str, Any] | None) -> dict[str, Any]:
    model: dict[str, Any] = {"endpoints": ["loop"]}
    if pricing is not None:
        model["pricing"] = pricing
    return {
        "VERSION": "2",
        "endpoints": [{"id": "loop", "api_base": base_url, "api_key": "sk-test"}],
        "backends": {"local": {"models": {"loop-model": model}}},
    }


def test_settings_file_pricing_is_validated_and_resolved() -> None:
    pricing = {"input_per_million": 2, "output_per_million": 8, "cached_input_per_million": 0.5}
    settings = parse_settings(settings_data("http://127.0.0.1:9/v1", pricing))
    assert resolve_model(settings, "loop-model").price == GPT
    assert (
        resolve_model(
            parse_settings(settings_data("http://127.0.0.1:9/v1", None)), "loop-model"
        ).price
        is None
    )
    with pytest.raises(SettingsFileError) as caught:
        parse_settings(settings_data("http://127.0.0.1:9/v1", {"input_per_million": 1}))
    assert "pricing.output_per_million" in caught.value.message


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


async def test_settings_pricing_prices_real_calls_and_the_table_overrides_it(
    server: OpenAICompatServer, tmp_path: Path
) -> None:
    pricing = {"input_per_million": 2, "output_per_million": 8, "cached_input_per_million": 0.5}
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings_data(server.base_url, pricing)))
    reply = ChatReply(
        tool_calls=[ServerToolCall("task_finish", {"message": "ok"})],
        usage=usage(1000, 100, cached_tokens=400),
    )
    server.enqueue(reply, reply)
    agent = Agent(model="loop-model")
    from_settings = await Runner.run(agent, "go", config=RunConfig(settings_file=path))
    assert from_settings.usage.cost_usd == pytest.approx((600 * 2 + 400 * 0.5 + 100 * 8) / 1e6)
    table = StaticPriceTable(
        {("local", "loop-model"): ModelPrice(input_per_million=10, output_per_million=10)}
    )
    overridden = await Runner.run(
        agent, "go", config=RunConfig(settings_file=path, price_table=table)
    )
    assert overridden.usage.cost_usd == pytest.approx(1100 * 10 / 1e6)


def test_reasoning_tokens_are_unknown_in_total_when_a_call_does_not_report_them() -> None:
    def run(*usages: TokenUsage) -> TokenUsage:
        steps = [call_tool("todo_write", {"todos": []}, usage=u) for u in usages]
        model = ScriptedModel([*steps, call_tool("task_finish", {"message": "ok"})])
        return Runner.run_sync(Agent(model=model), "go").usage

    mixed = run(TokenUsage.of(100, 20, reasoning_tokens=10), TokenUsage.of(50, 5))
    # A partial count would pass for the whole: unknown, while the other counts still add up.
    assert mixed.reasoning_tokens is None
    assert (mixed.input_tokens, mixed.output_tokens, mixed.total_tokens) == (150, 25, 175)
    known = run(
        TokenUsage.of(100, 20, reasoning_tokens=10), TokenUsage.of(50, 5, reasoning_tokens=3)
    )
    assert known.reasoning_tokens == 13
    # The last call reported no usage at all (TokenUsage()): it changes nothing.
    assert known.input_tokens == 150
