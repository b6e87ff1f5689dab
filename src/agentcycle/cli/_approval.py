"""The person at the terminal as an approval provider."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from agentcycle.cli._previews import shorten
from agentcycle.cli._terminal import Terminal
from agentcycle.runtime.approvals import ApprovalDecision, ApprovalRequest

Ask = Callable[[str], str]

_MESSAGE_CHARS = 300
"""The request shown at most: a file's whole content is no question a person can read."""


class TerminalApprovalProvider:
    """Asks on the terminal: allow once, allow for the rest of the run, or deny with a reason.

    The question goes on a line of its own, after the line of the tool call it is about (the
    event view draws that line; the prompt waits briefly for it). ``ask`` shows a prompt and
    reads one answer (by default on the terminal's stream and standard input, in a thread so
    the event loop keeps streaming other runs' events)."""

    def __init__(
        self, terminal: Terminal | TextIO, ask: Ask | None = None, *, after_tool_line: bool = True
    ) -> None:
        self._term = terminal if isinstance(terminal, Terminal) else Terminal(terminal)
        self._ask = ask or self._read
        self._after_tool_line = after_tool_line
        """Whether a view draws tool lines on this terminal (not with --events)."""

    def _read(self, prompt: str) -> str:
        self._term.text(prompt, "bold")
        answer = sys.stdin.readline()
        if not answer:  # end of input: nobody is there to allow anything
            raise EOFError
        self._term.end_line_after_input()
        return answer

    async def _answer(self, prompt: str) -> str:
        """``ask(prompt)`` in a daemon thread: a Ctrl+C while the person has not answered ends
        the process at once (a pool thread blocked in ``readline`` would keep it waiting)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str] = loop.create_future()

        def settle(value: str | None, error: BaseException | None) -> None:
            if answer.done():  # cancelled meanwhile
                return
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(value or "")

        def work() -> None:
            try:
                value, error = self._ask(prompt), None
            except Exception as exc:  # handed to the awaiting side, raised there
                value, error = None, exc
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(settle, value, error)

        threading.Thread(target=work, name="agentcycle-approval", daemon=True).start()
        return await answer

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """Prompt until the answer is one of y / a / n (an empty answer denies)."""
        if self._after_tool_line:
            await self._term.wait_shown(request.tool_call_id)
        message = shorten(request.message, _MESSAGE_CHARS)
        self._term.line(f"  ? approval needed: {message}", "yellow")
        while True:
            answer = (
                (await self._answer("  allow? [y]es / [a]lways this run / [n]o: ")).strip().lower()
            )
            if answer in ("y", "yes"):
                return ApprovalDecision.allow()
            if answer in ("a", "always"):
                return ApprovalDecision.allow_session()
            if answer in ("", "n", "no"):
                reason = (await self._answer("  reason (optional): ")).strip()
                return ApprovalDecision.deny(reason or None)
            self._term.line("  please answer y, a or n")
