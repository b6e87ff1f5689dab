"""Retry, backoff, failover and error classification shared by the HTTP model adapters.

The provider SDKs' own retries are disabled: this module decides what is retried, how long to
wait, and when to move to the model's next endpoint, so every adapter behaves the same and the
loop sees one ``AttemptFailed`` / ``AttemptStarted`` pair per extra attempt.

Adapters turn SDK exceptions into ``ModelError`` with the helpers here (``status_error``,
``transport_error``, ``interrupted_error``) and hand a per-target attempt generator to
``stream_with_failover``.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agentcycle.errors import ModelError, PromptTooLongError
from agentcycle.models.base import (
    AttemptFailed,
    AttemptStarted,
    EndpointTarget,
    ModelStreamItem,
    RetrySettings,
)

logger = logging.getLogger("agentcycle.models")

_MAX_MESSAGE_CHARS = 500

# Status codes worth retrying: the same request may well succeed a moment later.
_RETRYABLE_STATUS = frozenset({408, 409, 429})

_STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "authentication_failed",
    402: "payment_required",
    403: "permission_denied",
    404: "model_not_found_at_endpoint",
    408: "timeout",
    409: "conflict",
    413: "request_too_large",
    422: "bad_request",
    429: "rate_limited",
}

# Phrasings of "the prompt does not fit the context window" across OpenAI-compatible servers
# (OpenAI, Azure, vLLM, DeepSeek, Moonshot, Qwen/DashScope, OpenRouter, Mistral, Groq, llama.cpp,
# TGI, Gemini's compatibility layer) and Anthropic.
_CONTEXT_LENGTH_RE = re.compile(
    "|".join(
        [
            r"context[_ ]length[_ ]exceeded",
            r"maximum context length",
            r"max(?:imum)? model length",
            r"context (?:length|window|size) (?:of|is|has been)? ?exceeded",
            r"exceeds? (?:the )?(?:available |maximum |model(?:'s)? )?(?:context|token limit)",
            r"exceeded (?:the )?(?:model(?:'s)? )?token limit",
            r"prompt is too long",
            r"prompt too long",
            r"(?:input|prompt|messages?) (?:is |are )?too long",
            r"too long to fit into the model",
            r"too many (?:input |prompt )?tokens",
            r"range of input length should be",
            r"input token count .{0,40}exceeds",
            r"tokens \+ `?max_new_tokens`? must be",
            r"reduce the length of the messages",
            r"exceed_context_size",
        ]
    ),
    re.IGNORECASE,
)


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` (an API key) replaced by ``[redacted]``."""
    if secret and secret in text:
        return text.replace(secret, "[redacted]")
    return text


def is_context_length_error(code: str | None, error_type: str | None, message: str) -> bool:
    """Whether a 4xx error says the prompt is longer than the model's context window."""
    for label in (code, error_type):
        if label and _CONTEXT_LENGTH_RE.search(label):
            return True
    return bool(_CONTEXT_LENGTH_RE.search(message))


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP
    date); ``None`` when absent or unreadable."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def backoff_delay(
    retry: RetrySettings,
    retry_number: int,
    retry_after: float | None = None,
    *,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to sleep before retry number ``retry_number`` (1 for the first retry).

    A server's ``Retry-After`` wins over the computed backoff; both are capped by
    ``retry.max_delay`` so a hostile header cannot park the run for an hour.
    """
    if retry_after is not None:
        return min(max(0.0, retry_after), retry.max_delay)
    base = retry.initial_delay * retry.multiplier ** max(0, retry_number - 1)
    factor = 1.0 + retry.jitter * (2.0 * rng() - 1.0)
    return min(max(0.0, base * factor), retry.max_delay)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE_CHARS:
        return text[:_MAX_MESSAGE_CHARS] + "..."
    return text


def error_fields(body: object) -> tuple[str, str | None, str | None]:
    """``(message, code, type)`` out of a provider error body in the usual shapes:
    ``{"error": {"message", "code", "type"}}``, the inner object itself, or raw text."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            message = inner.get("message") or inner.get("msg") or inner.get("detail") or ""
            code = inner.get("code")
            error_type = inner.get("type")
            return (
                str(message),
                None if code is None else str(code),
                None if error_type is None else str(error_type),
            )
        if isinstance(inner, str):
            return inner, None, None
        return str(body), None, None
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace"), None, None
    return ("" if body is None else str(body)), None, None


def status_error(
    target: EndpointTarget,
    status: int,
    body: object,
    *,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> ModelError:
    """The typed error for an HTTP error response from ``target``."""
    message, provider_code, provider_type = error_fields(body)
    message = redact(_clip(message), target.api_key)
    details: dict[str, Any] = {
        "endpoint": target.endpoint_id,
        "status_code": status,
        "provider_code": redact(provider_code, target.api_key) if provider_code else None,
        "provider_type": provider_type,
        "request_id": request_id,
    }
    retry_after = parse_retry_after(headers)
    text = f"endpoint {target.endpoint_id!r} returned HTTP {status}"
    if message:
        text = f"{text}: {message}"
    if status in (400, 413, 422) and is_context_length_error(provider_code, provider_type, message):
        return PromptTooLongError(text, status_code=status, details=details)
    if status >= 500:
        return ModelError(
            text,
            code="server_error",
            retryable=True,
            status_code=status,
            retry_after=retry_after,
            details=details,
        )
    return ModelError(
        text,
        code=_STATUS_CODES.get(status, "client_error"),
        retryable=status in _RETRYABLE_STATUS,
        status_code=status,
        retry_after=retry_after,
        details=details,
    )


def transport_error(target: EndpointTarget, *, timeout: bool, emitted: bool) -> ModelError:
    """The typed error for a connection failure or timeout talking to ``target``.

    ``emitted`` says whether output was already streamed from this attempt: then the provider
    did act, the caller saw partial output, and the error is ``ambiguous`` (never retried here).
    """
    if emitted:
        return interrupted_error(target, "the connection failed mid-answer")
    what = "timed out" if timeout else "could not be reached"
    return ModelError(
        f"endpoint {target.endpoint_id!r}{_address(target)} {what}",
        code="timeout" if timeout else "connection_error",
        retryable=True,
        details={"endpoint": target.endpoint_id},
    )


def _address(target: EndpointTarget) -> str:
    """`` at http://host:port/v1``: where the endpoint is, which its id alone does not say
    (``openai:qwen@http://127.0.0.1:8080/v1`` is the endpoint ``openai``); any user name and
    password in the URL are left out."""
    if not target.api_base:
        return ""
    parts = urlsplit(target.api_base)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.hostname is None:
        return ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port is None else f"{host}:{port}"
    return f" at {urlunsplit((parts.scheme, netloc, parts.path, '', ''))}"


def interrupted_error(target: EndpointTarget, reason: str) -> ModelError:
    """A stream that ended early after output was already streamed: ``outcome="ambiguous"``."""
    return ModelError(
        f"endpoint {target.endpoint_id!r} stream was cut mid-answer: {reason}",
        code="stream_interrupted",
        retryable=True,
        outcome="ambiguous",
        details={"endpoint": target.endpoint_id},
    )


def incomplete_error(target: EndpointTarget, *, emitted: bool) -> ModelError:
    """A stream that ended without a finish reason."""
    if emitted:
        return interrupted_error(target, "the stream ended without a finish reason")
    return ModelError(
        f"endpoint {target.endpoint_id!r} ended the stream before answering",
        code="stream_interrupted",
        retryable=True,
        details={"endpoint": target.endpoint_id},
    )


def invalid_response_error(target: EndpointTarget, *, emitted: bool) -> ModelError:
    """A response the adapter cannot read (malformed JSON, wrong shape)."""
    return ModelError(
        f"endpoint {target.endpoint_id!r} sent a response that could not be parsed",
        code="invalid_response",
        outcome="ambiguous" if emitted else "definitive",
        details={"endpoint": target.endpoint_id},
    )


AttemptFn = Callable[[int, EndpointTarget], AsyncGenerator[ModelStreamItem, None]]


async def stream_with_failover(
    targets: Sequence[EndpointTarget],
    retry: RetrySettings,
    attempt: AttemptFn,
) -> AsyncGenerator[ModelStreamItem, None]:
    """Run ``attempt(target_index, target)`` with retries per target, then failover.

    ``attempt`` must raise only ``ModelError`` for call failures. Retryable, definitive errors are
    retried with backoff up to ``retry.max_attempts`` times per target, then the next target is
    tried at once. Non-retryable or ambiguous errors, and the last error overall, propagate.
    Before every extra attempt this yields ``AttemptFailed`` for the previous one and
    ``AttemptStarted`` for the next, so the first attempt's start is the caller's to announce.
    """
    attempt_number = 0
    per_target = max(1, retry.max_attempts)
    for index, target in enumerate(targets):
        last_target = index == len(targets) - 1
        for try_number in range(1, per_target + 1):
            attempt_number += 1
            if attempt_number > 1:
                yield AttemptStarted(attempt_number, target.endpoint_id)
            emitted = False
            try:
                async with aclosing(attempt(index, target)) as items:
                    async for item in items:
                        emitted = True
                        yield item
                return
            except ModelError as error:
                # Once output reached the caller a silent retry would duplicate it.
                if not error.retryable or error.outcome == "ambiguous" or emitted:
                    raise
                last_try = try_number == per_target
                if last_try and last_target:
                    raise
                logger.debug(
                    "model attempt %d on endpoint %r failed with %s; %s",
                    attempt_number,
                    target.endpoint_id,
                    error.code,
                    "failing over" if last_try else "retrying",
                )
                yield AttemptFailed(attempt_number, error, target.endpoint_id)
                if last_try:
                    break
                await asyncio.sleep(backoff_delay(retry, try_number, error.retry_after))
