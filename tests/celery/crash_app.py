"""The agent factory of the crash suite's runs (workers are ``agentcycle worker``).

A run's metadata says what to do to the first worker that runs it (``crash``: a crash point
``NAME:CYCLE[:group]``, or ``stop`` to freeze the whole worker inside cycle 2's tool); the
marker file ``armed`` in the run's directory makes that happen once per run, whichever worker
gets it first. Only workers (``AGENTCYCLE_CRASH_WORKER`` set) arm anything: the test process
builds the agent too when it submits the run.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from agentcycle import Agent
from agentcycle.messages import ToolResult
from agentcycle.runtime import crashpoints
from agentcycle.tools.base import ToolContext
from tests.durable import scenario

SWEEP_INTERVAL = 0.25


class _Pausing(scenario.AppendKeyed):
    """``append_keyed`` that, in cycle ``at``, freezes its whole worker (SIGSTOP to the
    process group) after its effect, or sleeps ``seconds`` (a cycle longer than a beat)."""

    def __init__(self, path: Path, at: int, *, freeze: bool, seconds: float) -> None:
        super().__init__(path)
        self.at, self.freeze, self.seconds = at, freeze, seconds

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        result = await super().invoke(ctx, arguments)
        if ctx.cycle_index == self.at:
            if self.freeze:
                (self.path.parent / "frozen").write_text(str(os.getpgid(0)))
                os.killpg(os.getpgid(0), signal.SIGSTOP)
            else:
                await asyncio.sleep(self.seconds)
        return result


def agent(metadata: dict[str, Any]) -> Agent:
    """The scenario's agent (``tests/durable/scenario.py``) for the run's directory; arms the
    run's crash on the first segment that builds it."""
    directory = Path(metadata["dir"])
    cycles = int(metadata["cycles"])
    crash = metadata.get("crash")
    first = False
    if crash and os.environ.get("AGENTCYCLE_CRASH_WORKER"):
        try:
            (directory / "armed").open("x").close()
            first = True
        except FileExistsError:
            pass
    crashpoints.arm(crash if first and crash != "stop" else None)
    slow = int(metadata.get("slow_cycle", 0))
    line = (scenario.VerifyingAppendLine if metadata.get("verify") else scenario.AppendLine)(
        directory / "a.txt"
    )
    keyed = _Pausing(
        directory / "b.txt",
        slow or 2,
        freeze=first and crash == "stop",
        seconds=float(metadata.get("slow", 0)) if slow else 0.0,
    )
    return Agent(
        name="durable",
        model=scenario.model(directory, cycles),
        tools=[line, keyed],
        max_cycles=cycles + 2,
    )
