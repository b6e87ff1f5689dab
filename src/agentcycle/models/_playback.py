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


def response_items(response: ModelResponse, chunk: int = 0) -> list[ModelStreamItem]:
    """The items ``play_response`` streams for ``response``, as a list: a model that plays
    back from its own async generator yields them without a second generator in between."""
    items: list[ModelStreamItem] = []
    if response.reasoning:
        items.append(ReasoningTextDelta(response.reasoning))
    if response.text:
        items.extend(TextDelta(piece) for piece in _pieces(response.text, chunk))
    for index, call in enumerate(response.tool_calls):
        items.append(ToolCallStartDelta(index=index, id=call.id, name=call.name))
        total = 0
        for piece in _pieces(call.arguments, chunk):
            total += len(piece)
            items.append(
                ToolCallArgumentsDelta(
                    index=index, id=call.id, name=call.name, text=piece, total_chars=total
                )
            )
    items.append(response)
    return items


async def play_response(response: ModelResponse, chunk: int = 0) -> AsyncIterator[ModelStreamItem]:
    """Yield reasoning, text and tool-call deltas for ``response`` (``chunk`` characters at a
    time; 0 = whole strings), then the response itself."""
    for item in response_items(response, chunk):
        yield item
