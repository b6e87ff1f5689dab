"""Terminal renderings of the event stream."""

from __future__ import annotations

import json
from typing import Any, Protocol, TextIO

from agentcycle.cli._previews import PREVIEW_CHARS, shorten
from agentcycle.cli._terminal import Terminal
from agentcycle.events import (
    AssistantDelta,
    Diagnostic,
    HandoffCompleted,
    MCPServerFailed,
    ModelCallFailed,
    ModelCallStarted,
    RunEvent,
    RunStatus,
    SubRunCompleted,
    SubRunStarted,
    ToolCallCompleted,
    ToolCallPlanned,
)
from agentcycle.handoffs import TRANSFER_PREFIX

_ARG_PREVIEW = 80
_INDENT = "  "


class Renderer(Protocol):
    """Shows events as they arrive."""

    def render(self, event: RunEvent) -> None:
        """Show one event."""
        ...

    def close(self) -> None:
        """The run is over: leave the terminal tidy."""
        ...


class HumanRenderer:
    """Assistant text as it streams, one line per tool call (with the short preview of its
    result that ``tool_call_completed`` carries) and per handoff, retries and tool errors; a
    spinner while the model thinks. Events of child runs (agents called as tools) are indented
    one step per level and prefixed with the agent's name, ``[researcher]``; a handoff's
    transfer call shows as one ``-> handed off to billing`` line. A tool's line is drawn when
    the call is planned, so an approval prompt about it comes after it."""

    def __init__(
        self,
        terminal: Terminal | TextIO,
        *,
        quiet: bool = False,
    ) -> None:
        self._term = terminal if isinstance(terminal, Terminal) else Terminal(terminal)
        self._quiet = quiet
        self._text_run: str | None = None
        """The run whose text the current line holds."""
        self._depth: dict[str, int] = {}
        """How deep each child run seen so far is nested (the run itself is 0)."""
        self._notes: dict[str, str] = {}
        """The note of each transfer call, until its handoff completes."""
        self._open: dict[str, str] = {}
        """Calls drawn but not yet completed, with the path they name (if any)."""
        self._batched: set[str] = set()
        """Open calls drawn together with another: their previews name their path."""

    def render(self, event: RunEvent) -> None:
        """Write the parts of ``event`` a person wants to see."""
        if isinstance(event, ToolCallPlanned):
            self._planned(event)
            self._term.mark_shown(event.tool_call_id)  # even when quiet: approvals wait for it
            return
        if self._quiet:
            return
        if isinstance(event, AssistantDelta):
            self._text(event)
        elif isinstance(event, ModelCallStarted) and event.parent_run_id is None:
            self._term.spin("thinking…")
        elif isinstance(event, ToolCallCompleted):
            self._completed(event)
        elif isinstance(event, HandoffCompleted):
            note = self._notes.pop(event.tool_call_id, "")
            # Shown as the source's line: the event already carries the target's name.
            prefix = self._prefix(event, event.source_agent)
            if event.status == "completed":
                self._term.line(f"{prefix}-> handed off to {event.target_agent}{note}", "cyan")
            else:
                self._term.line(f"{prefix}   handoff to {event.target_agent} {event.status}")
        elif isinstance(event, SubRunStarted):
            self._depth[event.child_run_id] = self._depth.get(event.run_id, 0) + 1
        elif isinstance(event, SubRunCompleted) and event.status != RunStatus.COMPLETED:
            error = event.error_code
            code = f" ({error})" if error and error != event.status else ""
            prefix = self._child_prefix(event.child_run_id, event.child_agent_name)
            self._term.line(f"{prefix}ended {event.status}{code}", "yellow")
        elif isinstance(event, Diagnostic) and event.code == "skill_invalid":
            details = event.details
            self._line(event, f"skill skipped: {details['path']}: {details['message']}", "yellow")
        elif isinstance(event, Diagnostic) and event.code == "skill_activated":
            self._line(event, f"skill activated: {event.details['skill']}")
        elif isinstance(event, MCPServerFailed):
            self._line(
                event,
                f"MCP server {event.server} is not running ({event.message}): its tools are "
                "not offered",
                "yellow",
            )
        elif isinstance(event, ModelCallFailed) and event.retryable:
            self._line(
                event,
                f"model call attempt {event.attempt} failed ({event.error_code}); retrying",
                "yellow",
            )

    def close(self) -> None:
        """End the view: no spinner left, the cursor at the start of a line."""
        self._term.stop_spinner()
        self._term.end_line()

    def _planned(self, event: ToolCallPlanned) -> None:
        if event.tool_name.startswith(TRANSFER_PREFIX):
            self._notes[event.tool_call_id] = _note(event.arguments)
        elif not self._quiet:
            self._line(event, f"-> {event.tool_name}({_preview(event.arguments)})", "cyan")
            path = event.arguments.get("path") if isinstance(event.arguments, dict) else None
            self._open[event.tool_call_id] = path if isinstance(path, str) else ""
            if len(self._open) > 1:
                self._batched.update(self._open)

    def _completed(self, event: ToolCallCompleted) -> None:
        several = event.tool_call_id in self._batched
        self._batched.discard(event.tool_call_id)
        path = self._open.pop(event.tool_call_id, "")
        preview = event.result_preview
        if event.error_code:
            self._notes.pop(event.tool_call_id, None)
            # The preview of an error is its message: what went wrong, not only its kind.
            why = f": {shorten(preview, PREVIEW_CHARS)}" if preview else ""
            self._line(event, f"   {event.tool_name} failed: {event.error_code}{why}", "red")
            return
        if preview and not event.tool_name.startswith(TRANSFER_PREFIX):
            # Calls of one batch finish after all were drawn: name which one this is.
            label = f"{path}: " if several and path else ""
            self._line(event, f"   = {label}{shorten(preview, PREVIEW_CHARS)}", "dim")

    def _text(self, event: AssistantDelta) -> None:
        """Stream text; a child's lines carry its prefix, and text of another run than the
        one mid-line starts on a line of its own."""
        term = self._term
        if self._text_run != event.run_id:
            term.end_line()
        self._text_run = event.run_id
        prefix = "" if event.parent_run_id is None else self._prefix(event)
        for piece in event.delta.splitlines(keepends=True):
            if prefix and not term.mid_line:
                term.text(prefix)
            term.text(piece, "bold" if event.parent_run_id is None else None)

    def _line(self, event: RunEvent, text: str, style: str | None = None) -> None:
        """One line about ``event``, under its run."""
        self._term.line(self._prefix(event) + text, style)

    def _prefix(self, event: RunEvent, agent_name: str | None = None) -> str:
        """The run's own events are indented one step; a child's one more per level, with the
        name of the agent in control of it (``agent_name``, else the event's)."""
        if event.parent_run_id is None:
            return _INDENT
        return self._child_prefix(event.run_id, agent_name or event.agent_name)

    def _child_prefix(self, run_id: str, agent_name: str | None) -> str:
        depth = self._depth.get(run_id, 1)
        return f"{_INDENT * (depth + 1)}[{agent_name or 'sub-agent'}] "


class JsonLinesRenderer:
    """Every event as one JSON line (``--events``, on stdout for scripts), child runs' events
    included: they carry ``parent_run_id`` and their ``agent_name``."""

    def __init__(self, stream: TextIO) -> None:
        self._out = stream

    def render(self, event: RunEvent) -> None:
        """Write ``event`` as JSON."""
        self._out.write(json.dumps(event.to_dict(), ensure_ascii=False) + "\n")
        self._out.flush()

    def close(self) -> None:
        """Nothing to tidy: every line is whole."""


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
