"""Nothing outlives its run: cancellation and run end kill the whole process group."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from shell_helpers import alive, bash, check, gone, wait_for_line

from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._processes import KILL_GRACE_SECONDS

# Starts a grandchild that would sleep for ages, records its pid, and waits for it.
SPAWN_GRANDCHILD = "sleep 1000 & echo $! > child.pid; wait"


async def test_cancelling_a_foreground_command_kills_its_process_group(
    ctx: ToolContext, workspace: Path
) -> None:
    task = asyncio.create_task(bash(ctx, command=SPAWN_GRANDCHILD))
    child = int(await wait_for_line(workspace / "child.pid"))
    assert alive(child)

    loop = asyncio.get_running_loop()
    cancelled_at = loop.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Generous bound: the point is that cancelling does not wait for the command.
    assert loop.time() - cancelled_at < KILL_GRACE_SECONDS + 1.0
    assert await gone(child)


async def test_the_run_cancelled_event_stops_a_foreground_command(
    ctx: ToolContext, workspace: Path
) -> None:
    task = asyncio.create_task(bash(ctx, command=SPAWN_GRANDCHILD))
    child = int(await wait_for_line(workspace / "child.pid"))
    ctx.cancelled.set()
    result, body = await task
    assert result.error_code == "command_cancelled"
    assert "killed" in body["error"]
    assert await gone(child)


async def test_nothing_starts_once_the_run_is_cancelled(ctx: ToolContext, workspace: Path) -> None:
    ctx.cancelled.set()
    result, _ = await bash(ctx, command="touch started")
    assert result.error_code == "command_cancelled"
    assert not (workspace / "started").exists()


async def test_closing_the_run_scope_kills_background_commands(
    ctx: ToolContext, workspace: Path
) -> None:
    _, body = await bash(ctx, command=SPAWN_GRANDCHILD, run_in_background=True)
    child = int(await wait_for_line(workspace / "child.pid"))
    assert (await check(ctx, body["session_id"]))["status"] == "running"
    await ctx.scope.aclose()
    assert await gone(child)


async def test_closing_the_run_scope_kills_processes_a_finished_command_left_behind(
    ctx: ToolContext,
) -> None:
    # `&` with output redirected: bash exits at once and the server-like child lives on.
    _, body = await bash(ctx, command="sleep 1000 >/dev/null 2>&1 & echo $!")
    assert body["status"] == "completed"
    child = int(body["output"])
    assert alive(child)
    await ctx.scope.aclose()
    assert await gone(child)


async def test_a_background_child_holding_the_output_pipe_does_not_block_the_result(
    ctx: ToolContext,
) -> None:
    # The child inherits stdout; the command's result must not wait for it to exit
    # (if it did, the 30 s timeout would move the command to the background instead).
    _, body = await bash(ctx, command="sleep 1000 & echo $!", timeout=30)
    assert body["status"] == "completed"
    child = int(body["output"])
    assert alive(child)
    await ctx.scope.aclose()
    assert await gone(child)
