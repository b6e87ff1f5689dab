"""The Anthropic Messages adapter (install the ``anthropic`` extra).

The ``anthropic`` SDK is imported lazily, on the first call. Retries, failover and error codes
are shared with the OpenAI adapter (``_retry``); Anthropic's "prompt is too long" becomes
``PromptTooLongError``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agentcycle.errors import ConfigurationError
from agentcycle.models import _retry
from agentcycle.models._adapter import NO_KEY, SDKModel
from agentcycle.models._convert_anthropic import (
    MessageConverter,
    StreamAccumulator,
    System,
    message_items,
    request_params,
)
from agentcycle.models.base import (
    EndpointTarget,
    ModelRequest,
    ModelSettings,
    ModelStreamItem,
)

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

__all__ = ["AnthropicModel"]


def _api_root(api_base: str | None) -> str | None:
    # The SDK appends ``/v1/messages``; settings files often spell the base with ``/v1``.
    if not api_base:
        return None
    base = api_base.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


class AnthropicModel(SDKModel["AsyncAnthropic"]):
    """A model served over the Anthropic Messages API.

    Same shape as ``OpenAIChatModel``: ``targets`` in failover order, default ``settings``, and
    ``stream=False`` for non-streamed calls. ``max_tokens`` defaults to 4096 (the API requires
    it). Usage counts the whole prompt as ``input_tokens`` (Anthropic's uncached input plus
    cache reads and writes), with ``cached_tokens`` (cache reads) and ``cache_creation_tokens``.
    """

    def __init__(
        self,
        targets: Sequence[EndpointTarget],
        *,
        name: str,
        backend: str | None = None,
        settings: ModelSettings | None = None,
        stream: bool = True,
    ) -> None:
        super().__init__(targets, name=name, backend=backend, settings=settings, stream=stream)
        self._converter = MessageConverter()

    def _sdk(self) -> ModuleType:
        try:
            import anthropic
        except ImportError:
            raise ConfigurationError(
                "the anthropic backend needs the anthropic SDK: pip install 'agentcycle[anthropic]'"
            ) from None
        return anthropic

    def _new_client(self, target: EndpointTarget) -> AsyncAnthropic:
        anthropic = self._sdk()
        client: AsyncAnthropic = anthropic.AsyncAnthropic(
            api_key=target.api_key or NO_KEY,
            base_url=_api_root(target.api_base),
            max_retries=0,
            default_headers=dict(target.headers) or None,
        )
        return client

    async def _close_client(self, client: AsyncAnthropic) -> None:
        await client.close()

    def _prepare(self, request: ModelRequest) -> tuple[System, list[dict[str, Any]]]:
        return self._converter.convert(request.messages)

    def _params(
        self,
        target: EndpointTarget,
        prepared: tuple[System, list[dict[str, Any]]],
        request: ModelRequest,
        settings: ModelSettings,
    ) -> dict[str, Any]:
        system, messages = prepared
        return request_params(
            target.model_id, system, messages, request.tools, settings, stream=self._stream
        )

    async def _call(
        self, client: AsyncAnthropic, target: EndpointTarget, params: dict[str, Any]
    ) -> AsyncGenerator[ModelStreamItem, None]:
        if not self._stream:
            message = await client.messages.create(**params)
            for item in message_items(message, target.model_id, target.endpoint_id):
                yield item
            return
        accumulator = StreamAccumulator(target.model_id, target.endpoint_id)
        emitted = False
        stream = await client.messages.create(**params)
        async with stream:
            async for event in stream:
                for delta in accumulator.feed(event):
                    emitted = True
                    yield delta
        if not accumulator.finished:
            raise _retry.incomplete_error(target, emitted=emitted)
        yield accumulator.response()
