"""The CLI against a settings file and a loopback OpenAI-compatible server, as a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests._cli import run_cli, start_cli

from agentcycle.testing.openai_server import (
    ChatReply,
    ErrorReply,
    OpenAICompatServer,
    ServerToolCall,
    usage,
)

SECRET = "sk-cli-secret-abcdef123456"


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
                        "endpoints": [{"endpoint_id": "loop", "model_id": "served-name"}],
                        "context_length": 8192,
                        "settings": {"retry": {"max_attempts": 2, "initial_delay": 0.01}},
                    }
                }
            }
        },
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    return path


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env={"LOOP_KEY": SECRET})


def finish(message: str) -> ChatReply:
    return ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": message})])


def test_runs_against_the_endpoint_and_reports_resolution(
    server: OpenAICompatServer, settings_file: Path, tmp_path: Path
) -> None:
    server.enqueue(
        ChatReply(text="Working on it.", tool_calls=[ServerToolCall("todo_write", {"todos": []})]),
        ChatReply(
            tool_calls=[ServerToolCall("task_finish", {"message": "All done."})],
            usage=usage(100, 20),
        ),
    )
    proc = cli(
        "--settings-file", str(settings_file), "--backend", "local", "--model", "loop-model",
        "--prompt", "tidy up", "--json", "--temperature", "0.2", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "completed" and data["final_output"] == "All done."
    assert data["resolved"] == {"backend": "local", "model": "loop-model", "endpoint": "loop"}
    assert data["usage"]["input_tokens"] == 100 and data["cycles"] == 2
    body = server.requests[0].json
    assert body["model"] == "served-name" and body["temperature"] == 0.2
    assert body["messages"][-1] == {"role": "user", "content": "tidy up"}


def test_settings_found_through_the_environment_and_human_output(
    server: OpenAICompatServer, settings_file: Path, tmp_path: Path
) -> None:
    server.enqueue(finish("Hello, human."))
    env_path = tmp_path / "local_settings.json"
    env_path.write_text(settings_file.read_text())
    proc = cli("--prompt", "hi", "--backend", "local", "--model", "loop-model", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "Hello, human."
    assert "-> task_finish(" in proc.stderr
    assert "demo" not in proc.stderr


def test_ask_user_exits_3_and_prints_the_question(
    server: OpenAICompatServer, settings_file: Path, tmp_path: Path
) -> None:
    server.enqueue(
        ChatReply(
            tool_calls=[ServerToolCall("ask_user", {"question": "Which file?", "options": ["a"]})]
        )
    )
    proc = cli(
        "--settings-file", str(settings_file), "--model", "loop-model", "-p", "x", cwd=tmp_path
    )
    assert proc.returncode == 3, proc.stderr
    assert "Which file?" in proc.stdout and "- a" in proc.stdout


def test_unknown_model_lists_what_exists(settings_file: Path, tmp_path: Path) -> None:
    proc = cli("--settings-file", str(settings_file), "--model", "gpt-9", "-p", "x", cwd=tmp_path)
    assert proc.returncode == 1
    assert "gpt-9" in proc.stderr and "loop-model" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_provider_failure_exits_1_without_leaking_the_key(
    server: OpenAICompatServer, settings_file: Path, tmp_path: Path
) -> None:
    server.enqueue(ErrorReply(500, "boom"), ErrorReply(500, "boom"))
    proc = cli(
        "--settings-file", str(settings_file), "--model", "loop-model", "-p", "x", cwd=tmp_path
    )
    assert proc.returncode == 1
    assert "server_error" in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout


def test_ctrl_c_exits_130(server: OpenAICompatServer, settings_file: Path, tmp_path: Path) -> None:
    server.enqueue(ChatReply(text="slow", delay=30))
    proc = start_cli("--settings-file", str(settings_file), "--model", "loop-model", "-p", "x",
                     "--events", cwd=tmp_path, stdout=subprocess.PIPE,
                     env={"LOOP_KEY": SECRET})  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the model call is in flight
        if '"model_call_started"' in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert json.loads(out.splitlines()[-1])["type"] == "run_cancelled"


def test_computer_agent_without_a_terminal_waits_for_approval_and_runs_nothing(
    server: OpenAICompatServer, settings_file: Path, tmp_path: Path
) -> None:
    server.enqueue(
        ChatReply(tool_calls=[ServerToolCall("bash", {"command": "touch ran.txt"})]),
    )
    proc = cli(
        "--settings-file",
        str(settings_file),
        "--model",
        "loop-model",
        "--agent-type",
        "computer",
        "-p",
        "make a file",
        cwd=tmp_path,
    )
    assert proc.returncode == 3, proc.stderr
    assert "bash" in proc.stdout  # the pending call is named
    assert not (tmp_path / "ran.txt").exists()
    offered = {tool["function"]["name"] for tool in server.requests[0].json["tools"]}
    assert {"bash", "check_background_command"} <= offered


def test_computer_agent_with_approval_never_runs_bash(
    server: OpenAICompatServer, settings_file: Path, tmp_path: Path
) -> None:
    server.enqueue(
        ChatReply(tool_calls=[ServerToolCall("bash", {"command": "echo made > ran.txt"})]),
        finish("made it"),
    )
    proc = cli(
        "--settings-file",
        str(settings_file),
        "--model",
        "loop-model",
        "--agent-type",
        "computer",
        "--approval",
        "never",
        "-p",
        "make a file",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ran.txt").read_text() == "made\n"
    assert "-> bash(" in proc.stderr
    assert proc.stdout.strip() == "made it"


def test_default_agent_is_not_offered_shell_tools(
    server: OpenAICompatServer, settings_file: Path, tmp_path: Path
) -> None:
    server.enqueue(finish("ok"))
    proc = cli(
        "--settings-file", str(settings_file), "--model", "loop-model", "-p", "x", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    offered = {tool["function"]["name"] for tool in server.requests[0].json["tools"]}
    assert "bash" not in offered and "task_finish" in offered
