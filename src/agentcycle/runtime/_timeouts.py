"""Waiting on code the host plugged in (hooks, context providers) for a bounded time."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any


async def answer_within(value: Any, limit: float | None, what: str) -> Any:
    """``value``, awaited first when it is awaitable, within ``limit`` seconds (``None``: no
    limit). Past the limit raises ``TimeoutError`` saying ``what`` did not answer; a
    ``TimeoutError`` the awaited code raises itself passes through unchanged."""
    if not inspect.isawaitable(value):
        return value
    scope = asyncio.timeout(limit)
    try:
        async with scope:
            return await value
    except TimeoutError:
        if not scope.expired():
            raise
        raise TimeoutError(f"{what} did not answer within {limit} s") from None
