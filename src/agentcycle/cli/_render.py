"""Terminal renderings of the event stream."""

from __future__ import annotations

import json
from typing import Any, Protocol, TextIO

from agentcycle.events import (
    AssistantDelta,
    Diagnostic,
    HandoffCompleted,
    ModelCallFailed,
    RunEvent,
    RunStatus,
    SubRunCompleted,
    SubRunStarted,
    ToolCallCompleted,
    ToolCallStarted,
)
from agentcycle.handoffs import TRANSFER_PREFIX

_ARG_PREVIEW = 80
_INDENT = "  "


class Renderer(Protocol):
    """Shows events as they arrive."""

    def render(self, event: RunEvent) -> None:
        """Show one event."""
        ...


class HumanRenderer:
    """Assistant text as it streams, one line per tool call and per handoff, retries and tool
    errors. Events of child runs (agents called as tools) are indented one step per level and
    prefixed with the agent's name, ``[researcher]``; a handoff's transfer call shows as one
    ``-> handed off to billing`` line."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        self._out = stream
        self._quiet = quiet
        self._mid_line = False
        self._text_run: str | None = None
        """The run whose text the current line holds."""
        self._depth: dict[str, int] = {}
        """How deep each child run seen so far is nested (the run itself is 0)."""
        self._notes: dict[str, str] = {}
        """The note of each transfer call, until its handoff completes."""

    def render(self, event: RunEvent) -> None:
        """Write the parts of ``event`` a person wants to see."""
        if self._quiet:
            return
        if isinstance(event, AssistantDelta):
            self._text(event)
        elif isinstance(event, ToolCallStarted):
            if event.tool_name.startswith(TRANSFER_PREFIX):
                self._notes[event.tool_call_id] = _note(event.arguments)
            else:
                self._line(event, f"-> {event.tool_name}({_preview(event.arguments)})")
        elif isinstance(event, ToolCallCompleted) and event.error_code:
            self._notes.pop(event.tool_call_id, None)
            self._line(event, f"   {event.tool_name} failed: {event.error_code}")
        elif isinstance(event, HandoffCompleted):
            note = self._notes.pop(event.tool_call_id, "")
            # Shown as the source's line: the event already carries the target's name.
            prefix = self._prefix(event, event.source_agent)
            if event.status == "completed":
                self._write_line(f"{prefix}-> handed off to {event.target_agent}{note}")
            else:
                self._write_line(f"{prefix}   handoff to {event.target_agent} {event.status}")
        elif isinstance(event, SubRunStarted):
            self._depth[event.child_run_id] = self._depth.get(event.run_id, 0) + 1
        elif isinstance(event, SubRunCompleted) and event.status != RunStatus.COMPLETED:
            error = event.error_code
            code = f" ({error})" if error and error != event.status else ""
            prefix = self._child_prefix(event.child_run_id, event.child_agent_name)
            self._write_line(f"{prefix}ended {event.status}{code}")
        elif isinstance(event, Diagnostic) and event.code == "skill_invalid":
            details = event.details
            self._line(event, f"skill skipped: {details['path']}: {details['message']}")
        elif isinstance(event, Diagnostic) and event.code == "skill_activated":
            self._line(event, f"skill activated: {event.details['skill']}")
        elif isinstance(event, ModelCallFailed) and event.retryable:
            self._line(
                event, f"model call attempt {event.attempt} failed ({event.error_code}); retrying"
            )
        self._out.flush()

    def _text(self, event: AssistantDelta) -> None:
        """Stream text; a child's lines carry its prefix, and text of another run than the
        one mid-line starts on a line of its own."""
        if self._mid_line and self._text_run != event.run_id:
            self._out.write("\n")
            self._mid_line = False
        self._text_run = event.run_id
        prefix = "" if event.parent_run_id is None else self._prefix(event)
        for piece in event.delta.splitlines(keepends=True):
            if prefix and not self._mid_line:
                self._out.write(prefix)
            self._out.write(piece)
            self._mid_line = not piece.endswith("\n")

    def _line(self, event: RunEvent, text: str) -> None:
        """One line about ``event``, under its run."""
        self._write_line(self._prefix(event) + text)

    def _prefix(self, event: RunEvent, agent_name: str | None = None) -> str:
        """The run's own events are indented one step; a child's one more per level, with the
        name of the agent in control of it (``agent_name``, else the event's)."""
        if event.parent_run_id is None:
            return _INDENT
        return self._child_prefix(event.run_id, agent_name or event.agent_name)

    def _child_prefix(self, run_id: str, agent_name: str | None) -> str:
        depth = self._depth.get(run_id, 1)
        return f"{_INDENT * (depth + 1)}[{agent_name or 'sub-agent'}] "

    def _write_line(self, text: str) -> None:
        if self._mid_line:
            self._out.write("\n")
            self._mid_line = False
        self._out.write(text + "\n")


class JsonLinesRenderer:
    """Every event as one JSON line (``--verbose``), child runs' events included: they carry
    ``parent_run_id`` and their ``agent_name``."""

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


def _note(arguments: Any) -> str:
    """A transfer call's note, as the tail of the handoff line."""
    note = arguments.get("input") if isinstance(arguments, dict) else None
    if not isinstance(note, str) or not note.strip():
        return ""
    return f": {_preview(' '.join(note.split()))}"
