"""Runs killed with SIGKILL (a crash point, or ``kill -9`` from outside) resume from their
store: the log stays contiguous, the event stream has no gap and no duplicate, no effect is
silently repeated, and idempotent effects happen exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from agentcycle import Runner
from agentcycle.errors import EffectNeedsReconciliation
from agentcycle.events import RunStatus
from agentcycle.messages import ToolResult
from agentcycle.runtime.crashpoints import CRASHPOINT_ENV, CRASHPOINTS
from agentcycle.runtime.durable import Durability, durable_events, run_status
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.stores.run_records import RecordKind
from tests.durable import scenario

ROOT = Path(__file__).resolve().parents[2]
CYCLES = 3


@pytest.fixture(params=["sqlite", "redis"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL other processes can open."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    prefix = request.getfixturevalue("redis_prefix")
    return f"redis://127.0.0.1:6379/0?key_prefix={prefix}"


def _scenario(
    mode: str, url: str, run_id: str, directory: Path, *extra: str, crash: str | None = None
) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.pop(CRASHPOINT_ENV, None)
    if crash is not None:
        env[CRASHPOINT_ENV] = crash
    argv = [sys.executable, "-m", "tests.durable.scenario", mode, url, run_id, str(directory)]
    return subprocess.Popen(
        [*argv, str(CYCLES), *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )


def _lines(path: Path) -> Counter[str]:
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


def _check_log(store: CheckpointStore, run_id: str) -> None:
    """Contiguous seqs, non-decreasing epochs, one terminal, each cycle committed once, and
    a durable event stream with every seq exactly once."""
    records = store.read(run_id)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    epochs = [r.epoch for r in records]
    assert epochs == sorted(epochs)
    assert [r.kind for r in records].count(RecordKind.TERMINAL) == 1
    commits = [r.key for r in records if r.kind is RecordKind.CYCLE_COMMITTED]
    assert len(commits) == len(set(commits))
    seqs = [e.seq for e in durable_events(store, run_id)]
    assert seqs == list(range(1, len(seqs) + 1))


# ``heartbeat`` fires only in a cycle longer than a beat: the Celery crash suite slows one.
@pytest.mark.parametrize("point", [p for p in CRASHPOINTS if p != "heartbeat"])
async def test_a_run_killed_at_each_crash_point_resumes(
    point: str, shared_url: str, tmp_path: Path
) -> None:
    run_id = f"crash_{point}"
    died = _scenario("start", shared_url, run_id, tmp_path, crash=f"{point}:2")
    assert died.wait(timeout=60) == -signal.SIGKILL
    store = open_checkpoint_store(shared_url)
    try:
        assert run_status(store, run_id)["log_status"] == "running"  # type: ignore[index]
        options = Durability(lease_ttl=scenario.LEASE_TTL, on_unverified="tell_model")
        result = await Runner.resume_run(
            scenario.agent(tmp_path, CYCLES),
            run_id,
            config=scenario.config(shared_url, durability=options),
        )
        assert result.status is RunStatus.COMPLETED
        _check_log(store, run_id)
        status = run_status(store, run_id)
        assert status is not None
        counters = status["counters"]
        # The model is never asked again for an answer that was durable.
        assert _lines(tmp_path / "model.log") == Counter(str(k) for k in range(1, CYCLES + 2))
        # The idempotent tool acted exactly once per cycle, whatever the crash point.
        assert _lines(tmp_path / "b.txt") == Counter(f"L{k}" for k in range(1, CYCLES + 1))
        a = _lines(tmp_path / "a.txt")
        if point in ("after_effect_intent", "mid_tool"):
            # The non-idempotent call's intent has no result: flagged, never re-run.
            assert counters["effects_unverified"] == 1
            expected = Counter({"L1": 1, "L3": 1, "L2": 1 if point == "mid_tool" else 0})
            assert a == +expected
        else:
            assert counters["effects_unverified"] == 0
            assert a == Counter(f"L{k}" for k in range(1, CYCLES + 1))
    finally:
        store.close()


async def test_verify_settles_an_interrupted_non_idempotent_call(
    shared_url: str, tmp_path: Path
) -> None:
    died = _scenario("start", shared_url, "verified", tmp_path, "--verify", crash="mid_tool:2")
    assert died.wait(timeout=60) == -signal.SIGKILL
    resumed = _scenario("resume", shared_url, "verified", tmp_path, "--verify")
    assert resumed.wait(timeout=60) == 0
    store = open_checkpoint_store(shared_url)
    try:
        _check_log(store, "verified")
        status = run_status(store, "verified")
        assert status is not None
        assert status["counters"]["effects_verified"] == 1
        assert status["counters"]["effects_unverified"] == 0
        assert _lines(tmp_path / "a.txt") == Counter(f"L{k}" for k in range(1, CYCLES + 1))
    finally:
        store.close()


async def test_pause_waits_for_the_host_to_reconcile(shared_url: str, tmp_path: Path) -> None:
    died = _scenario("start", shared_url, "paused", tmp_path, crash="mid_tool:2")
    assert died.wait(timeout=60) == -signal.SIGKILL
    the_agent = scenario.agent(tmp_path, CYCLES)
    paused = await Runner.resume_run(the_agent, "paused", config=scenario.config(shared_url))
    assert paused.status is RunStatus.FAILED
    assert paused.error is not None
    assert paused.error["code"] == EffectNeedsReconciliation.code
    assert paused.error["details"]["tool_call_id"] == "c2_a"
    store = open_checkpoint_store(shared_url)
    try:
        status = run_status(store, "paused")
        assert status is not None
        assert (status["log_status"], status["waiting_for"]) == ("waiting", "reconciliation")
        # What the host must settle is in the status: the call, its cycle and its class.
        details = status["error"]["details"]
        assert (details["tool_call_id"], details["tool_name"]) == ("c2_a", "append_line")
        assert (details["cycle_index"], details["effect_class"]) == (2, "non_idempotent")
        result = await Runner.resume_run(
            the_agent,
            "paused",
            resolutions={"c2_a": ToolResult.success("appended")},
            config=scenario.config(shared_url),
        )
        assert result.status is RunStatus.COMPLETED
        _check_log(store, "paused")
        assert _lines(tmp_path / "a.txt") == Counter(f"L{k}" for k in range(1, CYCLES + 1))
    finally:
        store.close()


async def test_a_call_allowed_before_the_kill_is_not_asked_about_again(
    shared_url: str, tmp_path: Path
) -> None:
    # Cycle 2's append_line was allowed, its intent written, and the process killed inside
    # the call: the resume settles the call (here: pauses for the host) without asking a
    # person about a call they allowed already.
    died = _scenario("start", shared_url, "allowed", tmp_path, "--approve", crash="mid_tool:2")
    assert died.wait(timeout=60) == -signal.SIGKILL
    assert _lines(tmp_path / "approvals.log") == Counter({"c1_a": 1, "c2_a": 1})
    resumed = _scenario("resume", shared_url, "allowed", tmp_path, "--approve")
    out, _ = resumed.communicate(timeout=60)
    assert json.loads(out.splitlines()[-1])["status"] == "failed"  # paused: reconciliation
    assert _lines(tmp_path / "approvals.log") == Counter({"c1_a": 1, "c2_a": 1})
    store = open_checkpoint_store(shared_url)
    try:
        status = run_status(store, "allowed")
        assert status is not None and status["waiting_for"] == "reconciliation"
    finally:
        store.close()


@pytest.mark.parametrize("execution", ["inline", "thread"])
async def test_kill_9_from_outside_mid_tool(
    execution: str, shared_url: str, tmp_path: Path
) -> None:
    mode = f"--{execution}"
    process = _scenario("start", shared_url, "killed", tmp_path, "--hang-at=2", mode)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "READY"  # inside cycle 2's idempotent call
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    resumed = _scenario("resume", shared_url, "killed", tmp_path, mode)
    assert resumed.wait(timeout=60) == 0
    store = open_checkpoint_store(shared_url)
    try:
        _check_log(store, "killed")
        status = run_status(store, "killed")
        assert status is not None
        assert status["run_status"] == "completed"
        assert status["counters"]["effects_retried_idempotent"] == 1
        assert _lines(tmp_path / "b.txt") == Counter(f"L{k}" for k in range(1, CYCLES + 1))
        assert _lines(tmp_path / "a.txt") == Counter(f"L{k}" for k in range(1, CYCLES + 1))
    finally:
        store.close()
