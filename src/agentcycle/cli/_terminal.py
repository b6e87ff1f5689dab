"""The terminal the CLI writes its progress to, shared by the event view and the approval prompt.

At a terminal it uses ``rich`` (imported only then) for colour and a spinner while the model
thinks; piped or redirected, or with ``NO_COLOR`` set, it writes plain text. Either way it
knows whether the cursor is mid-line, so a line about a tool or a question never lands inside
streamed text, and it records which tool lines are on screen, so an approval prompt can wait
for the line it is about.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any, TextIO

_SHOWN_WAIT = 1.0
"""Seconds an approval prompt waits for its tool line (events are drawn by another task)."""


def wants_colour(stream: TextIO) -> bool:
    """Colour at a terminal, unless ``NO_COLOR`` is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Terminal:
    """Lines, streamed text and a spinner on one stream (``colour``: default from the stream)."""

    def __init__(self, stream: TextIO, *, colour: bool | None = None) -> None:
        self.stream = stream
        self.colour = wants_colour(stream) if colour is None else colour
        self._console: Any = None
        self._spinner: Any = None
        self._mid_line = False
        self._shown: dict[str, asyncio.Event] = {}

    @property
    def mid_line(self) -> bool:
        """Whether the cursor is after text on the current line."""
        return self._mid_line

    # ------------------------------------------------------------------ writing

    def text(self, text: str, style: str | None = None) -> None:
        """Write streamed text as is (it may end mid-line)."""
        if not text:
            return
        self.stop_spinner()
        self._write(text, style)
        self._mid_line = not text.endswith("\n")

    def line(self, text: str, style: str | None = None) -> None:
        """Write ``text`` as a line of its own (ending the current line first)."""
        self.stop_spinner()
        self.end_line()
        self._write(text + "\n", style)

    def end_line(self) -> None:
        """Move to the start of a line if the cursor is mid-line."""
        if self._mid_line:
            self._write("\n", None)
            self._mid_line = False

    def end_line_after_input(self) -> None:
        """The person pressed Enter after a prompt: the cursor is at a line start again."""
        self._mid_line = False

    def _write(self, text: str, style: str | None) -> None:
        if self.colour:
            from rich.text import Text

            self._rich().print(Text(text, style=style or ""), end="")
        else:
            self.stream.write(text)
        self.stream.flush()

    def _rich(self) -> Any:
        if self._console is None:
            from rich.console import Console

            # The colour decision is made here (a TTY, NO_COLOR), so rich is told, not asked.
            self._console = Console(
                file=self.stream, highlight=False, soft_wrap=True, force_terminal=True
            )
        return self._console

    # ------------------------------------------------------------------ spinner

    def spin(self, message: str) -> None:
        """Show a spinner with ``message`` until the next output (colour terminals only)."""
        if not self.colour or self._spinner is not None:
            return
        self.end_line()
        self._spinner = self._rich().status(message, spinner="dots")
        self._spinner.start()

    def stop_spinner(self) -> None:
        """Remove the spinner, if one is showing."""
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    # ------------------------------------------------------------------ tool lines

    def mark_shown(self, tool_call_id: str) -> None:
        """The line of this tool call is on screen."""
        self._shown.setdefault(tool_call_id, asyncio.Event()).set()

    async def wait_shown(self, tool_call_id: str) -> None:
        """Wait (briefly) until the line of this tool call is on screen."""
        shown = self._shown.setdefault(tool_call_id, asyncio.Event())
        # A call no renderer draws (--events): ask anyway after a moment.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(shown.wait(), _SHOWN_WAIT)
