"""Per-append cost of the checkpoint stores as a run's log grows.

For each store (memory; SQLite on a temporary file; Redis at 127.0.0.1:6379 under a throwaway
key prefix, deleted afterwards) and each log size (10, 100, 1,000 and 10,000 records), ``--runs``
runs are filled to exactly that size (filler records appended 500 at a time); then, the sizes
taking turns, each run gets one append of a cycle's worth of records (model intent and result,
a tool call's intent and result, the cycle commit: 5 records, about 2 KB) under a lease, timed
on its own. Record drafts are built before the clock starts: the time is the store's. Prints
the median and 90th percentile per append and, per store, the ratio of the largest log's
median to the smallest's, which stays near 1 when an append costs O(records appended), never
O(log).

Run: ``.venv/bin/python benchmarks/checkpoint_store.py`` (``--runs 20`` by default,
``--sizes 10,100,1000,10000``, ``--stores memory,sqlite,redis``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentcycle.stores import (
    CheckpointStore,
    MemoryCheckpointStore,
    NewRecord,
    RecordKind,
    RedisCheckpointStore,
    SQLiteCheckpointStore,
    record_keys,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
FILL_BATCH = 500


def cycle(run: int) -> list[NewRecord]:
    """The 5 records one cycle appends (about 2 KB in all)."""
    call = f"call_{run}"
    return [
        NewRecord(RecordKind.MODEL_INTENT, record_keys.model_intent(1), {"request": "ab" * 32}),
        NewRecord(
            RecordKind.MODEL_RESULT,
            record_keys.model_result(1),
            {"text": "a model answer " * 60, "usage": {"input": 1200, "output": 240}},
        ),
        NewRecord(
            RecordKind.EFFECT_INTENT,
            record_keys.effect_intent(1, call),
            {"tool": "write_file", "args": {"path": "notes.md", "text": "x" * 120}},
        ),
        NewRecord(
            RecordKind.EFFECT_RESULT,
            record_keys.effect_result(1, call),
            {"outcome": "ok", "result": "wrote 120 bytes " * 20},
        ),
        NewRecord(RecordKind.CYCLE_COMMITTED, record_keys.cycle_committed(1), {"cycle": 1}),
    ]


def fill(store: CheckpointStore, run_id: str, size: int, epoch: int) -> None:
    """Append filler records until the run's log holds ``size`` records."""
    seq = 2
    while seq <= size:
        count = min(FILL_BATCH, size - seq + 1)
        batch = [
            NewRecord(RecordKind.EVENT, f"fill/{seq + i}", {"i": seq + i, "text": "x" * 40})
            for i in range(count)
        ]
        store.append(run_id, batch, expected_seq=seq, epoch=epoch)
        seq += count


def prepare(store: CheckpointStore, size: int, runs: int) -> list[tuple[str, int]]:
    """``runs`` leased runs whose logs hold ``size`` records: ``(run_id, epoch)`` each."""
    prepared = []
    for run in range(runs):
        run_id = f"bench-{size}-{run}-{uuid.uuid4().hex[:8]}"
        store.create_run(run_id, {"agent": "bench"})
        lease = store.acquire_lease(run_id, "bench", 600_000)
        assert lease is not None
        fill(store, run_id, size, lease.epoch)
        prepared.append((run_id, lease.epoch))
    return prepared


def measure(store: CheckpointStore, sizes: list[int], runs: int) -> dict[int, list[float]]:
    """Seconds of one cycle's append on each run of each size. Every run is filled first,
    then the sizes take turns, so load from elsewhere on the machine (and the store settling
    after the fills) falls on every size alike."""
    prepared = {size: prepare(store, size, runs) for size in sizes}
    times: dict[int, list[float]] = {size: [] for size in sizes}
    for run in range(runs):
        for size in sizes:
            run_id, epoch = prepared[size][run]
            records = cycle(run)
            start = time.perf_counter()
            store.append(run_id, records, expected_seq=size + 1, epoch=epoch)
            times[size].append(time.perf_counter() - start)
    return times


def micros(seconds: float) -> str:
    """Seconds as whole microseconds."""
    return f"{seconds * 1e6:,.0f}"


@contextmanager
def opened(name: str) -> Iterator[CheckpointStore]:
    """The store ``name`` on throwaway storage, cleaned up afterwards."""
    if name == "memory":
        yield MemoryCheckpointStore()
    elif name == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            store = SQLiteCheckpointStore(Path(folder) / "runs.db")
            yield store
            store.close()
    elif name == "redis":
        import redis

        prefix = f"agentcycle-bench:{uuid.uuid4().hex}:"
        store = RedisCheckpointStore(REDIS_URL, key_prefix=prefix)
        try:
            yield store
        finally:
            store.close()
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
            for first in range(0, len(keys), 1000):
                client.delete(*keys[first : first + 1000])
            client.close()
    else:
        raise SystemExit(f"unknown store {name!r}: memory, sqlite or redis")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--stores", default="memory,sqlite,redis")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    print(f"one append of a cycle's 5 records, {args.runs} runs per cell, µs")
    print(f"{'store':<8} {'log size':>9} {'median':>8} {'p90':>8}")
    for name in args.stores.split(","):
        medians = []
        with opened(name) as store:
            measured = measure(store, sizes, args.runs)
        for size in sizes:
            times = sorted(measured[size])
            medians.append(statistics.median(times))
            p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
            print(f"{name:<8} {size:>9,} {micros(medians[-1]):>8} {micros(p90):>8}")
        print(f"{name:<8} largest / smallest log median: {medians[-1] / medians[0]:.2f}")


if __name__ == "__main__":
    main()
