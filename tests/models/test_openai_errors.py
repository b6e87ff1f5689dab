"""Retries, failover and typed errors of OpenAIChatModel, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest
from model_helpers import API_KEY, FAST_RETRY, ask, collect, target

from agentcycle.errors import ModelError, PromptTooLongError
from agentcycle.models.base import (
    AttemptFailed,
    AttemptStarted,
    ModelSettings,
    RetrySettings,
    TextDelta,
)
from agentcycle.testing.openai_server import ChatReply, ErrorReply, OpenAICompatServer


async def stream_until_error(model, request) -> tuple[list, ModelError]:
    """The items streamed before the call failed, and the error."""
    items = []
    with pytest.raises(ModelError) as caught:
        async for item in model.stream(request):
            items.append(item)
    return items, caught.value


def attempt_markers(items) -> list[tuple[str, int, str | None]]:
    return [
        (type(item).__name__, item.attempt, item.endpoint)
        for item in items
        if isinstance(item, AttemptFailed | AttemptStarted)
    ]


async def test_429_with_retry_after_then_success(openai_server, make_openai):
    openai_server.enqueue(
        ErrorReply(
            429, message="slow down", code="rate_limit_exceeded", headers={"Retry-After": "0.3"}
        ),
        ChatReply(text="finally"),
    )
    retry = RetrySettings(max_attempts=3, initial_delay=0.001, max_delay=5.0, jitter=0.0)
    model = make_openai(openai_server.base_url, settings=ModelSettings(retry=retry))

    items, response = await collect(model, ask())

    assert response.text == "finally"
    assert attempt_markers(items) == [("AttemptFailed", 1, "local"), ("AttemptStarted", 2, "local")]
    failed = items[0]
    assert isinstance(failed.error, ModelError)
    assert failed.error.code == "rate_limited"
    assert failed.error.retryable
    assert failed.error.retry_after == pytest.approx(0.3)
    first, second = openai_server.requests
    # The server's Retry-After, not the 1 ms backoff, decided the wait.
    assert 0.3 <= second.received_at - first.received_at < 2.0


async def test_retry_after_is_capped_by_max_delay(openai_server, make_openai):
    openai_server.enqueue(ErrorReply(503, headers={"Retry-After": "3600"}), "ok")
    model = make_openai(openai_server.base_url)  # max_delay=0.05

    started = time.monotonic()
    _, response = await collect(model, ask())

    assert response.text == "ok"
    assert time.monotonic() - started < 2.0


async def test_5xx_until_retries_are_exhausted(openai_server, make_openai):
    openai_server.enqueue(*[ErrorReply(502, message="bad gateway")] * 2, ErrorReply(503))
    model = make_openai(openai_server.base_url)  # 3 attempts

    items, error = await stream_until_error(model, ask())

    assert error.code == "server_error"
    assert error.status_code == 503
    assert error.retryable
    assert error.outcome == "definitive"
    assert len(openai_server.requests) == 3
    assert attempt_markers(items) == [
        ("AttemptFailed", 1, "local"),
        ("AttemptStarted", 2, "local"),
        ("AttemptFailed", 2, "local"),
        ("AttemptStarted", 3, "local"),
    ]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "bad_request"),
        (401, "authentication_failed"),
        (403, "permission_denied"),
        (404, "model_not_found_at_endpoint"),
        (422, "bad_request"),
    ],
)
async def test_other_4xx_fail_at_once_with_a_typed_code(openai_server, make_openai, status, code):
    openai_server.enqueue(ErrorReply(status, message="nope"), "never used")
    model = make_openai(openai_server.base_url)

    items, error = await stream_until_error(model, ask())

    assert error.code == code
    assert error.status_code == status
    assert not error.retryable
    assert items == []
    assert len(openai_server.requests) == 1
    assert "nope" in error.message


async def test_401_does_not_leak_the_api_key(openai_server, make_openai):
    # Real servers echo (part of) the key back; the error must not carry it anywhere.
    openai_server.enqueue(
        ErrorReply(
            401,
            message=f"Incorrect API key provided: {API_KEY}.",
            error_type="invalid_request_error",
            code=f"invalid_api_key:{API_KEY}",
        )
    )
    model = make_openai(openai_server.base_url)

    _, error = await stream_until_error(model, ask())

    assert error.code == "authentication_failed"
    assert len(openai_server.requests) == 1
    assert "Incorrect API key provided" in error.message
    for text in (str(error), repr(error), repr(error.to_dict()), repr(error.details)):
        assert API_KEY not in text
    assert error.__cause__ is None
    assert error.__context__ is None
    assert API_KEY not in repr(model)
    assert API_KEY not in repr(model.targets)


async def test_api_key_absent_from_retry_events_and_transport_errors(make_openai):
    with OpenAICompatServer() as server:
        url = server.base_url
    # The server is gone: connection refused on every attempt.
    model = make_openai([target(url)])

    items, error = await stream_until_error(model, ask())

    assert error.code == "connection_error"
    assert error.retryable
    assert len([i for i in items if isinstance(i, AttemptFailed)]) == 2
    for text in [str(error), repr(error), *map(repr, items)]:
        assert API_KEY not in text


@pytest.mark.parametrize(
    ("code", "error_type", "message"),
    [
        (
            "context_length_exceeded",
            "invalid_request_error",
            "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 9001 tokens. Please reduce the length of the messages.",
        ),
        # vLLM
        (
            None,
            "BadRequestError",
            "This model's maximum context length is 4096 tokens. However, you requested 5000 "
            "tokens (4000 in the messages, 1000 in the completion).",
        ),
        (
            None,
            "BadRequestError",
            "The prompt (total length 40000) is too long to fit into the model "
            "(context length 32768).",
        ),
        # DeepSeek
        (
            "invalid_request_error",
            "invalid_request_error",
            "This model's maximum context length is 65536 tokens. However, you requested 70000 "
            "tokens (70000 in the messages, 0 in the completion).",
        ),
        # Moonshot
        (
            None,
            "invalid_request_error",
            "Invalid request: Your request exceeded model token limit: 131072",
        ),
        # llama.cpp server
        (
            None,
            "exceed_context_size_error",
            "the request exceeds the available context size, try increasing it",
        ),
        # Qwen / DashScope
        (None, "InvalidParameter", "Range of input length should be [1, 129024]"),
        # Anthropic-style and generic phrasings
        (None, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
        (None, None, "Too many tokens in the input"),
    ],
)
async def test_context_length_errors_raise_prompt_too_long(
    openai_server, make_openai, code, error_type, message
):
    openai_server.enqueue(ErrorReply(400, message=message, error_type=error_type, code=code))
    model = make_openai(openai_server.base_url)

    _, error = await stream_until_error(model, ask())

    assert isinstance(error, PromptTooLongError)
    assert error.code == "prompt_too_long"
    assert not error.retryable
    assert len(openai_server.requests) == 1


async def test_an_ordinary_400_is_not_mistaken_for_a_context_error(openai_server, make_openai):
    openai_server.enqueue(
        ErrorReply(
            400,
            message="max_tokens is too large: 100000. This model supports at most 4096 "
            "completion tokens.",
        )
    )
    _, error = await stream_until_error(make_openai(openai_server.base_url), ask())
    assert not isinstance(error, PromptTooLongError)
    assert error.code == "bad_request"


async def test_failover_to_the_next_target_after_retries_are_exhausted(openai_server, make_openai):
    def handler(body):
        if body["model"] == "primary-model":
            return ErrorReply(503, message="overloaded")
        return ChatReply(text="from the backup")

    server = OpenAICompatServer(handler=handler)
    server.start()
    try:
        model = make_openai(
            [
                target(server.base_url, "primary", model_id="primary-model"),
                target(server.base_url, "backup", model_id="backup-model"),
            ]
        )
        items, response = await collect(model, ask())
    finally:
        server.stop()

    assert response.text == "from the backup"
    assert response.endpoint == "backup"
    assert response.model == "backup-model"
    assert [r.json["model"] for r in server.requests] == ["primary-model"] * 3 + ["backup-model"]
    assert attempt_markers(items) == [
        ("AttemptFailed", 1, "primary"),
        ("AttemptStarted", 2, "primary"),
        ("AttemptFailed", 2, "primary"),
        ("AttemptStarted", 3, "primary"),
        ("AttemptFailed", 3, "primary"),
        ("AttemptStarted", 4, "backup"),
    ]


async def test_no_failover_for_errors_a_retry_cannot_fix(make_openai):
    with OpenAICompatServer([ErrorReply(401)]) as first, OpenAICompatServer(["ok"]) as second:
        model = make_openai([target(first.base_url, "a"), target(second.base_url, "b")])
        _, error = await stream_until_error(model, ask())
        assert error.code == "authentication_failed"
        assert second.requests == []


async def test_stream_cut_mid_answer_is_ambiguous_and_not_retried(openai_server, make_openai):
    openai_server.enqueue(ChatReply(text="The first half of a long answer", cut_after=4), "unused")
    model = make_openai(openai_server.base_url)

    items, error = await stream_until_error(model, ask())

    assert error.outcome == "ambiguous"
    assert error.code == "stream_interrupted"
    assert (
        "".join(i.text for i in items if isinstance(i, TextDelta))
        == "The first half of a long answer"[:12]
    )
    assert len(openai_server.requests) == 1
    assert openai_server.pending_replies == 1
    assert attempt_markers(items) == []


async def test_stream_cut_before_any_output_is_retried(openai_server, make_openai):
    # Only the role chunk arrives: nothing reached the caller, so a retry is safe.
    openai_server.enqueue(ChatReply(text="lost", cut_after=1), ChatReply(text="whole"))
    model = make_openai(openai_server.base_url)

    items, response = await collect(model, ask())

    assert response.text == "whole"
    assert [type(i).__name__ for i in items[:2]] == ["AttemptFailed", "AttemptStarted"]
    assert items[0].error.outcome == "definitive"
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == "whole"


async def test_connection_dropped_before_a_non_streamed_response_is_retried(
    openai_server, make_openai
):
    openai_server.enqueue(ChatReply(text="x", cut_after=0), ChatReply(text="second try"))
    model = make_openai(openai_server.base_url, stream=False)

    items, response = await collect(model, ask())

    assert response.text == "second try"
    assert items[0].error.code == "connection_error"


async def test_timeout_is_a_typed_error(openai_server, make_openai):
    openai_server.enqueue(ChatReply(text="too late", delay=5.0))
    settings = ModelSettings(timeout=0.2, retry=RetrySettings(max_attempts=1))
    model = make_openai(openai_server.base_url, settings=settings)

    started = time.monotonic()
    _, error = await stream_until_error(model, ask())

    assert error.code == "timeout"
    assert error.retryable
    assert time.monotonic() - started < 3.0


async def test_retry_sleep_is_cancellable(openai_server, make_openai):
    openai_server.enqueue(ErrorReply(503, headers={"Retry-After": "30"}))
    retry = RetrySettings(max_attempts=3, initial_delay=30, max_delay=60)
    model = make_openai(openai_server.base_url, settings=ModelSettings(retry=retry))

    stream = model.stream(ask())
    first = await anext(stream)
    assert isinstance(first, AttemptFailed)
    started = time.monotonic()
    # The next item waits out Retry-After; cancelling must end the wait at once.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(stream), timeout=0.1)
    assert time.monotonic() - started < 2.0
    await stream.aclose()
    assert len(openai_server.requests) == 1


async def test_fast_retry_settings_come_from_the_request_too(openai_server, make_openai):
    openai_server.enqueue(ErrorReply(500), "ok")
    slow = ModelSettings(retry=RetrySettings(initial_delay=10, max_delay=10))
    model = make_openai(openai_server.base_url, settings=slow)

    started = time.monotonic()
    _, response = await collect(model, ask(settings=ModelSettings(retry=FAST_RETRY)))

    assert response.text == "ok"
    assert time.monotonic() - started < 5.0
