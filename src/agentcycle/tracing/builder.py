"""``SpanBuilder``: turns a run's event stream into spans (run -> cycle -> model/tool calls).

Rules, all driven by events:
- ``run_started`` opens a run span (a resumed run opens a new one per segment; a child run's
  span sits under the tool call that started it, named by ``sub_run_started``, even when that
  call has ended (a background sub-task started later), or under its parent run); the
  terminal event closes everything still open in that run, then the run span.
- ``cycle_started`` closes the previous cycle span and opens the next.
- ``model_call_started`` opens a span per attempt (``call_id``); ``model_call_completed`` /
  ``model_call_failed`` close it with its usage.
- ``tool_call_planned`` opens a tool span (it covers validation, approval and execution);
  ``tool_call_completed`` closes it. Refused calls give spans with ``execution_started`` false.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentcycle.events import (
    ApprovalResolved,
    CheckpointResumed,
    CycleStarted,
    ModelCallCompleted,
    ModelCallFailed,
    ModelCallStarted,
    RunCancelled,
    RunCompleted,
    RunEvent,
    RunFailed,
    RunStarted,
    SubRunStarted,
    ToolCallCompleted,
    ToolCallPlanned,
)
from agentcycle.messages import TokenUsage
from agentcycle.tracing.spans import Span, SpanKind, SpanStatus, TraceProcessor

_log = logging.getLogger(__name__)

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "reasoning_tokens",
    "cached_tokens",
    "cache_creation_tokens",
)


@dataclass(slots=True)
class _Open:
    span: Span
    usage: TokenUsage | None = None


@dataclass(slots=True)
class _RunSpans:
    run: _Open
    cycle: _Open | None = None
    model_calls: dict[str, _Open] = field(default_factory=dict)
    tool_calls: dict[str, _Open] = field(default_factory=dict)
    ended_starters: dict[str, str] = field(default_factory=dict)
    """Ended tool calls that may still start child runs (sub-task tools): call id -> span id."""


_CHILD_STARTERS = frozenset({"create_sub_task", "sub_task_status"})
"""Tools whose child runs may start after the call returned (background sub-tasks)."""


class SpanBuilder:
    """Feed it every event of a run (``on_event``, usable as a bus listener); it calls the
    processors as spans open and close."""

    def __init__(self, processors: Sequence[TraceProcessor]) -> None:
        self._processors = list(processors)
        self._runs: dict[str, _RunSpans] = {}
        self._child_parents: dict[str, str] = {}  # child run id -> parent span id

    def on_event(self, event: RunEvent) -> None:
        """Advance the spans with one event."""
        if isinstance(event, RunStarted):
            self._run_started(event)
            return
        spans = self._runs.get(event.run_id)
        if spans is None:
            return  # a stream picked up mid-run: nothing to hang spans on
        if isinstance(event, CycleStarted):
            self._close_cycle(spans, event.created_at)
            spans.cycle = self._open(
                event,
                "cycle",
                f"cycle {event.cycle_index}",
                _parent(spans),
                {"cycle_index": event.cycle_index},
                usage=TokenUsage(),
            )
        elif isinstance(event, ModelCallStarted):
            attributes = {
                "backend": event.backend,
                "model": event.model,
                "endpoint": event.endpoint,
                "call_id": event.call_id,
                "operation_id": event.operation_id,
                "attempt": event.attempt,
                "operation": event.operation,
            }
            name = f"chat {event.model}" if event.model else "chat"
            spans.model_calls[event.call_id] = self._open(
                event, "model_call", name, _parent(spans), attributes
            )
        elif isinstance(event, ModelCallCompleted | ModelCallFailed):
            self._model_call_ended(spans, event)
        elif isinstance(event, ToolCallPlanned):
            if event.tool_call_id in spans.tool_calls:
                return  # planned again to be skipped (cancellation): one span covers both
            spans.tool_calls[event.tool_call_id] = self._open(
                event,
                "tool_call",
                f"execute_tool {event.tool_name}",
                _parent(spans),
                {"tool_name": event.tool_name, "tool_call_id": event.tool_call_id},
            )
        elif isinstance(event, ApprovalResolved):
            tool = spans.tool_calls.get(event.tool_call_id)
            if tool is not None:
                tool.span.attributes["approval"] = event.action
        elif isinstance(event, ToolCallCompleted):
            self._tool_call_ended(spans, event)
        elif isinstance(event, SubRunStarted):
            starter = event.parent_tool_call_id or ""
            tool = spans.tool_calls.get(starter)
            parent = (
                tool.span.span_id
                if tool is not None
                else spans.ended_starters.get(starter) or _parent(spans)
            )
            self._child_parents[event.child_run_id] = parent
        elif isinstance(event, CheckpointResumed):
            spans.run.span.attributes["resume_attempt"] = event.resume_attempt
        elif isinstance(event, RunCompleted | RunFailed | RunCancelled):
            self._run_ended(spans, event)

    # ------------------------------------------------------------------ runs

    def _run_started(self, event: RunStarted) -> None:
        parent: str | None = None
        if event.parent_run_id is not None:
            parent = self._child_parents.pop(event.run_id, None)
            if parent is None and event.parent_run_id in self._runs:
                parent = self._runs[event.parent_run_id].run.span.span_id
        attributes = {"agent_name": event.agent_name, "session_id": event.session_id}
        name = f"invoke_agent {event.agent_name}" if event.agent_name else "invoke_agent"
        run = self._open(event, "run", name, parent, attributes, usage=TokenUsage())
        self._runs[event.run_id] = _RunSpans(run=run)

    def _run_ended(self, spans: _RunSpans, event: RunCompleted | RunFailed | RunCancelled) -> None:
        ended = event.created_at
        reason = "run cancelled" if isinstance(event, RunCancelled) else "run ended"
        for open_call in [*spans.model_calls.values(), *spans.tool_calls.values()]:
            self._close(open_call, ended, "error", "cancelled", reason)
        spans.model_calls.clear()
        spans.tool_calls.clear()
        self._close_cycle(spans, ended)
        run = spans.run.span
        if isinstance(event, RunCompleted):
            run.attributes.update(
                status=event.status.value, completion_reason=event.completion_reason.value
            )
            self._close(spans.run, ended, "ok")
        elif isinstance(event, RunFailed):
            run.attributes.update(
                status=event.status.value, completion_reason=event.completion_reason.value
            )
            self._close(spans.run, ended, "error", event.error_code, event.error)
        else:
            run.attributes["status"] = "cancelled"
            self._close(spans.run, ended, "error", "cancelled", event.reason)
        del self._runs[event.run_id]

    def _close_cycle(self, spans: _RunSpans, ended: float) -> None:
        if spans.cycle is not None:
            self._close(spans.cycle, ended, "ok")
            spans.cycle = None

    # ------------------------------------------------------------------ calls

    def _model_call_ended(
        self, spans: _RunSpans, event: ModelCallCompleted | ModelCallFailed
    ) -> None:
        call = spans.model_calls.pop(event.call_id, None)
        if call is None:
            return
        call.span.attributes.update(_usage_attributes(event.usage))
        for total in (spans.cycle, spans.run):
            if total is not None and total.usage is not None:
                total.usage = total.usage + event.usage
        if isinstance(event, ModelCallCompleted):
            self._close(call, event.created_at, "ok")
        else:
            call.span.attributes["retryable"] = event.retryable
            self._close(call, event.created_at, "error", event.error_code, event.error)

    def _tool_call_ended(self, spans: _RunSpans, event: ToolCallCompleted) -> None:
        call = spans.tool_calls.pop(event.tool_call_id, None)
        if call is None:
            return
        if call.span.attributes.get("tool_name") in _CHILD_STARTERS:
            spans.ended_starters[event.tool_call_id] = call.span.span_id
        call.span.attributes.update(
            tool_status=event.status,
            directive=event.directive,
            execution_started=event.execution_started,
            duration_ms=event.duration_ms,
        )
        if event.status == "error":
            self._close(call, event.created_at, "error", event.error_code)
        else:
            self._close(call, event.created_at, "ok")

    # ------------------------------------------------------------------ plumbing

    def _open(
        self,
        event: RunEvent,
        kind: SpanKind,
        name: str,
        parent: str | None,
        attributes: dict[str, Any],
        *,
        usage: TokenUsage | None = None,
    ) -> _Open:
        attributes = {"run_id": event.run_id} | {
            k: v for k, v in attributes.items() if v is not None
        }
        span = Span(
            trace_id=event.trace_id,
            span_id=event.event_id,
            parent_span_id=parent,
            name=name,
            kind=kind,
            run_id=event.run_id,
            start_time=event.created_at,
            attributes=attributes,
        )
        if self._processors:
            self._notify("on_span_start", _copy(span, dict(attributes)))
        return _Open(span, usage)

    def _close(
        self,
        open_span: _Open,
        ended: float,
        status: SpanStatus,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        attributes = open_span.span.attributes
        if open_span.usage is not None:
            attributes.update(_usage_attributes(open_span.usage))
        if self._processors:
            self._notify(
                "on_span_end",
                _copy(open_span.span, attributes, ended, status, error_code, error_message or None),
            )

    def _notify(self, method: str, span: Span) -> None:
        for processor in list(self._processors):
            try:
                getattr(processor, method)(span)
            except Exception:
                # Tracing must never fail a run: drop the processor and say so once.
                _log.exception("trace processor %r failed; dropped for this run", processor)
                self._processors.remove(processor)


def _copy(
    span: Span,
    attributes: dict[str, Any],
    end_time: float | None = None,
    status: SpanStatus = "unset",
    error_code: str | None = None,
    error_message: str | None = None,
) -> Span:
    # Positional construction: dataclasses.replace costs several times more per span.
    return Span(
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        span.name,
        span.kind,
        span.run_id,
        span.start_time,
        end_time,
        attributes,
        status,
        error_code,
        error_message,
    )


def _parent(spans: _RunSpans) -> str:
    return (spans.cycle or spans.run).span.span_id


def _usage_attributes(usage: TokenUsage) -> dict[str, int]:
    return {
        f"usage.{name}": value
        for name in _USAGE_FIELDS
        if (value := getattr(usage, name)) is not None
    }


class _Collector:
    def __init__(self) -> None:
        self.spans: list[Span] = []

    def on_span_start(self, span: Span) -> None:
        """Started spans are not collected; only their ended form is."""

    def on_span_end(self, span: Span) -> None:
        """Keep the ended span."""
        self.spans.append(span)


def spans_from_events(events: Iterable[RunEvent]) -> list[Span]:
    """The ended spans of a stream of events (e.g. a replayed store), in the order they ended."""
    collector = _Collector()
    builder = SpanBuilder([collector])
    for event in events:
        builder.on_event(event)
    return collector.spans
