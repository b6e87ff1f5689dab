"""``agentcycle --store``, ``runs status`` and ``resume`` as subprocesses on the demo backend."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from agentcycle.cli._durable import _lease_note
from agentcycle.runtime.crashpoints import CRASHPOINT_ENV
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import Lease, LogStatus, RunHead
from tests._cli import run_cli, start_cli


def _cli(*args: str, cwd: Path, crash: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=cwd, env={CRASHPOINT_ENV: crash} if crash is not None else None)


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
    # The answer tells the whole run, the part before the kill included.
    assert re.match(
        r"Wrote REPORT\.md: I listed \d+ top-level entries and read README\.md\. ", resumed.stdout
    ), resumed.stdout
    watched = _cli("runs", "watch", run_id, "--store", url, "--events", cwd=tmp_path)
    planned = [
        event["tool_call_id"]
        for event in map(json.loads, watched.stdout.splitlines())
        if event["type"] == "tool_call_planned"
    ]
    assert len(planned) == 6 and len(set(planned)) == 6, planned  # one id per call
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
    watch = start_cli("runs", "watch", found.group(1), "--store", url, "--events",
                      cwd=tmp_path, stdout=subprocess.PIPE)  # fmt: skip
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
    assert "at least twice --max-segment-seconds (3000.0 s)" in proc.stderr


RUN_ONLY_FLAGS = ("--session", "--max-cycles", "--temperature", "--top-p", "--max-tokens",
                  "--execution", "--broker", "--version")  # fmt: skip


def _flags(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text))


def test_resume_help_lists_only_the_flags_resume_uses(tmp_path: Path) -> None:
    proc = _cli("resume", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    flags = _flags(proc.stdout)
    for used in ("--prompt", "--store", "--lease-ttl", "--backend", "--model", "--agents",
                 "--workspace", "--settings-file", "--approval", "--json", "--events"):  # fmt: skip
        assert used in flags, used
    assert not flags & set(RUN_ONLY_FLAGS), flags & set(RUN_ONLY_FLAGS)
    assert "usage: agentcycle resume [-h]" in proc.stdout and " run_id\n" in proc.stdout


@pytest.mark.parametrize("flag", [f for f in RUN_ONLY_FLAGS if f != "--version"])
def test_a_run_flag_passed_to_resume_is_a_usage_error(flag: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    proc = _cli("resume", "run_x", "--store", url, f"{flag}=1", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.endswith(
        f"agentcycle resume: error: {flag} is a flag of a new run, not of resume: a resumed run "
        "keeps its session, cycle limit and model settings, and goes on in this process "
        "(`agentcycle resume --help` lists resume's flags)\n"
    )
    assert not (tmp_path / "runs.db").exists()  # refused before anything is opened
    unknown = _cli("resume", "run_x", "--store", url, "--colour", cwd=tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.endswith("agentcycle resume: error: unrecognized arguments: --colour\n")


def test_a_session_run_resumes_on_its_session_without_naming_it(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    flags = ("--backend", "demo", "--store", url, "--lease-ttl", "0.3")
    killed = _cli("-p", "Summarise", *flags, "--session", "s1", cwd=tmp_path,
                  crash="after_commit:2")  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    found = re.search(r"agentcycle: run (\S+)", killed.stderr)
    assert found is not None, killed.stderr
    resumed = _cli("resume", found.group(1), "--store", url, "--lease-ttl", "0.3", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    # The session holds the whole turn: the next run in it continues after the answer.
    after = _cli("-p", "Summarise again", "--backend", "demo", "--session", "s1", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert "agentcycle: continuing session s1 (" in after.stderr


def test_runs_subcommands_describe_themselves_and_refuse_strangers(tmp_path: Path) -> None:
    status = _cli("runs", "status", "--help", cwd=tmp_path)
    assert "print a durable run's status as JSON." in status.stdout
    assert _flags(status.stdout) == {"--help", "--store"}
    watch = _cli("runs", "watch", "--help", cwd=tmp_path)
    assert "Ctrl+C stops the watching, not the run." in watch.stdout
    assert _flags(watch.stdout) == {"--help", "--store", "--events"}
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    wrong = _cli("runs", "status", "run_x", "--store", url, "--events", cwd=tmp_path)
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("usage: agentcycle runs status [-h] --store URL run_id\n")
    assert wrong.stderr.endswith(
        "agentcycle runs status: error: unrecognized arguments: --events\n"
    )


def test_worker_help_explains_every_flag(tmp_path: Path) -> None:
    proc = _cli("worker", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    options = proc.stdout.split("options:\n", 1)[1]
    # Each option's entry is its flags, then (after a run of spaces) what it does.
    entries = re.split(r"\n(?=  -)", options.strip("\n"))
    assert len(entries) == 11
    for entry in entries:
        assert len(re.split(r"\s{2,}", entry.strip(), maxsplit=1)) == 2, entry
    for explained in ("(default: 100)", "(default: 300)", "(default: 3600)", "(default: 1)",
                      "Celery's log level"):  # fmt: skip
        assert explained in " ".join(proc.stdout.split()), explained


def test_resume_says_why_it_waits_for_the_lease_of_a_killed_run(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    flags = ("--backend", "demo", "--store", url, "--lease-ttl", "4")
    killed = _cli("-p", "Summarise", *flags, cwd=tmp_path, crash="after_commit:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    found = re.search(r"agentcycle: run (\S+)", killed.stderr)
    assert found is not None, killed.stderr
    run_id = found.group(1)
    store = open_checkpoint_store(url)
    head = store.head(run_id)
    store.close()
    assert head is not None and head.lease is not None and head.lease_live
    pid = head.lease.owner.split(":")[1]

    resumed = _cli("resume", run_id, "--store", url, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    waiting, resuming = resumed.stderr.splitlines()[:2]
    assert re.fullmatch(
        rf"agentcycle: run {run_id} is leased to another process \(process {pid} on this "
        r"machine, which has exited\); waiting up to [1-4] s for the lease to expire before "
        r"taking the run over \(Ctrl\+C to stop\)",
        waiting,
    ), waiting
    assert resuming == f"agentcycle: resuming run {run_id}"


def test_the_lease_note_tells_a_running_holder_and_one_elsewhere() -> None:
    now = 1_000_000

    def head(owner: str, expires_ms: int = now + 2_500) -> RunHead:
        lease = Lease(owner=owner, epoch=1, expires_ms=expires_ms)
        return RunHead("run_x", 3, 1, LogStatus.RUNNING, lease, None, now)

    here = socket.gethostname()
    assert _lease_note(head(f"{here}:{os.getpid()}:ab12cd34")) == (
        f"agentcycle: run run_x is leased to another process (process {os.getpid()} on this "
        "machine, which is still running: if it is still running the run, this resume stops "
        "when it renews the lease); waiting up to 2 s for the lease to expire before taking "
        "the run over (Ctrl+C to stop)"
    )
    assert _lease_note(head("worker-7:4242:ab12cd34")) == (
        "agentcycle: run run_x is leased to another process (process worker-7:4242:ab12cd34); "
        "waiting up to 2 s for the lease to expire before taking the run over (Ctrl+C to stop)"
    )
    assert _lease_note(head("worker-7:4242:ab12cd34", expires_ms=now)) is None  # expired


def test_a_store_file_is_kept_out_of_the_agents_sight_or_the_user_is_told(
    tmp_path: Path,
) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    hidden = _cli("-p", "Summarise", "--backend", "demo", "--store",
                  "sqlite:///.agentcycle/runs.db", cwd=tmp_path)  # fmt: skip
    assert hidden.returncode == 0, hidden.stderr
    assert hidden.stderr.startswith(
        f"agentcycle: created the folder {tmp_path.resolve() / '.agentcycle'} for the store\n"
    )
    assert "note: the store" not in hidden.stderr
    assert (tmp_path / ".agentcycle" / "runs.db").is_file()
    assert ".agentcycle" not in (tmp_path / "REPORT.md").read_text()  # not in the listing

    plain = _cli("-p", "Summarise", "--backend", "demo", "--store", "sqlite:///runs.db",
                 cwd=tmp_path)  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.startswith(
        "agentcycle: note: the store runs.db is in the workspace, where the agent's file tools "
        "list it and can change it; --store sqlite:///.agentcycle/runs.db keeps it out of their "
        "listings (as the session store is), or put it outside the workspace\n"
    )
