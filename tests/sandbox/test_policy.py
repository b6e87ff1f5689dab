"""The sandbox policy: its settings, its defaults, how a run applies it, and failing closed
when no sandbox can be had."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner
from agentcycle.cli import main
from agentcycle.errors import ConfigurationError
from agentcycle.events import Diagnostic, ToolCallCompleted
from agentcycle.messages import ToolMessage
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer, ServerToolCall
from agentcycle.tools.sandbox import (
    SandboxMode,
    SandboxPolicy,
    clear_probes,
    resolve_policy,
    sandbox_support,
)
from tests.sandbox.conftest import require_sandbox


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "sealed"}, "unknown mode 'sealed'"),
        ({"writable_roots": ("relative/dir",)}, "is not an absolute path"),
        ({"protected_paths": ("../up",)}, "without '..'"),
        ({"protected_paths": ("/abs",)}, "must be relative"),
        ({"max_processes": 2}, "at least 8"),
    ],
)
def test_a_bad_policy_is_a_configuration_error(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SandboxPolicy(**fields)


def test_an_unknown_mode_on_an_agent_fails_when_the_agent_is_made() -> None:
    with pytest.raises(ConfigurationError, match="unknown mode"):
        Agent(shell_tools=True, sandbox="locked")


def test_the_default_is_workspace_write_where_a_sandbox_works() -> None:
    require_sandbox()
    assert resolve_policy(None).mode is SandboxMode.WORKSPACE_WRITE
    assert resolve_policy("read-only") == SandboxPolicy(mode=SandboxMode.READ_ONLY)
    assert SandboxPolicy().protected_paths == (".git", ".agentcycle")
    assert SandboxPolicy().network is False


def exists(path: str) -> bool:
    return Path(path).exists()


def trusted(workspace: Path, **fields: Any) -> RunConfig:
    return RunConfig(workspace=workspace, policy=ToolPolicy.of(approval_mode="never"), **fields)


def bodies(messages: list[Any]) -> list[dict[str, Any]]:
    return [json.loads(m.content) for m in messages if isinstance(m, ToolMessage)]


async def test_a_run_sandboxes_bash_by_default_and_the_run_config_wins(tmp_path: Path) -> None:
    require_sandbox()
    outside = tmp_path / "outside.txt"
    workspace = tmp_path / "ws"
    workspace.mkdir()
    script = [
        call_tool("bash", {"command": f"echo x > {outside}"}),
        call_tool("bash", {"command": "echo x > inside.txt && echo wrote"}),
        call_tool("task_finish", {"message": "done"}),
    ]
    agent = Agent(model=ScriptedModel(script), shell_tools=True)
    result = await Runner.run(agent, "go", config=trusted(workspace))
    second = bodies(result.messages)[1]
    # Outside the workspace (here under the private /tmp) the write lands nowhere on the host.
    assert not outside.exists()
    assert second["ok"] is True and (workspace / "inside.txt").exists()
    # The agent asks for read-only; the run's "off" wins.
    agent = Agent(model=ScriptedModel(script), shell_tools=True, sandbox="read-only")
    result = await Runner.run(agent, "go", config=trusted(workspace, sandbox="off"))
    assert bodies(result.messages)[0]["ok"] is True and outside.exists()


async def test_read_only_mode_writes_nothing_but_tmp(tmp_path: Path) -> None:
    require_sandbox()
    script = [
        call_tool("bash", {"command": "echo x > inside.txt"}),
        call_tool("bash", {"command": "echo x > /tmp/scratch && cat /tmp/scratch"}),
        call_tool("task_finish", {"message": "done"}),
    ]
    agent = Agent(model=ScriptedModel(script), shell_tools=True, sandbox="read-only")
    result = await Runner.run(agent, "go", config=trusted(tmp_path))
    first, second = bodies(result.messages)[:2]
    assert first["error_code"] == "command_failed" and not (tmp_path / "inside.txt").exists()
    assert second["ok"] is True
    # The model is told where it may write.
    assert "Nothing can be written except under /tmp" in model_tools(agent)["bash"]


def model_tools(agent: Agent) -> dict[str, str]:
    """The tool descriptions the agent's model saw on its first request."""
    model = agent.model
    assert isinstance(model, ScriptedModel)
    return {spec.name: spec.description for spec in model.requests[0].request.tools}


@pytest.fixture
def no_bwrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A host where bubblewrap cannot be found: PATH holds bash and nothing else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    bash = shutil.which("bash")
    assert bash is not None
    (bin_dir / "bash").symlink_to(bash)
    monkeypatch.setenv("PATH", str(bin_dir))
    clear_probes()
    yield
    monkeypatch.undo()
    clear_probes()


async def test_commands_fail_closed_when_the_policy_asks_and_no_sandbox_exists(
    tmp_path: Path, no_bwrap: None
) -> None:
    assert not sandbox_support("bubblewrap").available
    marker = tmp_path / "ran"
    script = [
        call_tool("bash", {"command": f"echo x > {marker}"}),
        call_tool("task_finish", {"message": "done"}),
    ]
    # This policy insists on bubblewrap, which this PATH cannot find.
    policy = SandboxPolicy(backend="bubblewrap")
    agent = Agent(model=ScriptedModel(script), shell_tools=True, sandbox=policy)
    handle = await Runner.start(agent, "go", config=trusted(tmp_path))
    events = [event async for event in handle.events()]
    await handle.result()
    assert not marker.exists()
    diagnostic = next(e for e in events if isinstance(e, Diagnostic))
    assert (diagnostic.code, diagnostic.level) == ("sandbox_unavailable", "error")
    assert "bwrap" in diagnostic.details["reason"]
    completed = next(e for e in events if isinstance(e, ToolCallCompleted))
    assert completed.error_code == "sandbox_unavailable"


async def test_without_bubblewrap_the_default_falls_back_to_landlock(
    tmp_path: Path, no_bwrap: None
) -> None:
    if not sandbox_support("landlock").available:
        pytest.fail("this kernel has no Landlock: the fallback cannot be tested here")
    assert sandbox_support().backend == "landlock"
    outside = tmp_path / "outside"
    outside.mkdir()
    workspace = tmp_path / "ws"
    workspace.mkdir()
    script = [
        call_tool("bash", {"command": f"echo x > {outside}/f"}),
        call_tool("bash", {"command": "echo x > inside && echo $TMPDIR > tmpdir"}),
        call_tool("task_finish", {"message": "done"}),
    ]
    handle = await Runner.start(
        Agent(model=ScriptedModel(script), shell_tools=True), "go", config=trusted(workspace)
    )
    events = [event async for event in handle.events()]
    result = await handle.result()
    first, second = bodies(result.messages)[:2]
    assert first["error_code"] == "command_failed" and not (outside / "f").exists()
    assert second["ok"] is True and (workspace / "inside").exists()
    assert not [e for e in events if isinstance(e, Diagnostic)]  # sandboxed: nothing to say
    # The run's temporary directory is gone with the run.
    assert not exists((workspace / "tmpdir").read_text().strip())


def test_the_cli_sandbox_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_sandbox()
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with OpenAICompatServer() as server:
        settings = tmp_path / "settings.json"
        settings.write_text(
            json.dumps(
                {
                    "VERSION": "2",
                    "endpoints": [{"id": "e", "api_base": server.base_url, "api_key": "sk-x"}],
                    "backends": {
                        "local": {
                            "default_model": "m",
                            "models": {"m": {"endpoints": [{"endpoint_id": "e", "model_id": "m"}]}},
                        }
                    },
                }
            )
        )
        for mode in ("read-only", "off"):
            server.enqueue(
                ChatReply(tool_calls=[ServerToolCall("bash", {"command": f"echo {mode} > f"})]),
                ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": "done"})]),
            )
            code = main(
                [
                    "--settings-file", str(settings), "--workspace", str(workspace),
                    "--agent-type", "computer", "--approval", "never", "--sandbox", mode,
                    "--prompt", "write f",
                ]
            )  # fmt: skip
            assert code == 0, capsys.readouterr().err
        # read-only wrote nothing; off wrote the file.
        assert (workspace / "f").read_text() == "off\n"
    with pytest.raises(SystemExit) as exc:
        main(["--sandbox", "sealed", "--prompt", "x"])
    assert exc.value.code == 2
    assert "invalid choice: 'sealed'" in capsys.readouterr().err
