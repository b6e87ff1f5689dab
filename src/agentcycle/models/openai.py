"""The OpenAI Chat Completions adapter (OpenAI and every compatible server: DeepSeek, Moonshot,
Qwen, OpenRouter, vLLM, Ollama, llama.cpp ...).

The ``openai`` SDK is imported lazily, on the first call: importing this module stays cheap.
The SDK's own retries are off; ``_retry`` decides what is retried and when to fail over.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncGenerator, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agentcycle.errors import ModelError, PromptTooLongError
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
    AttemptFailed,
    AttemptStarted,
    EndpointTarget,
    ModelRequest,
    ModelResponse,
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

    Quirks of local servers (llama.cpp server, Ollama, vLLM) handled here:

    - a streamed tool call whose arguments are not valid JSON (llama.cpp's server breaks them
      in ``auto`` mode) is asked again without streaming, announced as a failed attempt with
      the code ``malformed_tool_call``; that endpoint then gets tool calls unstreamed for the
      life of this model;
    - with ``context_length`` known, a prompt whose estimate (four characters a token) is over
      the window is refused before sending, and an empty answer (a 200 stream with no output)
      to a prompt near the window is read as ``PromptTooLongError``, not as a cut stream;
    - a 200 stream with not one chunk otherwise (llama-cpp-python's server sends that for a
      prompt over its window) is asked again unstreamed within the same attempt, which gets
      the server's real error (``prompt_too_long`` for a context-length 400) or its answer.
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
        context_length: int | None = None,
    ) -> None:
        super().__init__(targets, name=name, backend=backend, settings=settings, stream=stream)
        self._converter = MessageConverter(send_reasoning=send_reasoning)
        self._context_length = context_length
        self._unstreamed_tools: set[str] = set()
        """Endpoints whose streamed tool calls came back malformed."""

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamItem, None]:
        """Stream deltas for ``request`` (see ``SDKModel.stream``), asking again unstreamed
        when a streamed tool call is malformed."""
        attempt = 1
        async for item in super().stream(request):
            if isinstance(item, AttemptStarted):
                attempt = item.attempt
            if isinstance(item, ModelResponse) and self._retry_unstreamed(item):
                endpoint = item.endpoint or ""
                self._unstreamed_tools.add(endpoint)
                error = ModelError(
                    f"endpoint {endpoint!r} streamed a tool call whose arguments are not valid "
                    "JSON; asking again without streaming",
                    code="malformed_tool_call",
                    retryable=True,
                    details={"endpoint": endpoint},
                )
                yield AttemptFailed(attempt, error, endpoint)
                yield AttemptStarted(attempt + 1, endpoint)
                async for again in super().stream(request):
                    if isinstance(again, AttemptStarted | AttemptFailed):
                        again = dataclasses.replace(again, attempt=again.attempt + attempt)
                    yield again
                return
            yield item

    async def _ask_unstreamed(self, client: AsyncOpenAI, params: dict[str, Any]) -> Any:
        """``params`` sent again without streaming, after an empty stream. The server closes
        the failed stream's connection, and a request that went out on it before the close
        was seen fails to connect: one more goes out on a new connection."""
        unstreamed = {k: v for k, v in params.items() if k not in _STREAM_ONLY}
        try:
            return await client.chat.completions.create(**unstreamed)
        except self._sdk().APIConnectionError:
            return await client.chat.completions.create(**unstreamed)

    def _retry_unstreamed(self, response: ModelResponse) -> bool:
        if not response.tool_calls or response.endpoint in self._unstreamed_tools:
            return False
        return self._stream and any(not _json_object(c.arguments) for c in response.tool_calls)

    def _check_fits(self, params: dict[str, Any]) -> None:
        window = self._context_length
        if window is None:
            return
        estimate = _estimate(params)
        if estimate > window:
            raise PromptTooLongError(
                f"the prompt (about {estimate:,} tokens) cannot fit the context window of model "
                f"{self.name!r} ({window:,} tokens); it was not sent",
                details={"estimated_tokens": estimate, "context_length": window},
            )

    def _empty_answer(self, target: EndpointTarget, params: dict[str, Any]) -> ModelError | None:
        """An empty 200 answer to a prompt filling most of the window: it did not fit."""
        window = self._context_length
        if window is None:
            return None
        estimate = _estimate(params)
        if estimate < window * _NEAR_WINDOW:
            return None
        return PromptTooLongError(
            f"endpoint {target.endpoint_id!r} sent an empty answer to a prompt of about "
            f"{estimate:,} tokens, near the context window ({window:,}): read as prompt too long",
            details={"endpoint": target.endpoint_id, "estimated_tokens": estimate},
        )

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
        unstreamed = bool(request.tools) and target.endpoint_id in self._unstreamed_tools
        params = request_params(
            target.model_id,
            prepared,
            request.tools,
            settings,
            stream=self._stream and not unstreamed,
            official=is_official_openai(target.api_base),
        )
        self._check_fits(params)
        return params

    async def _call(
        self, client: AsyncOpenAI, target: EndpointTarget, params: dict[str, Any]
    ) -> AsyncGenerator[ModelStreamItem, None]:
        if not params.get("stream"):
            completion = await client.chat.completions.create(**params)
            for item in completion_items(completion, target.model_id, target.endpoint_id):
                yield item
            return
        accumulator = StreamAccumulator(target.model_id, target.endpoint_id)
        emitted = False
        chunks = 0
        stream = await client.chat.completions.create(**params)
        async with stream:
            async for chunk in stream:
                chunks += 1
                for delta in accumulator.feed(chunk):
                    emitted = True
                    yield delta
        if accumulator.finish_reason is None:
            too_long = None if emitted else self._empty_answer(target, params)
            if too_long is None and chunks == 0:
                # Not one chunk: a server that failed the request after sending its 200
                # (llama-cpp-python's on a prompt over its window, whatever the window known
                # here). Asked unstreamed, it answers with its real error or a real answer.
                completion = await self._ask_unstreamed(client, params)
                for item in completion_items(completion, target.model_id, target.endpoint_id):
                    yield item
                return
            raise too_long or _retry.incomplete_error(target, emitted=emitted)
        yield accumulator.response()


_STREAM_ONLY = frozenset({"stream", "stream_options"})
"""Request parameters of a streamed call only."""

_NEAR_WINDOW = 0.8
"""An empty answer to a prompt of at least this share of the window is read as too long."""


def _estimate(params: dict[str, Any]) -> int:
    """Tokens of a request's messages and tools at four characters a token: cheap, and close
    enough to a local server's own count for a window check."""
    chars = len(json.dumps(params["messages"], ensure_ascii=False, default=str))
    chars += len(json.dumps(params.get("tools") or [], ensure_ascii=False))
    return chars // 4


def _json_object(arguments: str) -> bool:
    """Whether tool-call arguments are a JSON object (empty text counts: no arguments)."""
    if not arguments.strip():
        return True
    try:
        return isinstance(json.loads(arguments), dict)
    except ValueError:
        return False
