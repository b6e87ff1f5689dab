"""Per-cycle overhead of a durable run (``RunConfig.checkpoint_store``) over an in-memory one.

Each cycle: one model call (scripted, instant) that calls one trivial tool; the last cycle
calls ``task_finish``. The tool's effect class decides the appends per durable cycle (each
carrying the records and events since the previous one): ``read`` 1 (the commit, with the
cycle's start, model intent and answer), ``idempotent`` 2 (the model's answer is a barrier
before the call; its result goes with the commit), ``non_idempotent`` 3 (the answer rides with
the call's durable intent; then its durable result, and the commit). For each store (memory;
SQLite on a temporary file; Redis at 127.0.0.1:6379 under a throwaway key prefix, deleted
afterwards; one store of each kind for all its runs, as a deployment's runs share one, warmed
up by a short run before the first timed one) and run length,
prints the mean µs per cycle of the plain run and the durable run (cycles timed by their
events: from one ``cycle_started`` to the next, the last to ``run_completed``; the best of
``--repeat`` pairs, each pair run back to back), the difference (the durable overhead per
cycle), the difference of the median cycle times (insensitive to the occasional slow write,
such as a SQLite WAL checkpoint's fsync), what a durable run adds once, outside its cycles
(``per run``: the run's creation, lease and header record before its first cycle, its ending
record and the lease's release after it), and the durable run's last-10 %/first-10 % cycle
time ratio (flat is 1.0).

With ``--celery``, also the throughput of Celery execution: ``--celery-runs`` (200) runs of
``--celery-cycles`` (5) cycles each, submitted at once with ``Runner.submit`` to two
``agentcycle worker`` subprocesses (prefork, one pool child each; Redis as broker and store in
database ``--celery-db``, flushed before and after), timed from the first submit to the last
terminal record: cycles per second and runs per second over the 2 workers.

Run: ``.venv/bin/python benchmarks/durable.py`` (``--cycles 10 100 1000``, ``--repeat 3``,
``--stores memory,sqlite,redis``, ``--celery``; ``--stores none --celery`` for Celery alone).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple

from agentcycle import Agent, RunConfig, Runner
from agentcycle.messages import ToolResult
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.stores import CheckpointStore
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.base import SideEffect, ToolContext

REDIS_URL = "redis://127.0.0.1:6379/0"


class Tick:
    """A trivial tool; ``effect_class`` decides which records surround its calls."""

    name = "tick"
    description = "A trivial tool."
    parameters = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    side_effect = SideEffect.NONE
    read_only = False
    needs_approval = False
    timeout_seconds = None

    def __init__(self, effect_class: str) -> None:
        self.effect_class = effect_class

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        return ToolResult.success("ok")


class Measured(NamedTuple):
    """One run's times in µs (see ``measure``)."""

    run: float
    cycle_mean: float
    cycle_median: float
    ratio: float


def make_model(cycles: int) -> ScriptedModel:
    def step(request: ModelRequest) -> ModelResponse:
        index = request.cycle_index or 0
        if index >= cycles:
            return call_tool("task_finish", {"message": "done"})
        return call_tool("tick", {"n": index})

    return ScriptedModel(step)


async def measure(cycles: int, store: CheckpointStore | None, effect: str = "read") -> Measured:
    """One run's times in µs: the whole run, and the mean and median cycle (cycles timed from
    one ``cycle_started`` to the next, the last to ``run_completed``), and the cycles'
    last-10 %/first-10 % ratio."""
    agent = Agent(model=make_model(cycles), tools=[Tick(effect)], max_cycles=cycles + 1)
    start = time.perf_counter()
    handle = await Runner.start(agent, "benchmark", config=RunConfig(checkpoint_store=store))
    result = await handle.result()
    total = time.perf_counter() - start
    assert result.completed, result.error
    events = [e async for e in handle.events()]
    stamps = [e.created_at for e in events if e.type in ("cycle_started", "run_completed")]
    per_cycle = [b - a for a, b in itertools.pairwise(stamps)]
    tenth = max(1, len(per_cycle) // 10)
    ratio = (sum(per_cycle[-tenth:]) / tenth) / (sum(per_cycle[:tenth]) / tenth)
    return Measured(
        total * 1e6,
        statistics.mean(per_cycle) * 1e6,
        statistics.median(per_cycle) * 1e6,
        ratio,
    )


def celery_agent(metadata: dict[str, Any]) -> Agent:
    """The agent factory of the Celery runs: ``cycles`` cycles of the ``idempotent`` tick."""
    cycles = int(metadata["cycles"])
    return Agent(model=make_model(cycles), tools=[Tick("idempotent")], max_cycles=cycles + 1)


def celery_throughput(runs: int, cycles: int, db: int) -> None:
    """Submit ``runs`` runs to two workers and print cycles/s and runs/s."""
    import redis

    from agentcycle.stores.checkpoints import LogStatus

    base = f"redis://127.0.0.1:6379/{db}"
    store_url = f"{base}?key_prefix=bench:"
    client: Any = redis.Redis.from_url(base)
    client.flushdb()
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), str(here.parent)])}
    argv = [sys.executable, "-m", "agentcycle", "worker", "--store", store_url, "--broker", base]
    workers = [
        subprocess.Popen(
            [*argv, "--concurrency", "1", "--hostname", f"bench{i}@%h", "--loglevel", "WARNING"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for i in (1, 2)
    ]
    store = open_checkpoint_store(store_url)
    try:
        config = RunConfig(checkpoint_store=store_url, broker=base, metadata={"cycles": cycles})
        warm = Runner.submit_sync("durable:celery_agent", "warm-up", config=config)
        warm.wait(timeout=120)  # both workers up, imports done
        warm.close()
        start = time.perf_counter()
        ids = [
            Runner.submit_sync("durable:celery_agent", "benchmark", config=config).run_id
            for _ in range(runs)
        ]
        submitted = time.perf_counter() - start
        pending = set(ids)
        while pending:
            pending = {r for r in pending if (h := store.head(r)) and h.status is LogStatus.RUNNING}
            time.sleep(0.05)
        elapsed = time.perf_counter() - start
        print(
            f"celery: {runs} runs x {cycles} cycles on 2 workers in {elapsed:.1f} s "
            f"(submitting took {submitted:.1f} s): {runs * cycles / elapsed:.0f} cycles/s, "
            f"{runs / elapsed:.1f} runs/s"
        )
    finally:
        store.close()
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
        client.flushdb()
        client.close()


def open_store(kind: str, directory: Path, prefix: str) -> CheckpointStore:
    """The store of ``kind`` every durable run of the benchmark uses, as a deployment's runs
    share one, warmed up by a short run (a SQLite file created with its schema, its
    statements prepared; a Redis connection made, its scripts loaded): what the runs are
    timed with is what each run and each cycle adds, not the store's first use."""
    if kind == "memory":
        store = open_checkpoint_store("memory:")
    elif kind == "sqlite":
        store = open_checkpoint_store(f"sqlite:///{directory / 'runs.db'}")
    else:
        store = open_checkpoint_store(f"{REDIS_URL}?key_prefix={prefix}")
    asyncio.run(measure(20, store))
    return store


def best_pair(
    cycles: int, repeat: int, store: CheckpointStore, effect: str
) -> tuple[Measured, Measured]:
    """The best plain run and the best durable run (by mean) of ``repeat`` pairs, each pair
    run back to back, so that both see the same spells of the machine's other load (which
    only ever adds time)."""
    plain: list[Measured] = []
    durable: list[Measured] = []
    for _ in range(repeat):
        plain.append(asyncio.run(measure(cycles, None, effect)))
        durable.append(asyncio.run(measure(cycles, store, effect)))
    return min(plain, key=lambda r: r.run), min(durable, key=lambda r: r.run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stores", default="memory,sqlite,redis", help="or 'none'")
    parser.add_argument("--celery", action="store_true", help="also measure Celery throughput")
    parser.add_argument("--celery-runs", type=int, default=200)
    parser.add_argument("--celery-cycles", type=int, default=5)
    parser.add_argument("--celery-db", type=int, default=7)
    parser.add_argument(
        "--effects",
        default="read,idempotent,non_idempotent",
        help="the tool's effect classes to measure",
    )
    args = parser.parse_args()
    if args.stores == "none":
        args.stores = ""
    if args.celery:
        celery_throughput(args.celery_runs, args.celery_cycles, args.celery_db)
    if not args.stores:
        return
    prefix = f"agentcycle-bench:{uuid.uuid4().hex}:"
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        asyncio.run(measure(50, None))  # warm-up: imports, schema compilation
        stores = {kind: open_store(kind, directory, prefix) for kind in args.stores.split(",")}
        print(
            f"{'effect':>14} {'store':>7} {'cycles':>7} {'plain µs':>9} {'durable µs':>11} "
            f"{'overhead µs':>12} {'median':>7} {'per run µs':>11} {'last/first':>10}"
        )
        try:
            for effect in args.effects.split(","):
                for kind in args.stores.split(","):
                    for n in args.cycles:
                        plain, durable = best_pair(
                            n,
                            args.repeat,
                            stores[kind],
                            effect,
                        )
                        # Per run: what the durable run adds outside its cycles (its creation,
                        # lease and header before them, its ending record after), once.
                        per_run = (durable.run - plain.run) - n * (
                            durable.cycle_mean - plain.cycle_mean
                        )
                        print(
                            f"{effect:>14} {kind:>7} {n:>7} {plain.cycle_mean:>9.1f} "
                            f"{durable.cycle_mean:>11.1f} "
                            f"{durable.cycle_mean - plain.cycle_mean:>12.1f} "
                            f"{durable.cycle_median - plain.cycle_median:>7.1f} "
                            f"{per_run:>11.0f} {durable.ratio:>10.2f}"
                        )
        finally:
            for store in stores.values():
                store.close()
            if "redis" in args.stores:
                import redis

                client: Any = redis.Redis.from_url(REDIS_URL)
                keys = list(client.scan_iter(match=f"{prefix}*"))
                if keys:
                    client.delete(*keys)
                client.close()


if __name__ == "__main__":
    main()
