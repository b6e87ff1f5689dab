"""Tracing: spans for run -> cycle -> model call / tool call, derived from the event stream.

``RunConfig(trace_processors=[...])`` turns a run's events into ``Span``s as they are emitted
and hands them to each ``TraceProcessor``. Spans are built from events only, so a trace cannot
disagree with the events (``spans_from_events`` rebuilds the same spans from a stored stream).
Processors: ``JsonlTraceExporter`` (one JSON object per span) and, with the ``otel`` extra,
``agentcycle.tracing.otel.OpenTelemetryTraceProcessor``. Nothing here is imported when tracing
is not enabled.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Span": "agentcycle.tracing.spans",
    "SpanKind": "agentcycle.tracing.spans",
    "SpanStatus": "agentcycle.tracing.spans",
    "TraceProcessor": "agentcycle.tracing.spans",
    "SpanBuilder": "agentcycle.tracing.builder",
    "spans_from_events": "agentcycle.tracing.builder",
    "JsonlTraceExporter": "agentcycle.tracing.jsonl",
}

__all__ = [
    "JsonlTraceExporter",
    "Span",
    "SpanBuilder",
    "SpanKind",
    "SpanStatus",
    "TraceProcessor",
    "spans_from_events",
]

if TYPE_CHECKING:
    from agentcycle.tracing.builder import SpanBuilder, spans_from_events
    from agentcycle.tracing.jsonl import JsonlTraceExporter
    from agentcycle.tracing.spans import Span, SpanKind, SpanStatus, TraceProcessor


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentcycle.tracing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
