"""The CLI as a subprocess with no settings file and no key: the offline demo backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTCYCLE_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "agentcycle", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "README.md").write_text("# Sample project\n\nA tiny project.\n")
    (tmp_path / "main.py").write_text("print('hello')\n")
    return tmp_path


def test_without_settings_the_demo_runs_and_shows_its_tool_calls(workspace: Path) -> None:
    proc = run_cli("--prompt", "Summarise this project", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert "no settings file found; running the offline demo backend" in proc.stderr
    for call in ("todo_write", "find_files", "read_file", "write_file", "task_finish"):
        assert f"-> {call}(" in proc.stderr, call
    assert "Summarise this project" in proc.stdout
    report = (workspace / "REPORT.md").read_text()
    assert "Request: Summarise this project" in report
    assert "- `README.md`" in report and "- `main.py`" in report
    assert "Files read: README.md, main.py" in report


def test_a_second_demo_run_reads_and_replaces_its_report(workspace: Path) -> None:
    assert run_cli("-p", "first", "--backend", "demo", cwd=workspace).returncode == 0
    proc = run_cli("-p", "second", "--backend", "demo", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert '-> read_file({"path": "REPORT.md"})' in proc.stderr
    assert "Request: second" in (workspace / "REPORT.md").read_text()


def test_json_output_reports_status_and_resolution(workspace: Path) -> None:
    proc = run_cli("--prompt", "hi", "--backend", "demo", "--json", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "completed"
    assert data["completion_reason"] == "tool_finish"
    assert data["resolved"] == {"backend": "demo", "model": "demo-planner", "endpoint": None}
    assert data["cycles"] >= 2
    assert data["agent_name"] == "agentcycle"
    assert set(data) == {
        "status",
        "agent_name",
        "final_output",
        "completion_reason",
        "cycles",
        "usage",
        "resolved",
    }


def test_verbose_prints_every_event_as_json(workspace: Path) -> None:
    proc = run_cli("--prompt", "hi", "--backend", "demo", "--verbose", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types[-1] == "run_completed"
    assert "assistant_delta" in types and "tool_call_started" in types
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_max_cycles_exit_code(workspace: Path) -> None:
    proc = run_cli("--prompt", "hi", "--backend", "demo", "--max-cycles", "1", cwd=workspace)
    assert proc.returncode == 4
    assert "stopped after 1 cycles" in proc.stderr


def test_bad_configuration_is_one_line_and_exit_1(workspace: Path) -> None:
    proc = run_cli("--prompt", "hi", "--backend", "openai", cwd=workspace)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "no settings file found" in proc.stderr
    assert "Traceback" not in proc.stderr

    missing = run_cli("--prompt", "hi", "--settings-file", "nope.json", cwd=workspace)
    assert missing.returncode == 1 and "does not exist" in missing.stderr

    bad_ws = run_cli("--prompt", "hi", "--workspace", "missing-dir", cwd=workspace)
    assert bad_ws.returncode == 1 and "not a directory" in bad_ws.stderr


def test_help_lists_the_flags(workspace: Path) -> None:
    proc = run_cli("--help", cwd=workspace)
    assert proc.returncode == 0
    for flag in ("--prompt", "--backend", "--settings-file", "--max-cycles", "--json"):
        assert flag in proc.stdout
