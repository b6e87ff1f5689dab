"""Helpers shared by the model adapter tests."""

from __future__ import annotations

from typing import Any

from agentcycle.messages import UserMessage
from agentcycle.models.base import (
    EndpointTarget,
    Model,
    ModelRequest,
    ModelResponse,
    ModelStreamItem,
    RetrySettings,
)

API_KEY = "sk-test-SECRET-0123456789abcdef"

FAST_RETRY = RetrySettings(max_attempts=3, initial_delay=0.001, max_delay=0.05, jitter=0.0)
"""Tiny delays so retry tests stay fast."""


def target(
    base_url: str, endpoint_id: str = "local", *, model_id: str = "test-model", **kw: Any
) -> EndpointTarget:
    """An endpoint target with the test API key."""
    return EndpointTarget(endpoint_id, base_url, model_id, api_key=API_KEY, **kw)


def ask(text: str = "hi", **kw: Any) -> ModelRequest:
    """A one-message request."""
    return ModelRequest(messages=[UserMessage(content=text)], **kw)


async def collect(
    model: Model, request: ModelRequest
) -> tuple[list[ModelStreamItem], ModelResponse]:
    """Every streamed item and the final response (which must come last, exactly once)."""
    items = [item async for item in model.stream(request)]
    responses = [item for item in items if isinstance(item, ModelResponse)]
    assert len(responses) == 1
    assert items[-1] is responses[0]
    return items[:-1], responses[0]
