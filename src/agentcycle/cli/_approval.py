"""The person at the terminal as an approval provider."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TextIO

from agentcycle.runtime.approvals import ApprovalDecision, ApprovalRequest

Ask = Callable[[str], str]


class TerminalApprovalProvider:
    """Asks on the terminal: allow once, allow for the rest of the run, or deny with a reason.

    ``ask`` reads one answer for a prompt (``input`` by default, run in a thread so the event
    loop keeps streaming other runs' events)."""

    def __init__(self, out: TextIO, ask: Ask = input) -> None:
        self._out = out
        self._ask = ask

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        """Prompt until the answer is one of y / a / n (an empty answer denies)."""
        self._out.write(f"\n  approval needed: {request.message}\n")
        self._out.flush()
        while True:
            answer = (
                (await asyncio.to_thread(self._ask, "  allow? [y]es / [a]lways this run / [n]o: "))
                .strip()
                .lower()
            )
            if answer in ("y", "yes"):
                return ApprovalDecision.allow()
            if answer in ("a", "always"):
                return ApprovalDecision.allow_session()
            if answer in ("", "n", "no"):
                reason = (await asyncio.to_thread(self._ask, "  reason (optional): ")).strip()
                return ApprovalDecision.deny(reason or None)
            self._out.write("  please answer y, a or n\n")
