"""A cluster of real Celery workers (``agentcycle worker`` subprocesses, prefork pool, one pool
child each) on the real local Redis, shared by the crash suite, and the suite's report.

Each session takes a Redis database of its own (8-15, claimed with ``SET NX`` in database 0
and flushed before and after), so sessions running in parallel never see each other's queue
or runs. Redis missing is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.celery.crash_app import SWEEP_INTERVAL

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379"
READY_TIMEOUT = 60.0


@dataclass
class Worker:
    """One ``agentcycle worker`` in a process group of its own (its pid is the group id)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while " ready." not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker {self.name} did not start:\n{self.log.read_text()}")
            time.sleep(0.05)  # polling the worker's log: Celery has no readiness callback here

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@dataclass
class Cluster:
    """The workers, the store and broker URLs of this session, and the report rows."""

    store: str
    broker: str
    env: dict[str, str]
    tmp: Path
    workers: list[Worker] = field(default_factory=list)
    report: list[dict[str, Any]] = field(default_factory=list)
    _count: int = 0

    def start_worker(self) -> Worker:
        self._count += 1
        name = f"w{self._count}"
        log = self.tmp / f"{name}.log"
        argv = [sys.executable, "-m", "agentcycle", "worker", "--store", self.store]
        argv += ["--broker", self.broker, "--concurrency", "1", "--pool", "prefork"]
        argv += ["--hostname", f"{name}@%h", "--sweep-interval", str(SWEEP_INTERVAL)]
        argv += ["--max-segment-seconds", "10", "--visibility-timeout", "30"]
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(name, process, log)
        self.workers.append(worker)
        return worker

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.alive()]

    def keep(self, count: int) -> None:
        """Start workers until ``count`` are alive and ready."""
        for worker in self.workers:
            if not worker.alive():
                worker.process.wait()
        self.workers = self.live()
        new = [self.start_worker() for _ in range(count - len(self.workers))]
        for worker in new:
            worker.wait_ready()

    def owner_of(self, pid: int) -> Worker:
        group = os.getpgid(pid)
        return next(w for w in self.workers if w.pid == group)


def _stop_leftover_workers(broker: str) -> None:
    """Kill the workers a dead session left on ``broker`` (a session killed from outside
    never tears its cluster down, and its workers, in sessions of their own, live on): this
    session holds the database's claim now, so any worker on it is a leftover, and would take
    this session's tasks with the code it started with."""
    marker = f"--broker {broker} ".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if b"agentcycle worker" in argv and marker in argv:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(os.getpgid(int(entry.name)), signal.SIGKILL)


def _claim_db(client: Any, token: str) -> int:
    for db in range(8, 16):
        if client.set(f"agentcycle-test:celery-db:{db}", token, nx=True, ex=900):
            return db
    raise AssertionError("no free Redis database among 8-15 for the Celery crash suite")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    import redis

    control: Any = redis.Redis.from_url(f"{REDIS}/0")
    token = uuid.uuid4().hex
    db = _claim_db(control, token)
    _stop_leftover_workers(f"{REDIS}/{db}")
    data: Any = redis.Redis.from_url(f"{REDIS}/{db}")
    data.flushdb()
    env = dict(os.environ)
    env.pop("AGENTCYCLE_CRASHPOINT", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["AGENTCYCLE_CRASH_WORKER"] = "1"
    cluster = Cluster(
        store=f"{REDIS}/{db}?key_prefix=ac-crash:",
        broker=f"{REDIS}/{db}",
        env=env,
        tmp=tmp_path_factory.mktemp("celery"),
    )
    try:
        cluster.keep(2)
        yield cluster
    finally:
        for worker in cluster.workers:
            worker.kill()
        assert not any(w.alive() for w in cluster.workers)
        data.flushdb()
        data.close()
        if control.get(f"agentcycle-test:celery-db:{db}") == token.encode():
            control.delete(f"agentcycle-test:celery-db:{db}")
        control.close()
        _REPORT.extend(cluster.report)


_REPORT: list[dict[str, Any]] = []


def _stats(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    median = ordered[len(ordered) // 2]
    return f"{median:.2f}/{p95:.2f}/{ordered[-1]:.2f}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The crash suite's figures, per case (resume and cancel latency from the store's clock)."""
    if not _REPORT:
        return
    write = terminalreporter.write_line
    write("")
    write("Celery crash suite (2 prefork workers, real Redis; latencies in s)")
    write(
        f"{'case':34} {'resume':>7} {'cancel':>7} {'epochs':>6} {'model dup':>9} "
        f"{'idem retries':>12} {'non-idem dup':>12} {'unverified':>10}"
    )
    for row in _REPORT:
        resume = "-" if row["resume"] is None else f"{row['resume']:.2f}"
        cancel = "-" if row["cancel"] is None else f"{row['cancel']:.2f}"
        write(
            f"{row['case']:34} {resume:>7} {cancel:>7} {row['epochs']:>6} "
            f"{row['model_dup']:>9} {row['idem_retries']:>12} {row['non_idem_dup']:>12} "
            f"{row['unverified']:>10}"
        )
    for mode in ("child", "group"):
        values = [r["resume"] for r in _REPORT if r["mode"] == mode and r["resume"] is not None]
        write(f"resume latency, {mode} kills (median/p95/max): {_stats(values)}")
