"""The shared body of the SDK-backed adapters: identity, per-event-loop clients, the
attempt wrapper that turns SDK and transport exceptions into typed ``ModelError``s.

Both provider SDKs are generated from the same template and name their exceptions alike
(``APIStatusError``, ``APIConnectionError``, ``APITimeoutError``, ``APIResponseValidationError``,
``APIError``), so one mapping serves both.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from types import ModuleType
from typing import Any, Generic, TypeVar

from agentcycle.errors import ConfigurationError, ModelError
from agentcycle.models import _retry
from agentcycle.models._limits import CallLimits, bounded
from agentcycle.models.base import (
    EndpointTarget,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    ModelStreamItem,
    RetrySettings,
)

C = TypeVar("C")

_SDK_TIMEOUT_MARGIN = 5.0

NO_KEY = "not-needed"
"""Sent when an endpoint has no key (local servers). An explicit value also keeps the SDKs from
reading OPENAI_API_KEY / ANTHROPIC_API_KEY and sending it to whatever server is configured."""

# Error ``type``s seen in error events inside a stream, mapped to the HTTP status they stand for.
_STREAM_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "overloaded_error": 529,
}


def stream_error(target: EndpointTarget, body: object, *, emitted: bool) -> ModelError:
    """The typed error for an error event sent inside a stream (HTTP status 200)."""
    message, code, error_type = _retry.error_fields(body)
    if emitted:
        return _retry.interrupted_error(target, _retry.redact(message, target.api_key))
    status = _STREAM_ERROR_STATUS.get(error_type or "", 500)
    if _retry.is_context_length_error(code, error_type, message):
        status = 400
    return _retry.status_error(target, status, body)


def sdk_failure(
    sdk: ModuleType, exc: Exception, target: EndpointTarget, *, emitted: bool
) -> ModelError | None:
    """The typed error for an exception raised by a provider SDK (or its HTTP transport), or
    ``None`` when ``exc`` is not a call failure (a bug to let through)."""
    import httpx2

    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, sdk.APIStatusError):
        if exc.status_code < 400:
            return stream_error(target, exc.body, emitted=emitted)
        error = _retry.status_error(
            target,
            exc.status_code,
            exc.body,
            headers=exc.response.headers,
            request_id=getattr(exc, "request_id", None),
        )
        return _retry.interrupted_error(target, error.message) if emitted else error
    if isinstance(exc, sdk.APIConnectionError | httpx2.TransportError):
        timeout = isinstance(exc, sdk.APITimeoutError | httpx2.TimeoutException)
        return _retry.transport_error(target, timeout=timeout, emitted=emitted)
    if isinstance(exc, sdk.APIResponseValidationError | json.JSONDecodeError):
        return _retry.invalid_response_error(target, emitted=emitted)
    if isinstance(exc, sdk.APIError):
        return stream_error(target, exc.body, emitted=emitted)
    return None


class SDKModel(Generic[C]):
    """Base of the adapters: subclasses say how to build a client and run one attempt."""

    def __init__(
        self,
        targets: Sequence[EndpointTarget],
        *,
        name: str,
        backend: str | None = None,
        settings: ModelSettings | None = None,
        stream: bool = True,
    ) -> None:
        if not targets:
            raise ConfigurationError(f"model {name!r} has no endpoint to call")
        self._targets = tuple(targets)
        self._name = name
        self._backend = backend
        self._settings = settings or ModelSettings()
        self._stream = stream
        # httpx connection pools belong to one event loop: one client per target per loop, so a
        # model reused across ``asyncio.run`` calls never touches a dead loop's sockets.
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, C]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def name(self) -> str:
        """The model's name as reported in events."""
        return self._name

    @property
    def backend(self) -> str | None:
        """The settings backend this model was resolved from, if any."""
        return self._backend

    @property
    def targets(self) -> tuple[EndpointTarget, ...]:
        """The endpoints this model is called at, in failover order."""
        return self._targets

    @property
    def settings(self) -> ModelSettings:
        """This model's default settings (each request's settings are merged on top)."""
        return self._settings

    def __repr__(self) -> str:
        endpoints = [target.endpoint_id for target in self._targets]
        return (
            f"{type(self).__name__}(name={self._name!r}, backend={self._backend!r}, "
            f"endpoints={endpoints!r})"
        )

    async def aclose(self) -> None:
        """Close the HTTP clients this model opened on the running event loop."""
        clients = self._clients.pop(asyncio.get_running_loop(), {})
        for client in clients.values():
            await self._close_client(client)

    def _client(self, index: int, target: EndpointTarget) -> C:
        loop = asyncio.get_running_loop()
        clients = self._clients.get(loop)
        if clients is None:
            clients = self._clients[loop] = {}
        client = clients.get(index)
        if client is None:
            client = clients[index] = self._new_client(target)
        return client

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelStreamItem, None]:
        """Stream deltas for ``request``; the last item is the ``ModelResponse``.

        Retryable failures (connection errors, timeouts, 408, 409, 429, 5xx) are retried with
        backoff, then the next target is tried; each extra attempt is announced with
        ``AttemptFailed`` and ``AttemptStarted``. Raises ``ModelError`` (``PromptTooLongError``
        for context-length errors) when the call fails for good; an error after output was
        streamed has ``outcome="ambiguous"`` and is never retried here. Every attempt is
        bounded by an idle timeout, a deadline and an output cap (``models._limits``).
        """
        settings = self._settings.merge(request.settings)
        retry = settings.retry or RetrySettings()
        prepared = self._prepare(request)

        limits = CallLimits.of(settings, streamed=self._stream)

        def attempt(index: int, target: EndpointTarget) -> AsyncGenerator[ModelStreamItem, None]:
            params = self._params(target, prepared, request, settings)
            # The SDK's own per-read timeout only backs up ``bounded``, which owns the timing
            # (and types the error); it must never fire first.
            params["timeout"] = limits.total + _SDK_TIMEOUT_MARGIN
            return self._attempt(index, target, params, limits)

        async for item in _retry.stream_with_failover(self._targets, retry, attempt):
            yield item

    async def _attempt(
        self, index: int, target: EndpointTarget, params: dict[str, Any], limits: CallLimits
    ) -> AsyncGenerator[ModelStreamItem, None]:
        sdk = self._sdk()
        client = self._client(index, target)
        emitted = False
        failure: ModelError | None = None
        try:
            async with (
                aclosing(self._call(client, target, params)) as items,
                aclosing(bounded(items, limits, target)) as limited,
            ):
                async for item in limited:
                    if not isinstance(item, ModelResponse):
                        emitted = True
                    yield item
        except Exception as exc:
            failure = sdk_failure(sdk, exc, target, emitted=emitted)
            if failure is None:
                raise
        if failure is not None:
            # Raised outside the ``except`` so the SDK exception (whose text may quote the
            # request) is not even kept as ``__context__``.
            raise failure

    # ------------------------------------------------------------------ provider hooks

    def _sdk(self) -> ModuleType:
        """The provider SDK module (imported lazily)."""
        raise NotImplementedError

    def _new_client(self, target: EndpointTarget) -> C:
        raise NotImplementedError

    async def _close_client(self, client: C) -> None:
        raise NotImplementedError

    def _prepare(self, request: ModelRequest) -> Any:
        """Work shared by every attempt of one request (message conversion)."""
        raise NotImplementedError

    def _params(
        self,
        target: EndpointTarget,
        prepared: Any,
        request: ModelRequest,
        settings: ModelSettings,
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _call(
        self, client: C, target: EndpointTarget, params: dict[str, Any]
    ) -> AsyncGenerator[ModelStreamItem, None]:
        """One attempt: deltas then the ``ModelResponse``; SDK exceptions propagate."""
        raise NotImplementedError
