"""Hostile providers on loopback: every way of never finishing ends in a typed error within
its limit, with memory bounded."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Iterator
from typing import Any

import pytest
from model_helpers import ask, target

from agentcycle.errors import ModelError
from agentcycle.models._limits import MAX_OUTPUT_CHARS, output_cap
from agentcycle.models.base import ModelSettings, RetrySettings
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.testing._loopback import Exchange
from agentcycle.testing.openai_server import OpenAICompatServer

TWO_ATTEMPTS = RetrySettings(max_attempts=2, initial_delay=0.001, max_delay=0.01, jitter=0.0)


def chunk(delta: dict[str, Any]) -> str:
    return json.dumps(
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        }
    )


class HostileServer(OpenAICompatServer):
    """Answers every request the way ``mode`` says, until the client hangs up."""

    mode = "stall"

    def _serve(self, exchange: Exchange, method: str, path: str, body: Any) -> None:
        self._next_reply(body)  # records the request
        try:
            if self.mode == "stall":
                exchange.wait(60)  # no status line at all; returns when the server stops
                return
            exchange.start_events()
            if self.mode == "keepalive":
                while exchange.wait(0.05):
                    exchange.comment()
            elif self.mode == "drip":
                while exchange.wait(0.05):
                    exchange.event(chunk({"content": "a"}))
            elif self.mode == "text":
                piece = chunk({"content": "x" * 4096})
                while exchange.wait(0):
                    exchange.event(piece)
            elif self.mode == "arguments":
                start = {"index": 0, "id": "call_1", "type": "function"}
                start["function"] = {"name": "write_file", "arguments": ""}
                exchange.event(chunk({"tool_calls": [start]}))
                piece = chunk({"tool_calls": [{"index": 0, "function": {"arguments": "y" * 4096}}]})
                while exchange.wait(0):
                    exchange.event(piece)
        except OSError:  # the client hung up: the point of the exercise
            return


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


async def fail(server: HostileServer, settings: ModelSettings) -> tuple[ModelError, float]:
    model = OpenAIChatModel([target(server.base_url)], name="hostile", settings=settings)
    started = time.monotonic()
    try:
        with pytest.raises(ModelError) as caught:
            async for _ in model.stream(ask()):
                pass
    finally:
        await model.aclose()
    return caught.value, time.monotonic() - started


async def test_a_stall_before_the_headers_hits_the_idle_timeout(hostile: HostileServer) -> None:
    hostile.mode = "stall"
    error, elapsed = await fail(hostile, ModelSettings(timeout=0.3, retry=TWO_ATTEMPTS))
    assert (error.code, error.details["limit"]) == ("timeout", "idle")
    assert error.retryable and error.outcome == "definitive"
    assert len(hostile.requests) == 2  # retried once: nothing was streamed
    assert elapsed < 0.3 * 2 + 2.0


async def test_a_keep_alive_trickle_is_idle(hostile: HostileServer) -> None:
    """Comments every 50 ms keep the socket busy but carry nothing: still idle."""
    hostile.mode = "keepalive"
    error, elapsed = await fail(
        hostile, ModelSettings(timeout=0.4, retry=RetrySettings(max_attempts=1))
    )
    assert (error.code, error.details["limit"]) == ("timeout", "idle")
    assert elapsed < 0.4 + 2.0


async def test_a_drip_of_tokens_hits_the_attempt_deadline(hostile: HostileServer) -> None:
    hostile.mode = "drip"
    settings = ModelSettings(timeout=5.0, total_timeout=0.8, retry=TWO_ATTEMPTS)
    error, elapsed = await fail(hostile, settings)
    assert (error.code, error.details["limit"]) == ("timeout", "total")
    # Output was streamed: ambiguous, so the retry loop leaves it to the caller.
    assert error.outcome == "ambiguous"
    assert len(hostile.requests) == 1
    assert 0.8 <= elapsed < 0.8 + 2.0


@pytest.mark.parametrize("mode", ["text", "arguments"])
async def test_endless_output_hits_the_cap_derived_from_max_tokens(
    hostile: HostileServer, mode: str
) -> None:
    hostile.mode = mode
    settings = ModelSettings(max_tokens=100, timeout=5.0, retry=TWO_ATTEMPTS)
    error, elapsed = await fail(hostile, settings)
    assert error.code == "model_output_too_large"
    assert not error.retryable
    assert error.details["limit_chars"] == output_cap(100) < 10_000
    assert len(hostile.requests) == 1
    assert elapsed < 5.0


@pytest.mark.parametrize("mode", ["text", "arguments"])
async def test_endless_output_without_max_tokens_stays_bounded_in_memory(
    hostile: HostileServer, mode: str
) -> None:
    hostile.mode = mode
    before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    settings = ModelSettings(timeout=5.0, total_timeout=60.0, retry=RetrySettings(max_attempts=1))
    error, elapsed = await fail(hostile, settings)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_kib) / 1024
    assert error.code == "model_output_too_large"
    assert error.details["limit_chars"] == MAX_OUTPUT_CHARS
    assert elapsed < 30.0
    assert grown_mib < 150, f"peak memory grew by {grown_mib:.0f} MiB"


def test_the_output_cap_scales_with_max_tokens_up_to_a_ceiling() -> None:
    assert output_cap(None) == MAX_OUTPUT_CHARS
    assert output_cap(100) == 3_200
    assert output_cap(10**9) == MAX_OUTPUT_CHARS
