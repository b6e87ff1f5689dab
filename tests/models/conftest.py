"""Fixtures for the model adapter tests: loopback servers and models pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
from model_helpers import FAST_RETRY, target

from agentcycle.models.anthropic import AnthropicModel
from agentcycle.models.base import EndpointTarget, ModelSettings
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.testing.anthropic_server import AnthropicCompatServer
from agentcycle.testing.openai_server import OpenAICompatServer


@pytest.fixture
def openai_server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicCompatServer]:
    with AnthropicCompatServer() as server:
        yield server


@pytest.fixture
async def make_openai() -> AsyncIterator[Callable[..., OpenAIChatModel]]:
    """Build ``OpenAIChatModel``s (fast retries by default); closed after the test."""
    models: list[OpenAIChatModel] = []

    def make(
        targets: Sequence[EndpointTarget] | str, *, settings: ModelSettings | None = None, **kw: Any
    ) -> OpenAIChatModel:
        if isinstance(targets, str):
            targets = [target(targets)]
        model = OpenAIChatModel(
            targets, name="test", settings=settings or ModelSettings(retry=FAST_RETRY), **kw
        )
        models.append(model)
        return model

    yield make
    for model in models:
        await model.aclose()


@pytest.fixture
async def make_anthropic() -> AsyncIterator[Callable[..., AnthropicModel]]:
    """Build ``AnthropicModel``s (fast retries by default); closed after the test."""
    models: list[AnthropicModel] = []

    def make(
        targets: Sequence[EndpointTarget] | str, *, settings: ModelSettings | None = None, **kw: Any
    ) -> AnthropicModel:
        if isinstance(targets, str):
            targets = [target(targets, endpoint_type="anthropic")]
        model = AnthropicModel(
            targets, name="claude", settings=settings or ModelSettings(retry=FAST_RETRY), **kw
        )
        models.append(model)
        return model

    yield make
    for model in models:
        await model.aclose()
