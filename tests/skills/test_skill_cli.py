"""``agentcycle --skills-dir`` as a subprocess against a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer, ServerToolCall
from tests._cli import run_cli

from .skill_files import write_skill


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


@pytest.fixture
def settings_file(tmp_path: Path, server: OpenAICompatServer) -> Path:
    settings = {
        "VERSION": "2",
        "endpoints": [
            {
                "id": "loop",
                "api_base": server.base_url,
                "api_key_env": "LOOP_KEY",
                "endpoint_type": "openai",
            }
        ],
        "backends": {
            "local": {
                "models": {
                    "loop-model": {
                        "id": "loop-model",
                        "endpoints": [{"endpoint_id": "loop", "model_id": "served"}],
                    }
                }
            }
        },
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env={"LOOP_KEY": "sk-test"})


def offered(request_json: dict) -> set[str]:
    return {tool["function"]["name"] for tool in request_json["tools"]}


def test_skills_dirs_are_listed_activated_and_enforced(
    server: OpenAICompatServer, settings_file: Path, tmp_path: Path
) -> None:
    team, personal = tmp_path / "team-skills", tmp_path / "my-skills"
    write_skill(
        team,
        "notes-only",
        "Take notes about the workspace without running commands.",
        body="Plan with todo_write; never run shell commands.",
        allowed_tools=["todo_write"],
    )
    write_skill(team, "Broken", "Bad name.", directory="Broken")
    write_skill(personal, "shell-helper", "Run shell commands for the user.")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    server.enqueue(
        ChatReply(tool_calls=[ServerToolCall("activate_skill", {"skill_name": "notes-only"})]),
        ChatReply(tool_calls=[ServerToolCall("bash", {"command": "touch ran.txt"})]),
        ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": "noted"})]),
    )

    proc = cli(
        "--settings-file", str(settings_file), "--model", "loop-model",
        "--agent-type", "computer", "--approval", "never",
        "--skills-dir", str(team), "--skills-dir", str(personal),
        "--workspace", str(workspace), "-p", "take notes about this project",
        cwd=tmp_path,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "noted"
    assert not (workspace / "ran.txt").exists()
    assert f"skill skipped: {team / 'Broken'}:" in proc.stderr
    assert "skill activated: notes-only" in proc.stderr
    assert "bash failed: tool_not_allowed" in proc.stderr
    first, second, _ = (request.json for request in server.requests)
    system = first["messages"][0]["content"]
    assert "- notes-only: Take notes about the workspace" in system
    assert "- shell-helper: Run shell commands for the user." in system
    assert system.index("- notes-only") < system.index("- shell-helper")  # relevance: notes
    assert {"activate_skill", "bash"} <= offered(first)
    assert "bash" not in offered(second) and "todo_write" in offered(second)
    assert second["messages"][-1]["content"].endswith(
        "Plan with todo_write; never run shell commands."
    )


def test_a_missing_skills_dir_exits_1_with_one_line(settings_file: Path, tmp_path: Path) -> None:
    proc = cli(
        "--settings-file", str(settings_file), "--model", "loop-model",
        "--skills-dir", str(tmp_path / "nope"), "-p", "x", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "skills directory" in proc.stderr and "is not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr
