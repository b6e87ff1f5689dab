"""``Span`` data and the ``TraceProcessor`` protocol.

Span ids are the ``event_id`` of the event that opened the span and timestamps are the events'
``created_at``, so spans rebuilt from a replayed store are identical to the live ones.

Attributes (only known values are set; token counts that are unknown stay absent, never 0):
- every span: ``run_id``;
- ``run``: ``agent_name``, ``session_id``, ``resume_attempt`` (a resumed segment), ``status``,
  ``completion_reason``, and the ``usage.*`` totals of the segment's model calls;
- ``cycle``: ``cycle_index`` and the ``usage.*`` totals of its model calls;
- ``model_call``: ``backend``, ``model``, ``endpoint``, ``call_id``, ``operation_id``,
  ``attempt``, ``operation``, ``retryable`` (failed attempts) and ``usage.*``;
- ``tool_call``: ``tool_name``, ``tool_call_id``, ``tool_status``, ``directive``,
  ``execution_started``, ``duration_ms``, ``approval`` (the decision, when one was asked).

``usage.*`` keys: ``usage.input_tokens``, ``usage.output_tokens``, ``usage.total_tokens``,
``usage.reasoning_tokens``, ``usage.cached_tokens``, ``usage.cache_creation_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol, runtime_checkable

SpanKind = Literal["run", "cycle", "model_call", "tool_call"]
SpanStatus = Literal["unset", "ok", "error"]


@dataclass(frozen=True, slots=True)
class Span:
    """One span. ``end_time`` is ``None`` on the copy given to ``on_span_start``."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: SpanKind
    run_id: str
    start_time: float
    end_time: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    status: SpanStatus = "unset"
    error_code: str | None = None
    error_message: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, once ended."""
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field."""
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in fields(Span))


@runtime_checkable
class TraceProcessor(Protocol):
    """Receives spans as a run's events open and close them. Called synchronously on the run's
    event loop: keep both methods cheap (buffer, hand off to a thread). A processor that raises
    is logged and dropped for the rest of the run; it never fails the run."""

    def on_span_start(self, span: Span) -> None:
        """A span opened."""
        ...

    def on_span_end(self, span: Span) -> None:
        """A span closed (``end_time`` and ``status`` set). A run span ends last, after every
        span under it."""
        ...
