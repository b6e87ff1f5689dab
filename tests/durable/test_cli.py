"""``agentcycle --store``, ``runs list|status|watch|cancel`` and ``resume`` as subprocesses on the
demo backend."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner
from agentcycle.cli._durable import _lease_note
from agentcycle.events import RunStatus
from agentcycle.runtime.crashpoints import CRASHPOINT_ENV
from agentcycle.runtime.durable import run_summary
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import Lease, LogStatus, RunHead
from agentcycle.stores.sqlite_checkpoints import SQLiteCheckpointStore
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.testing.checkpoint_conformance import expire
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


def _empty_store(path: Path) -> None:
    """A SQLite checkpoint store file at ``path``, holding no run."""
    store = SQLiteCheckpointStore(path)
    store.list_runs()  # the first use creates the file and its schema
    store.close()


def test_status_of_an_unknown_run_fails(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    _empty_store(tmp_path / "x.db")
    proc = _cli("runs", "status", "nope", "--store", url, cwd=tmp_path)
    assert proc.returncode == 1
    assert "no run 'nope'" in proc.stderr


@pytest.mark.parametrize(
    "command",
    [("runs", "list"), ("runs", "status", "r"), ("runs", "watch", "r"), ("runs", "cancel", "r"),
     ("resume", "r")],
)  # fmt: skip
def test_a_command_that_reads_a_store_does_not_make_one_at_a_mistyped_path(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    proc = _cli(*command, "--store", "sqlite:///ruins.db", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == (
        f"agentcycle: no checkpoint store at {tmp_path.resolve() / 'ruins.db'} (the file does "
        "not exist)\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_store_password_is_not_repeated_in_errors(tmp_path: Path, redis_prefix: str) -> None:
    url = "redis://default:hunter2@127.0.0.1:6379/15"  # nothing is written: only looked up
    for command in (("runs", "status", "nope"), ("resume", "nope"), ("runs", "cancel", "nope")):
        proc = _cli(*command, "--store", url, cwd=tmp_path)
        assert proc.returncode == 1
        assert "hunter2" not in proc.stderr
        assert "no run 'nope' in redis://default:***@127.0.0.1:6379/15" in proc.stderr
    empty = f"{url}?key_prefix={redis_prefix}"
    listed = _cli("runs", "list", "--store", empty, cwd=tmp_path)
    assert (listed.returncode, listed.stdout) == (0, "")
    assert listed.stderr == (
        f"agentcycle: no runs in redis://default:***@127.0.0.1:6379/15?key_prefix={redis_prefix}\n"
    )


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


def _explained(help_text: str) -> list[str]:
    """The option entries of a ``--help``, each checked to say what it does."""
    options = help_text.split("options:\n", 1)[1]
    # Each option's entry is its flags, then (after a run of spaces) what it does.
    entries = re.split(r"\n(?=  -)", options.strip("\n"))
    for entry in entries:
        assert len(re.split(r"\s{2,}", entry.strip(), maxsplit=1)) == 2, entry
    return entries


def test_runs_subcommands_describe_themselves_and_refuse_strangers(tmp_path: Path) -> None:
    runs = _cli("runs", "--help", cwd=tmp_path)
    assert runs.returncode == 0, runs.stderr
    text = " ".join(runs.stdout.split())
    for command in ("list", "status", "watch", "cancel"):
        assert re.search(rf"\n    {command} +\S", runs.stdout), command
    assert "list the store's runs, newest first" in text
    assert "ends as cancelled when it is resumed" in text
    status = _cli("runs", "status", "--help", cwd=tmp_path)
    assert "Print a durable run's status as JSON." in status.stdout
    assert _flags(status.stdout) == {"--help", "--store"}
    watch = _cli("runs", "watch", "--help", cwd=tmp_path)
    assert "Ctrl+C stops the watching, not the run." in watch.stdout
    assert _flags(watch.stdout) == {"--help", "--store", "--events"}
    listing = _cli("runs", "list", "--help", cwd=tmp_path)
    assert _flags(listing.stdout) == {"--help", "--store", "--limit", "--json"}
    assert len(_explained(listing.stdout)) == 4
    assert "(default: 20)" in listing.stdout
    cancel = _cli("runs", "cancel", "--help", cwd=tmp_path)
    assert _flags(cancel.stdout) == {"--help", "--store", "--reason"}
    assert len(_explained(cancel.stdout)) == 3
    assert "(default: 'cancelled from the terminal')" in " ".join(cancel.stdout.split())
    for command, error in (
        (
            ("list", "--limit", "0"),
            "argument --limit: must be a whole number of 1 or more, not '0'",
        ),
        (("cancel", "run_x", "--reason", " "), "--reason must not be empty"),
    ):
        refused = _cli("runs", *command, "--store", "sqlite:///never.db", cwd=tmp_path)
        assert refused.returncode == 2
        assert refused.stderr.endswith(f"agentcycle runs {command[0]}: error: {error}\n")
    assert not (tmp_path / "never.db").exists()  # refused before anything is opened
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
    assert len(_explained(proc.stdout)) == 11
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


# -- runs list and runs cancel ------------------------------------------------------------------


def _started(proc: subprocess.CompletedProcess[str]) -> str:
    """The id a durable CLI run printed."""
    found = re.search(r"agentcycle: run (\S+)", proc.stderr)
    assert found is not None, proc.stderr
    return found.group(1)


def _killed(url: str, tmp_path: Path, lease_ttl: str = "0.3", *flags: str) -> str:
    """A demo run (with ``flags``) killed after committing cycle 2 (its lease left to
    expire); its id."""
    flags = ("--backend", "demo", "--store", url, "--lease-ttl", lease_ttl, *flags)
    killed = _cli("-p", "Summarise", *flags, cwd=tmp_path, crash="after_commit:2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    return _started(killed)


def _lease_expired(url: str, run_id: str) -> None:
    """Wait until the run's lease expired on the store's clock."""
    store = open_checkpoint_store(url)
    try:
        expire(store, run_id)
    finally:
        store.close()


def _summaries(url: str, *run_ids: str) -> list[dict[str, Any]]:
    store = open_checkpoint_store(url)
    try:
        summaries = [run_summary(store, run_id) for run_id in run_ids]
    finally:
        store.close()
    assert all(summaries)
    return summaries  # type: ignore[return-value]


def _waiting_for_the_user(url: str) -> str:
    """A run of the SDK (the demo never asks) waiting for the user's answer; its id."""
    model = ScriptedModel([call_tool("ask_user", {"question": "Which env?"})])
    config = RunConfig(checkpoint_store=url, run_id="asks")
    result = Runner.run_sync(Agent(name="helper", model=model), "deploy it", config=config)
    assert result.status is RunStatus.WAIT_USER
    return result.run_id


def test_runs_list_shows_the_stores_runs_newest_first(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _empty_store(tmp_path / "runs.db")
    empty = _cli("runs", "list", "--store", url, cwd=tmp_path)
    assert (empty.returncode, empty.stdout, empty.stderr) == (
        0,
        "",
        f"agentcycle: no runs in {url}\n",
    )
    empty_json = _cli("runs", "list", "--store", url, "--json", cwd=tmp_path)
    assert (empty_json.returncode, json.loads(empty_json.stdout)) == (0, [])

    long_input = "Summarise this project\nfor a newcomer, with every detail that matters most"
    done = _cli("-p", long_input, "--backend", "demo", "--store", url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    killed = _killed(url, tmp_path)
    approval = _cli("-p", "Summarise", "--backend", "demo", "--store", url,
                    "--approval", "always", cwd=tmp_path)  # fmt: skip
    assert approval.returncode == 3, approval.stderr
    asks = _waiting_for_the_user(url)
    _lease_expired(url, killed)

    listed = _cli("runs", "list", "--store", url, cwd=tmp_path)
    assert (listed.returncode, listed.stderr) == (0, ""), listed.stderr
    newest_first = [asks, _started(approval), killed, _started(done)]
    summaries = _summaries(url, *newest_first)
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == newest_first
    states = ["waiting for user", "waiting for approval", "running (lease expired)", "completed"]
    inputs = ['"deploy it"', '"Summarise"', '"Summarise"',
              '"Summarise this project for a newcomer, with every…"']  # fmt: skip
    agents = ["helper", "agentcycle", "agentcycle", "agentcycle"]
    starts: set[int] = set()
    for line, summary, state, agent, text in zip(lines, summaries, states, agents, inputs,
                                                 strict=True):  # fmt: skip
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(summary["created_ms"] / 1000))
        cycles = summary["cycles_committed"]
        columns = re.split(r"\s{2,}", line)
        starts.add(line.index(created))  # the columns line up
        assert columns == [
            summary["run_id"],
            state,
            created,
            f"{cycles} cycle{'' if cycles == 1 else 's'}",
            agent,
            text,
        ], line
    assert len(starts) == 1
    assert [s["cycles_committed"] for s in summaries[1:3]] == [2, 2]  # approval: cycle 3 asks

    first_two = _cli("runs", "list", "--store", url, "--limit", "2", cwd=tmp_path)
    assert [re.split(r"\s{2,}", line) for line in first_two.stdout.splitlines()] == [
        re.split(r"\s{2,}", line) for line in lines[:2]
    ]
    assert first_two.stderr == "agentcycle: the store holds older runs too; --limit N shows more\n"
    as_json = _cli("runs", "list", "--store", url, "--json", "--limit", "3", cwd=tmp_path)
    assert (as_json.returncode, as_json.stderr.endswith("--limit N shows more\n")) == (0, True)
    assert json.loads(as_json.stdout) == summaries[:3]
    assert summaries[0]["state"] == "waiting for user" and summaries[0]["input"] == "deploy it"


def test_runs_cancel_stops_a_run_when_it_is_resumed(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    killed = _killed(url, tmp_path)
    _lease_expired(url, killed)
    cancel = _cli("runs", "cancel", killed, "--store", url, "--reason", "wrong folder",
                  cwd=tmp_path)  # fmt: skip
    assert (cancel.returncode, cancel.stdout) == (0, "")
    assert cancel.stderr == (
        f"agentcycle: cancel requested for run {killed}; its process is gone: it ends as "
        f"cancelled when it is resumed (agentcycle resume {killed} --store {url}, or by a "
        "worker), before its next model or tool call\n"
    )
    listed = _cli("runs", "list", "--store", url, cwd=tmp_path)
    assert "  running (lease expired), cancel requested  " in listed.stdout
    again = _cli("runs", "cancel", killed, "--store", url, cwd=tmp_path)
    assert again.returncode == 0
    assert again.stderr.startswith(
        f"agentcycle: a cancel was already requested for run {killed} (wrong folder); its "
        "process is gone"
    )

    resumed = _cli("resume", killed, "--store", url, "--lease-ttl", "0.3", cwd=tmp_path)
    assert resumed.returncode == 130, resumed.stderr  # cancelled
    assert "agentcycle: run cancelled\n" in resumed.stderr
    assert not (tmp_path / "REPORT.md").exists()  # stopped before cycle 3's model call
    status = json.loads(_cli("runs", "status", killed, "--store", url, cwd=tmp_path).stdout)
    assert (status["run_status"], status["cycles_committed"]) == ("cancelled", 2)
    assert status["cancel_requested"] == "wrong folder"
    watched = _cli("runs", "watch", killed, "--store", url, "--events", cwd=tmp_path)
    ending = json.loads(watched.stdout.splitlines()[-1])
    assert (ending["type"], ending["reason"]) == ("run_cancelled", "wrong folder")

    ended = _cli("runs", "cancel", killed, "--store", url, cwd=tmp_path)
    assert ended.returncode == 1
    assert ended.stderr == (
        f"agentcycle: run '{killed}' already ended (cancelled): there is nothing to cancel\n"
    )
    unknown = _cli("runs", "cancel", "nope", "--store", url, cwd=tmp_path)
    assert (unknown.returncode, unknown.stderr) == (1, f"agentcycle: no run 'nope' in {url}\n")


def test_runs_cancel_says_when_each_run_will_stop(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    done = _cli("-p", "Summarise", "--backend", "demo", "--store", url, cwd=tmp_path)
    finished = _cli("runs", "cancel", _started(done), "--store", url, cwd=tmp_path)
    assert finished.returncode == 1
    assert finished.stderr == (
        f"agentcycle: run '{_started(done)}' already ended (completed): there is nothing to "
        "cancel\n"
    )
    held = _killed(url, tmp_path, lease_ttl="60")  # its lease outlives the test
    live = _cli("runs", "cancel", held, "--store", url, cwd=tmp_path)
    assert (live.returncode, live.stderr) == (0, (
        f"agentcycle: cancel requested for run {held}; it stops at its next model or tool "
        f"call, or heartbeat (agentcycle runs watch {held} --store {url} follows it)\n"
    ))  # fmt: skip
    asks = _waiting_for_the_user(url)
    waiting = _cli("runs", "cancel", asks, "--store", url, cwd=tmp_path)
    assert (waiting.returncode, waiting.stderr) == (0, (
        f"agentcycle: cancel requested for run {asks}; it is waiting for the user and nothing "
        f"runs it: it ends as cancelled when it is resumed (agentcycle resume {asks} --store "
        f"{url}), before anything else\n"
    ))  # fmt: skip
    approval = _cli("-p", "Summarise", "--backend", "demo", "--store", url,
                    "--approval", "always", cwd=tmp_path)  # fmt: skip
    pending = _cli("runs", "cancel", _started(approval), "--store", url, cwd=tmp_path)
    assert pending.returncode == 0
    assert "it is waiting for approval and nothing runs it: it ends as cancelled when it is " \
        "resumed (agentcycle resume " in pending.stderr  # fmt: skip
    states = [s["state"] for s in _summaries(url, held, asks, _started(approval))]
    assert states == [
        "running (leased), cancel requested",
        "waiting for user, cancel requested",
        "waiting for approval, cancel requested",
    ]
    store = open_checkpoint_store(url)
    try:
        assert store.cancel_requested(held) == "cancelled from the terminal"
    finally:
        store.close()


def test_a_run_waiting_for_approval_ends_cancelled_when_resumed_after_a_cancel(
    tmp_path: Path,
) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    approval = _cli("-p", "Summarise", "--backend", "demo", "--store", url,
                    "--approval", "always", cwd=tmp_path)  # fmt: skip
    assert approval.returncode == 3, approval.stderr  # waiting for approval
    run_id = _started(approval)
    assert _cli("runs", "cancel", run_id, "--store", url, cwd=tmp_path).returncode == 0
    # Resumed without decisions (no terminal to ask on): it ends, it does not ask again, and
    # the pending call is closed as not run.
    resumed = _cli("resume", run_id, "--store", url, "--approval", "always", cwd=tmp_path)
    assert resumed.returncode == 130, resumed.stderr
    assert "failed: tool_call_skipped: Not run: run cancelled.\n" in resumed.stderr
    assert "agentcycle: run cancelled\n" in resumed.stderr
    (summary,) = _summaries(url, run_id)
    assert summary["state"] == "cancelled"


def test_watching_a_waiting_run_prints_its_question_and_what_it_waits_for(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    run_id = _waiting_for_the_user(url)
    watched = _cli("runs", "watch", run_id, "--store", url, cwd=tmp_path)
    assert watched.returncode == 3, watched.stderr  # waiting, as a run's own exit says
    assert watched.stdout == "Which env?\n"
    assert watched.stderr.endswith("waiting for user · 1 cycle\n"), watched.stderr


def test_resume_goes_on_in_the_runs_own_workspace(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# Sample\n")
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    run_id = _killed(url, tmp_path, "0.3", "--workspace", "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # Typed from another folder, without --workspace: the run's own workspace, not this one.
    resumed = _cli("resume", run_id, "--store", url, cwd=elsewhere)
    assert resumed.returncode == 0, resumed.stderr
    assert "Request: Summarise" in (project / "REPORT.md").read_text()
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("command", [("-p", "x", "--store", "memory:"), ("resume", "run_x")])
@pytest.mark.parametrize(
    ("value", "says"),
    [("0", "must be more than 0 seconds, not 0"), ("abc", "'abc' is not a number of seconds")],
)
def test_a_lease_ttl_that_is_no_duration_is_a_usage_error(
    command: tuple[str, ...], value: str, says: str, tmp_path: Path
) -> None:
    store = () if "--store" in command else ("--store", f"sqlite:///{tmp_path / 'runs.db'}")
    proc = _cli(*command, *store, "--lease-ttl", value, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.endswith(f"error: argument --lease-ttl: {says}\n"), proc.stderr
    assert not (tmp_path / "runs.db").exists()


def test_watching_an_unknown_run_names_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    _empty_store(tmp_path / "runs.db")
    proc = _cli("runs", "watch", "run_nope", "--store", url, cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (1, f"agentcycle: no run 'run_nope' in {url}\n")


def test_a_run_kept_in_memory_is_told_it_cannot_outlive_its_process(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    proc = _cli("-p", "Summarise", "--backend", "demo", "--store", "memory:", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith(
        "agentcycle: note: a memory: store lives as long as this process: the run cannot be "
        "resumed or watched from another one (sqlite:///.agentcycle/runs.db keeps it)\n"
    )
