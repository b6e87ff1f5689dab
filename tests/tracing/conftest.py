"""Shared pieces of the tracing tests: a recording processor and a scripted run with usage."""

from __future__ import annotations

import pytest

from agentcycle import function_tool
from agentcycle.messages import TokenUsage
from agentcycle.testing import call_tool, reply
from agentcycle.tracing import Span

USAGE = TokenUsage.of(120, 30, cached_tokens=100)


class Recorder:
    """A trace processor that keeps what it was given, in order."""

    def __init__(self) -> None:
        self.started: list[Span] = []
        self.ended: list[Span] = []
        self.calls: list[tuple[str, str]] = []

    def on_span_start(self, span: Span) -> None:
        self.started.append(span)
        self.calls.append(("start", span.span_id))

    def on_span_end(self, span: Span) -> None:
        self.ended.append(span)
        self.calls.append(("end", span.span_id))


@function_tool
def lookup(city: str) -> str:
    """Look up the weather of a city."""
    return f"sunny in {city}"


def tool_script() -> list:
    """Cycle 1: one tool; cycle 2: a tool and an unknown tool; cycle 3: text; cycle 4: finish."""
    return [
        call_tool("lookup", {"city": "Paris"}, text="checking", usage=USAGE),
        call_tool([("lookup", {"city": "Oslo"}), ("nope", {})], usage=USAGE),
        reply("thinking aloud", usage=USAGE),
        call_tool("task_finish", {"message": "done"}, usage=USAGE),
    ]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
