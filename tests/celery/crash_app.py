"""The Celery app of the crash suite's workers, and the agent factory of its runs.

Workers start with ``celery -A tests.celery.crash_app worker ...`` and take their store and
broker from ``AGENTCYCLE_TEST_STORE`` and ``AGENTCYCLE_BROKER_URL``. A run's metadata says
what to do to the first worker that runs it (``crash``: a crash point ``NAME:CYCLE[:group]``,
or ``stop`` to freeze the whole worker inside cycle 2's tool); the marker file ``armed`` in the
run's directory makes that happen once per run, whichever worker gets it first.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from agentcycle import Agent
from agentcycle.messages import ToolResult
from agentcycle.runtime import crashpoints
from agentcycle.tools.base import ToolContext
from agentcycle.workers import WorkerOptions, celery_app
from tests.durable import scenario

SWEEP_INTERVAL = 0.25

app = celery_app(
    os.environ.get("AGENTCYCLE_TEST_STORE", "redis://127.0.0.1:6379/0"),
    os.environ.get("AGENTCYCLE_BROKER_URL"),
    WorkerOptions(sweep_interval=SWEEP_INTERVAL, max_segment_seconds=10, visibility_timeout=30),
)


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
                time.sleep(self.seconds)  # blocks the loop too: only the heartbeat task waits
        return result


def agent(metadata: dict[str, Any]) -> Agent:
    """The scenario's agent (``tests/durable/scenario.py``) for the run's directory; arms the
    run's crash on the first segment that builds it."""
    directory = Path(metadata["dir"])
    cycles = int(metadata["cycles"])
    crash = metadata.get("crash")
    first = False
    if crash:
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
