"""Background commands: moved there on timeout or started there, then polled."""

from __future__ import annotations

import os
from pathlib import Path

from shell_helpers import bash, check, wait_finished, wait_for_output

from agentcycle.messages import ToolResultStatus
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._processes import SessionStore, ShellSession
from agentcycle.tools.builtin.shell import SESSIONS_KEY

# Blocks until the test creates the file `go` in the workspace.
WAIT_FOR_GO = "while [ ! -e go ]; do sleep 0.02; done"


async def test_a_foreground_command_outliving_its_timeout_moves_to_the_background(
    ctx: ToolContext, workspace: Path
) -> None:
    result, body = await bash(ctx, command=f"echo started; {WAIT_FOR_GO}; echo finished", timeout=1)
    assert result.status is ToolResultStatus.RUNNING
    assert body["status"] == "running"
    assert "check_background_command" in body["message"]
    session_id = body["session_id"]
    assert result.metadata["session_id"] == session_id

    # Not killed: it finishes once released, and the check reports it.
    assert (await check(ctx, session_id))["status"] == "running"
    (workspace / "go").touch()
    report = await wait_finished(ctx, session_id)
    assert report["status"] == "completed"
    assert report["exit_code"] == 0
    assert report["output"] == "started\nfinished\n"


async def test_run_in_background_returns_at_once(ctx: ToolContext, workspace: Path) -> None:
    result, body = await bash(
        ctx, command=f"echo early; {WAIT_FOR_GO}; echo late", run_in_background=True
    )
    # The command cannot have finished: `go` does not exist yet.
    assert result.status is ToolResultStatus.RUNNING
    assert body["status"] == "running"
    assert "exit_code" not in body
    session_id = body["session_id"]

    report = await check(ctx, session_id)
    assert report["status"] == "running"
    (workspace / "go").touch()
    report = await wait_finished(ctx, session_id)
    assert report == {**report, "status": "completed", "exit_code": 0, "output": "early\nlate\n"}


async def test_check_shows_the_output_so_far_of_a_running_command(
    ctx: ToolContext, workspace: Path
) -> None:
    _, body = await bash(ctx, command=f"echo progress; {WAIT_FOR_GO}", run_in_background=True)
    session_id = body["session_id"]
    report = await wait_for_output(ctx, session_id)
    assert report["status"] == "running"
    assert report["output"] == "progress\n"
    (workspace / "go").touch()


async def test_a_failing_background_command_reports_failed(ctx: ToolContext) -> None:
    _, body = await bash(ctx, command="echo bad >&2; exit 7", run_in_background=True)
    report = await wait_finished(ctx, body["session_id"])
    assert report["status"] == "failed"
    assert report["exit_code"] == 7
    assert report["output"] == "bad\n"


async def test_an_unknown_session_id_is_missing(ctx: ToolContext) -> None:
    report = await check(ctx, "sh_nope")
    assert report["status"] == "missing"
    assert report["session_id"] == "sh_nope"


async def test_a_background_command_is_killed_at_its_hard_limit(
    ctx: ToolContext, workspace: Path
) -> None:
    await bash(ctx, command="true")  # creates the run's session store
    store: SessionStore = ctx.scope.get_or_create(SESSIONS_KEY, SessionStore)
    # Generous: under load a login shell can take a while to print "begun".
    session = await ShellSession.start(
        "echo begun; exec sleep 1000", cwd=workspace, env=os.environ, hard_limit=1.5
    )
    store.add(session)
    await session.finished
    report = await check(ctx, session.id)
    assert report["status"] == "timeout"
    assert report["exit_code"] == -15
    assert report["output"] == "begun\n"
    assert "Killed" in report["message"]
