"""The crash suite: durable runs on two real Celery workers (``agentcycle worker``, prefork,
real Redis as broker and store) survive SIGKILL at every crash point, of the pool child or of
the whole worker, a worker frozen past its lease (zombie), a warm shutdown and a cancel.

Per case: the run ends as it should, its log is contiguous with one terminal record, its event
stream has every seq once, no non-idempotent effect is repeated (an interrupted one is flagged
unverified instead), idempotent effects happen exactly once and the model is never asked twice
for an answer that was durable. Latencies come from the records' timestamps (store clock) and
are printed at the end of the session.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agentcycle import RunConfig, Runner
from agentcycle.runtime.crashpoints import CRASHPOINTS
from agentcycle.runtime.durable import Durability, durable_events
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.stores.run_records import RecordKind, RunRecord
from agentcycle.submitted import SubmittedRun
from tests.celery.conftest import Cluster

LEASE_TTL = 2.0
CYCLES = 3
FACTORY = "tests.celery.crash_app:agent"
FLAGGED = ("after_effect_intent", "mid_tool")
"""Crash points where cycle 2's non-idempotent call may have acted with no durable result."""


def _submit(cluster: Cluster, directory: Path, **metadata: Any) -> SubmittedRun:
    config = RunConfig(
        checkpoint_store=cluster.store,
        broker=cluster.broker,
        durability=Durability(lease_ttl=LEASE_TTL, on_unverified="tell_model"),
        metadata={"dir": str(directory), "cycles": CYCLES, **metadata},
    )
    return Runner.submit_sync(FACTORY, "go", config=config)


def _lines(path: Path) -> Counter[str]:
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


def _until(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polling the store or a file: the condition lives in another process
    return value


def _records(cluster: Cluster, run_id: str) -> list[RunRecord]:
    store = open_checkpoint_store(cluster.store)
    try:
        return store.read(run_id)
    finally:
        store.close()


def _check_log(store: CheckpointStore, run_id: str) -> list[RunRecord]:
    records = store.read(run_id)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    epochs = [r.epoch for r in records]
    assert epochs == sorted(epochs)  # no record of an old owner after a takeover
    assert [r.kind for r in records].count(RecordKind.TERMINAL) == 1
    commits = [r.key for r in records if r.kind is RecordKind.CYCLE_COMMITTED]
    assert len(commits) == len(set(commits))
    seqs = [e.seq for e in durable_events(store, run_id)]
    assert seqs == list(range(1, len(seqs) + 1))
    return records


def _handover(records: list[RunRecord]) -> float | None:
    """Seconds between the last record of one owner and the first of the next (the longest
    such gap): how long the run had no live owner."""
    gaps = [(b.ts - a.ts) / 1000 for a, b in itertools.pairwise(records[1:]) if b.epoch > a.epoch]
    return max(gaps) if gaps else None


def _finish(
    cluster: Cluster,
    run: SubmittedRun,
    directory: Path,
    case: str,
    mode: str,
    *,
    flagged: bool = False,
    status: str = "completed",
    cancel: float | None = None,
) -> dict[str, Any]:
    """Wait for the run, check every invariant, and add the case's row to the report."""
    final = run.wait(timeout=60)
    run.close()
    assert final["run_status"] == status, final
    store = open_checkpoint_store(cluster.store)
    try:
        records = _check_log(store, run.run_id)
    finally:
        store.close()
    counters = final["counters"]
    a, b = _lines(directory / "a.txt"), _lines(directory / "b.txt")
    models = _lines(directory / "model.log")
    done = final["cycles_committed"] if status == "cancelled" else CYCLES
    # No non-idempotent effect twice; an idempotent one exactly once.
    assert all(count == 1 for count in a.values()), a
    assert all(count == 1 for count in b.values()), b
    if status == "completed":
        assert set(b) == {f"L{k}" for k in range(1, CYCLES + 1)}
        # The model is never asked again for an answer that was durable.
        assert models == Counter(str(k) for k in range(1, CYCLES + 2))
    if flagged:
        assert counters["effects_unverified"] == 1  # the interrupted call: flagged, not re-run
        assert {f"L{k}" for k in (1, 3)} <= set(a)
    else:
        assert counters["effects_unverified"] == 0
        assert set(a) >= {f"L{k}" for k in range(1, done + 1)}
    row = {
        "case": case,
        "mode": mode,
        "resume": _handover(records),
        "cancel": cancel,
        "epochs": len({r.epoch for r in records[1:]}),
        "model_dup": counters["model_calls_duplicated"],
        "idem_retries": counters["effects_retried_idempotent"],
        "non_idem_dup": sum(c - 1 for c in a.values()),
        "unverified": counters["effects_unverified"],
        "records": records,
    }
    cluster.report.append({k: v for k, v in row.items() if k != "records"})
    return row


@pytest.mark.parametrize("mode", ["child", "group"])
@pytest.mark.parametrize("point", CRASHPOINTS)
def test_a_run_survives_sigkill_at_every_crash_point(
    cluster: Cluster, point: str, mode: str, tmp_path: Path
) -> None:
    cluster.keep(2)
    crash = f"{point}:2" + (":group" if mode == "group" else "")
    # The heartbeat crash needs a beat inside cycle 2: its second tool takes 0.6 TTL.
    slow = {"slow_cycle": 2, "slow": LEASE_TTL * 0.6} if point == "heartbeat" else {}
    run = _submit(cluster, tmp_path, crash=crash, **slow)
    row = _finish(cluster, run, tmp_path, f"{point} ({mode})", mode, flagged=point in FLAGGED)
    assert row["epochs"] == 2  # one owner before the kill, one after
    taken = [r for r in row["records"] if r.kind is RecordKind.LEASE_TAKEN]
    assert len(taken) == 1  # a takeover from a dead owner, counted by the crash-loop guard
    assert row["resume"] is not None and row["resume"] < LEASE_TTL + 5
    if mode == "group":  # the whole worker died with its pool child
        assert len(cluster.live()) == 1
    else:
        assert len(cluster.live()) == 2


def test_a_zombie_worker_is_fenced_out(cluster: Cluster, tmp_path: Path) -> None:
    cluster.keep(2)
    run = _submit(cluster, tmp_path, crash="stop")
    group = int(_until("the worker to freeze", lambda: _read(tmp_path / "frozen")))
    zombie = next(w for w in cluster.workers if w.pid == group)
    try:
        row = _finish(cluster, run, tmp_path, "zombie (SIGSTOP past the lease)", "group")
        last_seq = len(row["records"])
    finally:
        os.killpg(group, signal.SIGCONT)
    # It wakes up inside its tool, and its next append is fenced: it stops on its own.
    _until("the zombie to stop", lambda: "'lease_lost'" in zombie.log.read_text(), 30)
    assert len(_records(cluster, run.run_id)) == last_seq
    assert row["epochs"] == 2


def test_warm_shutdown_hands_the_run_over_at_a_cycle_boundary(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.keep(2)
    run = _submit(cluster, tmp_path, slow_cycle=2, slow=1.0)
    store = open_checkpoint_store(cluster.store)
    try:
        head = _until("cycle 2", lambda: _in_cycle(store, run.run_id, 2))
    finally:
        store.close()
    owner = cluster.owner_of(int(head.lease.owner.split(":")[1]))
    os.kill(owner.pid, signal.SIGTERM)
    row = _finish(cluster, run, tmp_path, "warm shutdown (SIGTERM)", "warm")
    assert owner.process.wait(timeout=30) == 0  # it finished its cycle, then exited
    assert not [r for r in row["records"] if r.kind is RecordKind.LEASE_TAKEN]  # a handoff
    assert row["resume"] is not None and row["resume"] < 2.0


def test_a_cancel_reaches_the_worker(cluster: Cluster, tmp_path: Path) -> None:
    cluster.keep(2)
    run = _submit(cluster, tmp_path, slow_cycle=3, slow=LEASE_TTL)
    store = open_checkpoint_store(cluster.store)
    try:
        _until("cycle 3", lambda: _in_cycle(store, run.run_id, 3))
        asked = time.time()
        assert run.cancel("enough")
        final = run.wait(timeout=30)
        terminal = store.read(run.run_id)[-1]
    finally:
        store.close()
    latency = terminal.ts / 1000 - asked
    _finish(
        cluster, run, tmp_path, "cancel in cycle 3", "cancel", status="cancelled", cancel=latency
    )
    assert final["cancel_requested"] == "enough"
    assert latency < LEASE_TTL  # before the next call, or at the next beat at the latest


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def _in_cycle(store: CheckpointStore, run_id: str, cycle: int) -> Any:
    head = store.head(run_id)
    started = any(
        r.kind is RecordKind.CYCLE_STARTED and r.payload.get("cycle") == cycle
        for r in store.read(run_id)
    )
    return head if started and head is not None and head.lease is not None else None
