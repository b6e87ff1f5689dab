"""The OpenAI Chat Completions adapter (OpenAI and every compatible server: DeepSeek, Moonshot,
Qwen, OpenRouter, vLLM, Ollama, llama.cpp ...).

The ``openai`` SDK is imported lazily, on the first call: importing this module stays cheap.
The SDK's own retries are off; ``_retry`` decides what is retried and when to fail over.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agentcycle.models import _retry
from agentcycle.models._adapter import NO_KEY, SDKModel
from agentcycle.models._convert_openai import (
    MessageConverter,
    StreamAccumulator,
    completion_items,
    is_official_openai,
    request_params,
)
from agentcycle.models.base import (
    EndpointTarget,
    ModelRequest,
    ModelSettings,
    ModelStreamItem,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["OpenAIChatModel"]


class OpenAIChatModel(SDKModel["AsyncOpenAI"]):
    """A model served over the OpenAI Chat Completions API.

    ``targets`` are tried in order: when one keeps failing with a retryable error for
    ``RetrySettings.max_attempts`` attempts, the next one is used (failover). ``settings`` are
    this model's defaults; each request's settings are merged on top. ``stream=False`` uses
    non-streamed completions for endpoints that cannot stream (the response is still reported
    as deltas, all at once). ``send_reasoning=True`` passes an assistant message's reasoning back
    as ``reasoning_content``, for endpoints that require it in thinking mode; by default it is
    not sent.
    """

    def __init__(
        self,
        targets: Sequence[EndpointTarget],
        *,
        name: str,
        backend: str | None = None,
        settings: ModelSettings | None = None,
        stream: bool = True,
        send_reasoning: bool = False,
    ) -> None:
        super().__init__(targets, name=name, backend=backend, settings=settings, stream=stream)
        self._converter = MessageConverter(send_reasoning=send_reasoning)

    def _sdk(self) -> ModuleType:
        import openai

        return openai

    def _new_client(self, target: EndpointTarget) -> AsyncOpenAI:
        import openai

        return openai.AsyncOpenAI(
            api_key=target.api_key or NO_KEY,
            base_url=target.api_base or None,
            max_retries=0,
            default_headers=dict(target.headers) or None,
        )

    async def _close_client(self, client: AsyncOpenAI) -> None:
        await client.close()

    def _prepare(self, request: ModelRequest) -> list[dict[str, Any]]:
        return self._converter.convert(request.messages)

    def _params(
        self,
        target: EndpointTarget,
        prepared: list[dict[str, Any]],
        request: ModelRequest,
        settings: ModelSettings,
    ) -> dict[str, Any]:
        return request_params(
            target.model_id,
            prepared,
            request.tools,
            settings,
            stream=self._stream,
            official=is_official_openai(target.api_base),
        )

    async def _call(
        self, client: AsyncOpenAI, target: EndpointTarget, params: dict[str, Any]
    ) -> AsyncGenerator[ModelStreamItem, None]:
        if not self._stream:
            completion = await client.chat.completions.create(**params)
            for item in completion_items(completion, target.model_id, target.endpoint_id):
                yield item
            return
        accumulator = StreamAccumulator(target.model_id, target.endpoint_id)
        emitted = False
        stream = await client.chat.completions.create(**params)
        async with stream:
            async for chunk in stream:
                for delta in accumulator.feed(chunk):
                    emitted = True
                    yield delta
        if accumulator.finish_reason is None:
            raise _retry.incomplete_error(target, emitted=emitted)
        yield accumulator.response()
