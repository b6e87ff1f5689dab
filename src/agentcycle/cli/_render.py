"""Terminal renderings of the event stream."""

from __future__ import annotations

import json
from typing import Any, Protocol, TextIO

from agentcycle.events import (
    AssistantDelta,
    Diagnostic,
    ModelCallFailed,
    RunEvent,
    ToolCallCompleted,
    ToolCallStarted,
)

_ARG_PREVIEW = 80


class Renderer(Protocol):
    """Shows events as they arrive."""

    def render(self, event: RunEvent) -> None:
        """Show one event."""
        ...


class HumanRenderer:
    """Assistant text as it streams, one line per tool call, retries and tool errors."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self._out = stream
        self._quiet = quiet
        self._mid_line = False

    def render(self, event: RunEvent) -> None:
        """Write the parts of ``event`` a person wants to see."""
        if self._quiet or event.parent_run_id is not None:
            return
        if isinstance(event, AssistantDelta):
            self._out.write(event.delta)
            self._mid_line = not event.delta.endswith("\n")
        elif isinstance(event, ToolCallStarted):
            self._line(f"  -> {event.tool_name}({_preview(event.arguments)})")
        elif isinstance(event, ToolCallCompleted) and event.error_code:
            self._line(f"     {event.tool_name} failed: {event.error_code}")
        elif isinstance(event, Diagnostic) and event.code == "skill_invalid":
            details = event.details
            self._line(f"  skill skipped: {details['path']}: {details['message']}")
        elif isinstance(event, Diagnostic) and event.code == "skill_activated":
            self._line(f"  skill activated: {event.details['skill']}")
        elif isinstance(event, ModelCallFailed) and event.retryable:
            self._line(
                f"  model call attempt {event.attempt} failed ({event.error_code}); retrying"
            )
        self._out.flush()

    def _line(self, text: str) -> None:
        if self._mid_line:
            self._out.write("\n")
            self._mid_line = False
        self._out.write(text + "\n")


class JsonLinesRenderer:
    """Every event as one JSON line (``--verbose``)."""

    def __init__(self, stream: TextIO) -> None:
        self._out = stream

    def render(self, event: RunEvent) -> None:
        """Write ``event`` as JSON."""
        self._out.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        self._out.flush()


def _preview(arguments: Any) -> str:
    text = (
        json.dumps(arguments, ensure_ascii=False) if not isinstance(arguments, str) else arguments
    )
    if len(text) > _ARG_PREVIEW:
        text = text[: _ARG_PREVIEW - 1] + "…"
    return text
