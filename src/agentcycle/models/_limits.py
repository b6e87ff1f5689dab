"""Bounds on one model-call attempt: an idle timeout, an overall deadline, an output cap.

A provider that stops making progress (a stall before the headers, a keep-alive trickle that
never carries a token) is cut after ``ModelSettings.timeout`` seconds without a stream item
(default :data:`DEFAULT_IDLE_TIMEOUT`); any attempt is cut after ``total_timeout`` seconds in
all (default :data:`DEFAULT_TOTAL_TIMEOUT`); and the streamed output (answer text, reasoning
text, tool-call arguments) may not exceed :func:`output_cap` characters, derived from
``max_tokens`` with a fixed ceiling, so an endless stream cannot fill memory.

Each limit ends the attempt with a typed ``ModelError``: the timeouts (code ``timeout``,
``details["limit"]`` ``idle`` or ``total``) are retryable (and
``ambiguous`` once output was streamed, so the retry loop leaves them to the caller); the
output cap is not retryable (the same request would run away again).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from agentcycle.errors import ModelError
from agentcycle.models.base import (
    EndpointTarget,
    ModelResponse,
    ModelSettings,
    ModelStreamItem,
    ReasoningTextDelta,
    TextDelta,
    ToolCallArgumentsDelta,
)

DEFAULT_IDLE_TIMEOUT = 60.0
"""Seconds an attempt may go without a stream item (``ModelSettings.timeout``)."""

DEFAULT_TOTAL_TIMEOUT = 600.0
"""Seconds one attempt may take in all (``ModelSettings.total_timeout``)."""

CHARS_PER_TOKEN = 32
"""Characters allowed per ``max_tokens`` token: far above any tokenizer's longest token."""

MAX_OUTPUT_CHARS = 2_000_000
"""The output cap when ``max_tokens`` is unset or larger (about 500k tokens of prose)."""


def output_cap(max_tokens: int | None) -> int:
    """Characters of streamed output one attempt may produce."""
    if max_tokens is None or max_tokens <= 0:
        return MAX_OUTPUT_CHARS
    return min(max_tokens * CHARS_PER_TOKEN, MAX_OUTPUT_CHARS)


@dataclass(frozen=True, slots=True)
class CallLimits:
    """The limits of one attempt; ``idle`` is ``None`` for a non-streamed call, whose only
    item arrives once the whole answer is generated."""

    idle: float | None
    total: float
    max_chars: int

    @classmethod
    def of(cls, settings: ModelSettings, *, streamed: bool) -> CallLimits:
        """The limits ``settings`` ask for, defaults filled in."""
        idle = settings.timeout if settings.timeout is not None else DEFAULT_IDLE_TIMEOUT
        total = (
            settings.total_timeout if settings.total_timeout is not None else DEFAULT_TOTAL_TIMEOUT
        )
        return cls(idle if streamed else None, total, output_cap(settings.max_tokens))


def _output_chars(item: ModelStreamItem) -> int:
    if isinstance(item, TextDelta | ReasoningTextDelta | ToolCallArgumentsDelta):
        return len(item.text)
    return 0


def _timeout_error(
    target: EndpointTarget, limit: str, seconds: float, *, emitted: bool
) -> ModelError:
    """Code ``timeout``, like a transport timeout; ``details["limit"]`` says which one."""
    what = "sent nothing new for" if limit == "idle" else "did not finish the answer within"
    return ModelError(
        f"endpoint {target.endpoint_id!r} {what} {seconds:g} s",
        code="timeout",
        retryable=True,
        outcome="ambiguous" if emitted else "definitive",
        details={"endpoint": target.endpoint_id, "limit": limit, "limit_s": seconds},
    )


async def bounded(
    items: AsyncIterator[ModelStreamItem], limits: CallLimits, target: EndpointTarget
) -> AsyncGenerator[ModelStreamItem, None]:
    """``items`` with ``limits`` enforced; the caller closes ``items``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.total
    chars = 0
    emitted = False
    while True:
        now = loop.time()
        idle_at = now + limits.idle if limits.idle is not None else deadline
        # One timeout scope per item, entered and left inside this task: the consumer may
        # resume the generator from another task between items.
        try:
            async with asyncio.timeout_at(min(idle_at, deadline)) as scope:
                item = await anext(items)
        except StopAsyncIteration:
            return
        except TimeoutError:
            if not scope.expired():
                raise
            if idle_at < deadline:
                idle = limits.idle or 0.0
                raise _timeout_error(target, "idle", idle, emitted=emitted) from None
            raise _timeout_error(target, "total", limits.total, emitted=emitted) from None
        chars += _output_chars(item)
        if chars > limits.max_chars:
            raise ModelError(
                f"endpoint {target.endpoint_id!r} streamed more than {limits.max_chars:,} "
                "characters of output; the attempt was stopped",
                code="model_output_too_large",
                retryable=False,
                outcome="ambiguous",
                details={"endpoint": target.endpoint_id, "limit_chars": limits.max_chars},
            )
        if not isinstance(item, ModelResponse):
            emitted = True
        yield item
