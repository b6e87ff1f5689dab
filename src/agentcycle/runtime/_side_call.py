"""Model calls a run makes outside its cycles (compaction summaries, session memory extraction):
the same ``model_call_*`` events as a cycle's call (``stream_call``, which a cycle's call uses
too), priced the same way, and the usage recorded with the run's (and counted by its budget)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from agentcycle.errors import AgentcycleError, ModelError
from agentcycle.events import ModelCallCompleted, ModelCallFailed, ModelCallStarted, ModelOperation
from agentcycle.messages import Message, TokenUsage
from agentcycle.models.base import (
    AttemptFailed,
    AttemptStarted,
    Model,
    ModelRequest,
    ModelResponse,
    ModelSettings,
)
from agentcycle.pricing import ModelPrice, priced
from agentcycle.runtime._cancellation import stray_cancel
from agentcycle.runtime.event_bus import EventBus, new_id

CallRecorder = Callable[[int, str, int, TokenUsage, ModelOperation], None]
"""Records a metered model call: ``(cycle_index, operation_id, attempts, usage, operation)``."""


def side_settings(settings: ModelSettings, max_tokens: int) -> ModelSettings:
    """The run's model settings for a call that offers no tools and answers in free text."""
    return settings.model_copy(
        update={
            "max_tokens": max_tokens,
            "tool_choice": None,
            "parallel_tool_calls": None,
            "response_format": None,
        }
    )


async def side_call(
    model: Model,
    messages: Sequence[Message],
    settings: ModelSettings,
    *,
    operation: ModelOperation,
    index: int,
    bus: EventBus,
    record: CallRecorder,
    price: ModelPrice | None,
) -> str:
    """One metered call of ``model`` (its usage priced with ``price``, when known); returns
    the answer text. Raises ``ModelError`` when the call fails or answers with no text (after
    emitting ``model_call_failed``)."""
    request = ModelRequest(
        messages=messages, settings=settings, cycle_index=index, operation=operation
    )
    response, usage, operation_id, attempts = await stream_call(
        model, request, operation=operation, index=index, bus=bus, price=price, require_text=True
    )
    record(index, operation_id, attempts, usage, operation)
    return response.text


async def stream_call(
    model: Model,
    request: ModelRequest,
    *,
    operation: ModelOperation,
    index: int,
    bus: EventBus,
    price: ModelPrice | None,
    require_text: bool,
    on_delta: Callable[[Any], None] | None = None,
) -> tuple[ModelResponse, TokenUsage, str, int]:
    """Stream one model call (all of its attempts) into ``model_call_*`` events, handing every
    other stream item to ``on_delta``. Returns the response, its usage priced with ``price``,
    the call's operation id and its number of attempts. Raises ``ModelError`` when the call
    fails, ends without a response, or (``require_text``) answers with no text, after
    emitting ``model_call_failed``."""
    ids: dict[str, Any] = {
        "call_id": new_id("mc"),
        "operation_id": new_id("op"),
        "attempt": 1,
        "operation": operation,
        "backend": model.backend,
        "model": model.name,
    }
    # The first attempt's event is built field by field (``publish``): one per cycle.
    bus.publish(
        ModelCallStarted(
            cycle_index=index,
            call_id=ids["call_id"],
            operation_id=ids["operation_id"],
            operation=operation,
            backend=ids["backend"],
            model=ids["model"],
        )
    )
    response: ModelResponse | None = None
    try:
        async for item in model.stream(request):
            if isinstance(item, ModelResponse):
                response = item
            elif isinstance(item, AttemptFailed):
                emit_call_failed(bus, index, ids, item.error, retryable=True)
            elif isinstance(item, AttemptStarted):
                ids.update(attempt=item.attempt, call_id=new_id("mc"))
                bus.emit(ModelCallStarted, cycle_index=index, endpoint=item.endpoint, **ids)
            elif on_delta is not None:
                on_delta(item)
    except ModelError as exc:
        emit_call_failed(bus, index, ids, exc, retryable=False)
        raise
    except asyncio.CancelledError:
        if not stray_cancel():
            raise
        # The adapter (or a library under it) raised CancelledError while nobody cancelled
        # the run: a failed call like any other, not a run that vanishes.
        error = ModelError(
            "The model adapter raised CancelledError while the run was not being cancelled.",
            code="model_call_cancelled",
        )
        emit_call_failed(bus, index, ids, error, retryable=False)
        raise error from None
    if response is None or (require_text and not response.text.strip()):
        message = (
            f"The {operation} call returned no text."
            if require_text
            else "The model stream ended without a response."
        )
        error = ModelError(message, code="empty_response")
        emit_call_failed(bus, index, ids, error, retryable=False)
        raise error
    usage = priced(response.usage, price)
    bus.publish(
        ModelCallCompleted(
            cycle_index=index,
            usage=usage,
            call_id=ids["call_id"],
            operation_id=ids["operation_id"],
            attempt=ids["attempt"],
            operation=operation,
            backend=ids["backend"],
            model=ids["model"],
        )
    )
    return response, usage, ids["operation_id"], ids["attempt"]


def emit_call_failed(
    bus: EventBus, index: int, ids: dict[str, Any], exc: Exception, *, retryable: bool
) -> None:
    """Emit ``model_call_failed`` for the call ``ids`` names, from the error that ended it."""
    code = exc.code if isinstance(exc, AgentcycleError) else "model_error"
    outcome = exc.outcome if isinstance(exc, ModelError) else "definitive"
    bus.emit(
        ModelCallFailed,
        cycle_index=index,
        error_code=code,
        error=str(exc),
        retryable=retryable,
        outcome=outcome,
        **ids,
    )
