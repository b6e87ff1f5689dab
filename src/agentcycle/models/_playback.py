"""Stream a complete ``ModelResponse`` as deltas, the way a real provider would."""

from __future__ import annotations

from collections.abc import AsyncIterator

from agentcycle.models.base import (
    ModelResponse,
    ModelStreamItem,
    ReasoningTextDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallStartDelta,
)


def _pieces(text: str, chunk: int) -> list[str]:
    if chunk <= 0 or len(text) <= chunk:
        return [text]
    return [text[i : i + chunk] for i in range(0, len(text), chunk)]


async def play_response(response: ModelResponse, chunk: int = 0) -> AsyncIterator[ModelStreamItem]:
    """Yield reasoning, text and tool-call deltas for ``response`` (``chunk`` characters at a
    time; 0 = whole strings), then the response itself."""
    if response.reasoning:
        yield ReasoningTextDelta(response.reasoning)
    if response.text:
        for piece in _pieces(response.text, chunk):
            yield TextDelta(piece)
    for index, call in enumerate(response.tool_calls):
        yield ToolCallStartDelta(index=index, id=call.id, name=call.name)
        total = 0
        for piece in _pieces(call.arguments, chunk):
            total += len(piece)
            yield ToolCallArgumentsDelta(
                index=index, id=call.id, name=call.name, text=piece, total_chars=total
            )
    yield response
