"""Per-cycle overhead of a durable run (``RunConfig.checkpoint_store``) over an in-memory one.

Each cycle: one model call (scripted, instant) that calls one trivial tool; the last cycle
calls ``task_finish``. The tool's effect class decides the appends per durable cycle (each
carrying that step's events): ``read`` 2 (``cycle_started`` + ``model_intent``; the model
result and the commit), ``idempotent`` 3 (the model result is a barrier before the call; its
result goes with the commit), ``non_idempotent`` 5 (durable intent and result around the
call). For each store (memory; SQLite on a
temporary file; Redis at 127.0.0.1:6379 under a throwaway key prefix, deleted afterwards) and
run length, prints the mean µs per cycle of the plain run and the durable run (best of
``--repeat``), the difference (the durable overhead), the difference of the median cycle times
(insensitive to the occasional slow write, such as a SQLite WAL checkpoint's fsync), and the
durable run's last-10 %/first-10 % cycle time ratio (flat is 1.0).

Run: ``.venv/bin/python benchmarks/durable.py`` (``--cycles 10 100 1000``, ``--repeat 3``,
``--stores memory,sqlite,redis``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

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


def make_model(cycles: int) -> ScriptedModel:
    def step(request: ModelRequest) -> ModelResponse:
        index = request.cycle_index or 0
        if index >= cycles:
            return call_tool("task_finish", {"message": "done"})
        return call_tool("tick", {"n": index})

    return ScriptedModel(step)


async def measure(
    cycles: int, store: CheckpointStore | None, effect: str = "read"
) -> tuple[float, float, float]:
    """Mean and median µs per cycle, and the last-10 %/first-10 % ratio."""
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
    return total / len(per_cycle) * 1e6, statistics.median(per_cycle) * 1e6, ratio


def open_store(kind: str, directory: Path, prefix: str) -> CheckpointStore:
    if kind == "memory":
        return open_checkpoint_store("memory:")
    if kind == "sqlite":
        return open_checkpoint_store(f"sqlite:///{directory / f'{uuid.uuid4().hex}.db'}")
    return open_checkpoint_store(f"{REDIS_URL}?key_prefix={prefix}")


def best(cycles: int, repeat: int, store: Any, effect: str) -> tuple[float, float, float]:
    # Best of several runs: the machine's other load only ever adds time.
    return min(
        (asyncio.run(measure(cycles, store(), effect)) for _ in range(repeat)), key=lambda r: r[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stores", default="memory,sqlite,redis")
    parser.add_argument(
        "--effects",
        default="read,idempotent,non_idempotent",
        help="the tool's effect classes to measure",
    )
    args = parser.parse_args()
    prefix = f"agentcycle-bench:{uuid.uuid4().hex}:"
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        asyncio.run(measure(50, None))  # warm-up: imports, schema compilation
        asyncio.run(measure(50, open_store("memory", directory, prefix)))
        print(
            f"{'effect':>14} {'store':>7} {'cycles':>7} {'plain µs':>9} {'durable µs':>11} "
            f"{'overhead µs':>12} {'median overhead':>16} {'last/first':>10}"
        )
        try:
            for effect in args.effects.split(","):
                for kind in args.stores.split(","):
                    for n in args.cycles:
                        plain, plain_median, _ = best(n, args.repeat, lambda: None, effect)
                        durable, median, ratio = best(
                            n,
                            args.repeat,
                            lambda kind=kind: open_store(kind, directory, prefix),
                            effect,
                        )
                        print(
                            f"{effect:>14} {kind:>7} {n:>7} {plain:>9.1f} {durable:>11.1f} "
                            f"{durable - plain:>12.1f} {median - plain_median:>16.1f} "
                            f"{ratio:>10.2f}"
                        )
        finally:
            if "redis" in args.stores:
                import redis

                client: Any = redis.Redis.from_url(REDIS_URL)
                keys = list(client.scan_iter(match=f"{prefix}*"))
                if keys:
                    client.delete(*keys)
                client.close()


if __name__ == "__main__":
    main()
