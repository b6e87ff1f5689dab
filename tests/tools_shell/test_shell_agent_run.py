"""The shell tools inside a real run: offered on opt-in, validated, and cleaned up at run end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from shell_helpers import gone, wait_for_line

from agentcycle import Agent, RunConfig, Runner
from agentcycle.events import RunStatus
from agentcycle.messages import ToolMessage
from agentcycle.runtime.policy import ApprovalMode, ToolPolicy
from agentcycle.testing import ScriptedModel, call_tool


def trusted(workspace: Path) -> RunConfig:
    """A run on ``workspace`` whose shell commands need no approval, unsandboxed: these tests
    follow host pids the commands print (a sandbox has a PID namespace of its own; the sandbox's
    tree cleanup is tested in tests/sandbox)."""
    return RunConfig(
        workspace=workspace,
        policy=ToolPolicy.of(approval_mode=ApprovalMode.NEVER),
        sandbox="off",
    )


async def test_a_run_uses_bash_and_kills_its_background_commands_when_it_ends(
    tmp_path: Path,
) -> None:
    model = ScriptedModel(
        [
            call_tool("bash", {"command": "echo hello from $(basename $PWD)"}),
            call_tool(
                "bash",
                {"command": "sleep 1000 & echo $! > child.pid; wait", "run_in_background": True},
            ),
            # Waits until the background command has started its grandchild.
            call_tool(
                "bash", {"command": "while [ ! -s child.pid ]; do sleep 0.02; done; cat child.pid"}
            ),
            call_tool("check_background_command", {"session_id": "sh_unknown"}),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    workspace = tmp_path / "project"
    workspace.mkdir()
    result = await Runner.run(Agent(model=model, shell_tools=True), "go", config=trusted(workspace))
    assert result.status is RunStatus.COMPLETED
    bodies = [json.loads(m.content) for m in result.messages if isinstance(m, ToolMessage)]
    assert bodies[0]["output"] == "hello from project\n"
    assert bodies[1]["status"] == "running"
    assert bodies[2]["status"] == "completed"
    assert bodies[3]["status"] == "missing"
    # The background command started a grandchild; the run's end killed it.
    assert await gone(int(bodies[2]["output"]))


def test_shell_tools_are_offered_only_on_opt_in(tmp_path: Path) -> None:
    offered: list[list[str]] = []

    def script(request: object) -> object:
        offered.append([tool.name for tool in request.tools])  # type: ignore[attr-defined]
        return call_tool("task_finish", {"message": "done"})

    for opt_in in (False, True):
        Runner.run_sync(
            Agent(model=ScriptedModel(script), shell_tools=opt_in),  # type: ignore[arg-type]
            "x",
            config=RunConfig(workspace=tmp_path),
        )
    assert "bash" not in offered[0]
    assert offered[1][-2:] == ["bash", "check_background_command"]


async def test_cancelling_a_run_kills_the_running_command_group(tmp_path: Path) -> None:
    model = ScriptedModel(
        [
            call_tool("bash", {"command": "sleep 1000 & echo $! > child.pid; wait"}),
            call_tool("task_finish", {"message": "never reached"}),
        ]
    )
    run = asyncio.create_task(
        Runner.run(Agent(model=model, shell_tools=True), "go", config=trusted(tmp_path))
    )
    child = int(await wait_for_line(tmp_path / "child.pid"))
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert await gone(child)
