"""Model calls a run makes outside its cycles (compaction summaries, session memory extraction):
the same ``model_call_*`` events as a cycle's call (``stream_call``, which a cycle's call uses
too), priced the same way, and the usage recorded with the run's (and counted by its budget)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentcycle._builders import builder
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

# Built without the class call's keyword packing (``_builders``): one of each per model call.
_model_call_started = builder(ModelCallStarted)
_model_call_completed = builder(ModelCallCompleted)


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
    call = _Call(new_id("mc"), new_id("op"), 1, operation, model.backend, model.name)
    bus.publish(call.started(index))
    response: ModelResponse | None = None
    try:
        async for item in model.stream(request):
            if isinstance(item, ModelResponse):
                response = item
            elif isinstance(item, AttemptFailed):
                bus.publish(call.failed(index, item.error, retryable=True))
            elif isinstance(item, AttemptStarted):
                call.attempt, call.call_id = item.attempt, new_id("mc")
                bus.publish(call.started(index, item.endpoint))
            elif on_delta is not None:
                on_delta(item)
    except ModelError as exc:
        bus.publish(call.failed(index, exc, retryable=False))
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
        bus.publish(call.failed(index, error, retryable=False))
        raise error from None
    if response is None or (require_text and not response.text.strip()):
        message = (
            f"The {operation} call returned no text."
            if require_text
            else "The model stream ended without a response."
        )
        error = ModelError(message, code="empty_response")
        bus.publish(call.failed(index, error, retryable=False))
        raise error
    usage = response.usage if price is None else priced(response.usage, price)
    bus.publish(
        _model_call_completed(
            cycle_index=index,
            usage=usage,
            call_id=call.call_id,
            operation_id=call.operation_id,
            attempt=call.attempt,
            operation=operation,
            backend=call.backend,
            model=call.model,
        )
    )
    return response, usage, call.operation_id, call.attempt


@dataclass(slots=True)
class _Call:
    """The identity of one model call's current attempt, as its events carry it."""

    call_id: str
    operation_id: str
    attempt: int
    operation: ModelOperation
    backend: str | None
    model: str | None

    def started(self, index: int, endpoint: str | None = None) -> ModelCallStarted:
        """``model_call_started`` for this attempt."""
        return _model_call_started(
            cycle_index=index,
            call_id=self.call_id,
            operation_id=self.operation_id,
            attempt=self.attempt,
            operation=self.operation,
            backend=self.backend,
            model=self.model,
            endpoint=endpoint,
        )

    def failed(self, index: int, exc: Exception, *, retryable: bool) -> ModelCallFailed:
        """``model_call_failed`` for this attempt, from the error that ended it."""
        return ModelCallFailed(
            cycle_index=index,
            call_id=self.call_id,
            operation_id=self.operation_id,
            attempt=self.attempt,
            operation=self.operation,
            backend=self.backend,
            model=self.model,
            error_code=exc.code if isinstance(exc, AgentcycleError) else "model_error",
            error=str(exc),
            retryable=retryable,
            outcome=exc.outcome if isinstance(exc, ModelError) else "definitive",
        )
