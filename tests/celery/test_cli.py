"""``agentcycle --execution celery`` on the demo backend: the run id on stdout, the run on the
workers (``agentcycle worker``), its status from ``agentcycle runs status``, its events and
answer from ``agentcycle runs watch``."""

from __future__ import annotations

import json
from pathlib import Path

from agentcycle.submitted import SubmittedRun
from tests._cli import run_cli
from tests.celery.conftest import Cluster


def test_a_cli_run_on_celery_workers(cluster: Cluster, tmp_path: Path) -> None:
    cluster.keep(2)
    (tmp_path / "README.md").write_text("# Sample\n")
    submitted = run_cli(
        *("--execution", "celery", "--store", cluster.store, "--broker", cluster.broker),
        *("--backend", "demo", "--workspace", str(tmp_path), "-p", "Summarise the workspace"),
        cwd=tmp_path,
    )
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.strip()
    assert run_id.startswith("run_")
    assert f"agentcycle runs watch {run_id} --store" in submitted.stderr
    with SubmittedRun(run_id, cluster.store) as run:
        types = [event.type for event in run.events(timeout=60)]
    assert types[0] == "run_started" and types[-1] == "run_completed"
    assert "checkpoint_created" in types
    status = run_cli("runs", "status", run_id, "--store", cluster.store, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert (data["log_status"], data["run_status"]) == ("terminal", "completed")
    assert data["final_output"].startswith("Wrote REPORT.md")
    # Following it from the terminal shows the run as it went, then its answer.
    watched = run_cli("runs", "watch", run_id, "--store", cluster.store, cwd=tmp_path)
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.strip() == data["final_output"]
    assert "-> task_finish" in watched.stderr and "completed · " in watched.stderr
    as_events = run_cli("runs", "watch", run_id, "--store", cluster.store, "--events", cwd=tmp_path)
    lines = [json.loads(line) for line in as_events.stdout.splitlines()]
    assert [line["type"] for line in lines] == types


def test_a_broker_nobody_answers_is_one_clear_error_and_leaves_no_run(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    url = "sqlite:///.agentcycle/runs.db"
    submitted = run_cli(
        *("--execution", "celery", "--store", url, "--broker", "redis://:pw@127.0.0.1:1/0"),
        *("--backend", "demo", "-p", "Summarise"),
        cwd=tmp_path,
    )
    assert (submitted.returncode, submitted.stdout) == (1, "")
    assert submitted.stderr.splitlines()[-1].startswith(
        "agentcycle: cannot reach the Celery broker redis://:***@127.0.0.1:1/0: "
    ), submitted.stderr
    assert "Traceback" not in submitted.stderr
    listed = run_cli("runs", "list", "--store", url, "--json", cwd=tmp_path)
    assert json.loads(listed.stdout) == []  # not queued, so not kept
