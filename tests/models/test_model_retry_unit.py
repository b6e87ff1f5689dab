"""The retry machinery's pure parts: Retry-After parsing, backoff, context-length detection,
the wire cache, and the never-retry-after-output rule."""

from __future__ import annotations

import email.utils
import gc
import time

import pytest

from agentcycle.errors import ModelError
from agentcycle.messages import UserMessage
from agentcycle.models._retry import (
    backoff_delay,
    is_context_length_error,
    parse_retry_after,
    stream_with_failover,
)
from agentcycle.models._wire_cache import WireCache
from agentcycle.models.base import EndpointTarget, RetrySettings, TextDelta


def test_retry_after_in_seconds_milliseconds_and_http_dates():
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.05"}) == 0.05
    assert parse_retry_after({"retry-after-ms": "150", "retry-after": "9"}) == 0.15
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= parse_retry_after({"retry-after": future}) <= 30
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after({"retry-after": past}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after(None) is None


def test_backoff_grows_exponentially_is_capped_and_jittered():
    retry = RetrySettings(initial_delay=0.5, multiplier=2.0, max_delay=3.0, jitter=0.25)
    middle = 0.5  # rng() == 0.5 means no jitter
    assert [backoff_delay(retry, n, rng=lambda: middle) for n in (1, 2, 3, 4)] == [
        0.5,
        1.0,
        2.0,
        3.0,
    ]
    assert backoff_delay(retry, 1, rng=lambda: 0.0) == pytest.approx(0.375)
    assert backoff_delay(retry, 1, rng=lambda: 1.0) == pytest.approx(0.625)
    assert backoff_delay(retry, 3, rng=lambda: 1.0) == 2.5
    # A server's Retry-After wins, within max_delay.
    assert backoff_delay(retry, 1, retry_after=1.7) == 1.7
    assert backoff_delay(retry, 1, retry_after=600) == 3.0


@pytest.mark.parametrize(
    "message",
    [
        "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM)",
        "Invalid 'messages[1].content': string too long. Expected maximum length 1048576",
        "max_tokens is too large: 100000. This model supports at most 4096 completion tokens",
        "Invalid value for 'temperature'",
    ],
)
def test_ordinary_errors_are_not_context_length_errors(message):
    assert not is_context_length_error(None, "invalid_request_error", message)


def test_wire_cache_converts_each_live_object_once_and_forgets_dead_ones():
    cache: WireCache[UserMessage, dict] = WireCache()
    calls: list[str] = []

    def convert(message: UserMessage) -> dict:
        calls.append(message.content)
        return {"content": message.content}

    first = UserMessage(content="same")
    twin = UserMessage(content="same")  # equal by value, distinct object
    assert cache.get(first, convert) is cache.get(first, convert)
    cache.get(twin, convert)
    assert calls == ["same", "same"]
    assert len(cache) == 2

    del first, twin
    gc.collect()
    assert len(cache) == 0


async def test_an_error_after_output_is_never_retried_even_if_marked_definitive():
    calls = 0

    async def attempt(index, target):
        nonlocal calls
        calls += 1
        yield TextDelta("partial")
        raise ModelError("boom", code="server_error", retryable=True)

    targets = [EndpointTarget("a", None, "m"), EndpointTarget("b", None, "m")]
    retry = RetrySettings(max_attempts=3, initial_delay=0.001)
    items = []
    with pytest.raises(ModelError):
        async for item in stream_with_failover(targets, retry, attempt):
            items.append(item)
    assert calls == 1
    assert items == [TextDelta("partial")]


def test_converters_reuse_each_messages_wire_form_across_calls():
    from agentcycle.messages import AssistantMessage, ToolCall, ToolMessage
    from agentcycle.models import _convert_anthropic, _convert_openai

    history = [
        UserMessage(content="hi"),
        AssistantMessage(tool_calls=(ToolCall(id="a", name="f"), ToolCall(id="b", name="f"))),
        ToolMessage(tool_call_id="a", name="f", content="1"),
        ToolMessage(tool_call_id="b", name="f", content="2"),
    ]
    openai = _convert_openai.MessageConverter()
    first, second = openai.convert(history), openai.convert([*history, UserMessage(content="more")])
    assert all(a is b for a, b in zip(first, second, strict=False))

    anthropic = _convert_anthropic.MessageConverter()
    _, first = anthropic.convert(history)
    _, second = anthropic.convert(history)
    assert first == second
    assert len(first[-1]["content"]) == 2  # both results in one user message
    # The merged message is built per call; the cached blocks inside it are shared.
    assert first[-1] is not second[-1]
    assert first[-1]["content"][0] is second[-1]["content"][0]
