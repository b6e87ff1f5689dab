"""``OpenTelemetryTraceProcessor``: agentcycle spans as OpenTelemetry spans (extra ``otel``).

Names and attributes follow the OpenTelemetry GenAI semantic conventions:

- run: ``invoke_agent {agent}``, ``gen_ai.operation.name=invoke_agent``, ``gen_ai.agent.name``,
  ``gen_ai.conversation.id`` (the session), token totals;
- model call: ``chat {model}`` (span kind CLIENT), ``gen_ai.operation.name=chat``,
  ``gen_ai.request.model``, ``gen_ai.provider.name`` (the backend), ``gen_ai.usage.*``;
- tool call: ``execute_tool {tool}``, ``gen_ai.operation.name=execute_tool``,
  ``gen_ai.tool.name``, ``gen_ai.tool.call.id``, ``gen_ai.tool.type=function``;
- cycle: ``cycle {n}`` with ``agentcycle.cycle.index``.

Failures set the span status to ERROR and ``error.type`` to the error code. Every agentcycle
attribute without a convention keeps its name under ``agentcycle.`` (``agentcycle.run_id``,
``agentcycle.attempt`` ...). The OpenTelemetry SDK assigns span and trace ids; the agentcycle
ids are kept as ``agentcycle.trace_id`` and ``agentcycle.span_id``. A top-level run span is a
child of whatever OpenTelemetry span was current when the run started.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind as OtelSpanKind
from opentelemetry.trace import Status, StatusCode

from agentcycle.tracing.spans import Span

_OPERATION = {"run": "invoke_agent", "model_call": "chat", "tool_call": "execute_tool"}

_CONVENTIONS = {
    "agent_name": "gen_ai.agent.name",
    "session_id": "gen_ai.conversation.id",
    "model": "gen_ai.request.model",
    "backend": "gen_ai.provider.name",
    "tool_name": "gen_ai.tool.name",
    "tool_call_id": "gen_ai.tool.call.id",
    "usage.input_tokens": "gen_ai.usage.input_tokens",
    "usage.output_tokens": "gen_ai.usage.output_tokens",
    "usage.cached_tokens": "gen_ai.usage.cache_read.input_tokens",
    "usage.cache_creation_tokens": "gen_ai.usage.cache_creation.input_tokens",
    "usage.reasoning_tokens": "gen_ai.usage.reasoning.output_tokens",
}


def semconv_attributes(span: Span) -> dict[str, Any]:
    """The span's attributes under GenAI semantic-convention names (others under
    ``agentcycle.``), as OpenTelemetry attribute values."""
    attributes: dict[str, Any] = {
        "agentcycle.span.kind": span.kind,
        "agentcycle.trace_id": span.trace_id,
        "agentcycle.span_id": span.span_id,
    }
    operation = _OPERATION.get(span.kind)
    if operation is not None:
        attributes["gen_ai.operation.name"] = operation
    if span.kind == "tool_call":
        attributes["gen_ai.tool.type"] = "function"
    for key, value in span.attributes.items():
        if isinstance(value, bool | int | float | str):
            attributes[_CONVENTIONS.get(key, f"agentcycle.{key}")] = value
    if span.error_code is not None:
        attributes["error.type"] = span.error_code
    return attributes


class OpenTelemetryTraceProcessor:
    """A ``TraceProcessor`` that starts and ends OpenTelemetry spans through ``tracer`` (or a
    tracer from ``tracer_provider``, or from the global provider)."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        *,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._tracer = tracer or trace.get_tracer("agentcycle", tracer_provider=tracer_provider)
        self._open: dict[str, trace.Span] = {}

    def on_span_start(self, span: Span) -> None:
        """Start the OpenTelemetry span under its parent's."""
        parent = self._open.get(span.parent_span_id or "")
        context = trace.set_span_in_context(parent) if parent is not None else None
        self._open[span.span_id] = self._tracer.start_span(
            span.name,
            context=context,
            kind=OtelSpanKind.CLIENT if span.kind == "model_call" else OtelSpanKind.INTERNAL,
            attributes=semconv_attributes(span),
            start_time=_nanoseconds(span.start_time),
        )

    def on_span_end(self, span: Span) -> None:
        """Set the final attributes and status, and end the OpenTelemetry span."""
        otel_span = self._open.pop(span.span_id, None)
        if otel_span is None:
            return
        otel_span.set_attributes(semconv_attributes(span))
        if span.status == "error":
            otel_span.set_status(Status(StatusCode.ERROR, span.error_message or span.error_code))
        elif span.status == "ok":
            otel_span.set_status(Status(StatusCode.OK))
        otel_span.end(end_time=_nanoseconds(span.end_time or span.start_time))


def _nanoseconds(seconds: float) -> int:
    return int(seconds * 1_000_000_000)
