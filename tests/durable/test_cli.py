"""``agentcycle --store``, ``runs status`` and ``resume`` as subprocesses on the demo backend."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agentcycle.runtime.crashpoints import CRASHPOINT_ENV


def _cli(*args: str, cwd: Path, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTCYCLE_", "OPENAI_"))}
    if crash is not None:
        env[CRASHPOINT_ENV] = crash
    return subprocess.run(
        [sys.executable, "-m", "agentcycle", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("execution", ["inline", "thread"])
def test_a_killed_cli_run_resumes_with_agentcycle_resume(execution: str, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    flags = ("--backend", "demo", "--store", url, "--execution", execution, "--lease-ttl", "0.3")
    killed = _cli("-p", "Summarise", *flags, cwd=tmp_path, crash="after_commit:2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    found = re.search(r"agentcycle: run (\S+)", killed.stderr)
    assert found is not None, killed.stderr
    run_id = found.group(1)

    status = _cli("runs", "status", run_id, "--store", url, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    before = json.loads(status.stdout)
    assert (before["log_status"], before["cycles_committed"]) == ("running", 2)

    resumed = _cli("resume", run_id, "--store", url, "--lease-ttl", "0.3", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "Wrote REPORT.md" in resumed.stdout
    after = json.loads(_cli("runs", "status", run_id, "--store", url, cwd=tmp_path).stdout)
    assert (after["log_status"], after["run_status"]) == ("terminal", "completed")
    assert after["event_seq"] > before["event_seq"]
    assert "Request: Summarise" in (tmp_path / "REPORT.md").read_text()
    again = _cli("resume", run_id, "--store", url, cwd=tmp_path)  # the same command again
    assert again.returncode == 1
    assert f"run '{run_id}' already ended (completed): there is nothing to resume" in again.stderr
    assert "offline demo" not in again.stderr  # refused before an agent is built


def test_ctrl_c_stops_watching_and_says_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    flags = ("--backend", "demo", "--store", url)
    killed = _cli("-p", "Summarise", *flags, cwd=tmp_path, crash="after_commit:2")
    found = re.search(r"agentcycle: run (\S+)", killed.stderr)
    assert found is not None, killed.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCYCLE_")}
    watch = subprocess.Popen(
        [sys.executable, "-m", "agentcycle", "runs", "watch", found.group(1), "--store", url,
         "--events"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert watch.stdout is not None
    assert json.loads(watch.stdout.readline())["type"] == "run_started"  # it is watching
    watch.send_signal(signal.SIGINT)
    _, err = watch.communicate(timeout=30)
    assert watch.returncode == 130
    assert f"agentcycle: stopped watching; run {found.group(1)} goes on" in err
    assert "Traceback" not in err


def test_status_of_an_unknown_run_fails(tmp_path: Path) -> None:
    proc = _cli("runs", "status", "nope", "--store", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path)
    assert proc.returncode == 1
    assert "no run 'nope'" in proc.stderr


def test_a_store_password_is_not_repeated_in_errors(tmp_path: Path) -> None:
    url = "redis://default:hunter2@127.0.0.1:6379/15"  # nothing is written: only looked up
    for command in (("runs", "status", "nope"), ("resume", "nope")):
        proc = _cli(*command, "--store", url, cwd=tmp_path)
        assert proc.returncode == 1
        assert "hunter2" not in proc.stderr
        assert "no run 'nope' in redis://default:***@127.0.0.1:6379/15" in proc.stderr


def test_an_unsupported_execution_is_refused_by_the_parser(tmp_path: Path) -> None:
    proc = _cli("-p", "x", "--backend", "demo", "--execution", "process", cwd=tmp_path)
    assert proc.returncode == 2
    assert "invalid choice: 'process'" in proc.stderr


def test_a_celery_run_needs_a_store(tmp_path: Path) -> None:
    proc = _cli("-p", "x", "--backend", "demo", "--execution", "celery", cwd=tmp_path)
    assert proc.returncode == 1
    assert "--execution celery needs --store URL" in proc.stderr


def test_a_worker_refuses_bad_flags(tmp_path: Path) -> None:
    proc = _cli("worker", "--concurrency", "0", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--concurrency must be at least 1" in proc.stderr
    proc = _cli(
        "worker", "--max-segment-seconds", "3000", "--visibility-timeout", "3600", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "at least twice max_segment_seconds" in proc.stderr
