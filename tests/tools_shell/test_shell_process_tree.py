"""Descendants that leave the command's process group (``setsid``, ``setpgid``, a double fork
re-parenting them) still end with the command's run or its cancellation."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from shell_helpers import POLL_SECONDS, WAIT_LIMIT_SECONDS, alive, bash, gone

from agentcycle.tools.base import ToolContext

# Each escapee writes its pid only once it has left the group, so the test knows it escaped.
ESCAPE = (
    "setsid sh -c 'echo $$ >> escaped.pid; exec sleep 1001' >/dev/null 2>&1 & "
    "( setsid sh -c 'echo $$ >> escaped.pid; exec sleep 1002' >/dev/null 2>&1 & ) ; "
    f'{sys.executable} -c "import os; os.setpgid(0, 0); '
    "open('escaped.pid', 'a').write(f'{os.getpid()}\\n'); "
    "os.execvp('sleep', ['sleep', '1003'])\" >/dev/null 2>&1 & "
)
ESCAPEES = 3


async def escaped_pids(workspace: Path) -> list[int]:
    """The escapees' pids, once all of them have written theirs (a bounded poll)."""
    path = workspace / "escaped.pid"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_SECONDS
    while loop.time() < deadline:
        lines = path.read_text().split("\n")[:-1] if path.exists() else []
        if len(lines) == ESCAPEES:
            return [int(line) for line in lines]
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError("the escapees did not start")


@pytest.fixture
def reaped() -> Iterator[list[int]]:
    """Pids to kill after the test whatever happened, so a failure leaves nothing behind."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def assert_escaped(pids: list[int]) -> None:
    own_group = os.getpgid(0)
    for pid in pids:
        assert alive(pid)
        assert os.getpgid(pid) == pid != own_group  # a group (and for setsid a session) of its own


async def test_the_run_end_kills_descendants_that_left_the_group(
    ctx: ToolContext, workspace: Path, reaped: list[int]
) -> None:
    _, body = await bash(ctx, command=ESCAPE + "echo started")
    assert body["status"] == "completed"
    reaped += await escaped_pids(workspace)
    assert_escaped(reaped)
    await ctx.scope.aclose()
    assert [await gone(pid) for pid in reaped] == [True] * ESCAPEES


async def test_cancelling_a_command_kills_descendants_that_left_the_group(
    ctx: ToolContext, workspace: Path, reaped: list[int]
) -> None:
    task = asyncio.create_task(bash(ctx, command=ESCAPE + "sleep 1000"))
    reaped += await escaped_pids(workspace)
    assert_escaped(reaped)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [await gone(pid) for pid in reaped] == [True] * ESCAPEES


async def test_a_background_command_at_its_end_takes_its_escapees_along(
    ctx: ToolContext, workspace: Path, reaped: list[int]
) -> None:
    await bash(ctx, command=ESCAPE + "sleep 1000", run_in_background=True)
    reaped += await escaped_pids(workspace)
    assert_escaped(reaped)
    await ctx.scope.aclose()
    assert [await gone(pid) for pid in reaped] == [True] * ESCAPEES
