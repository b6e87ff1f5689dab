"""Cost per cycle of persisting events (``RunConfig.event_store``) and of tracing.

Each cycle: one instant scripted model call that calls one trivial tool (about ten events);
the last cycle calls ``task_finish``. For each setting, prints µs per cycle measured on the loop
(``cycle_started`` to ``run_completed`` timestamps, i.e. what the run itself pays) and end to end
(until ``RunHandle.result()`` returns, i.e. with every event written). Best of ``--repeat``.
Run: ``.venv/bin/python benchmarks/event_store_overhead.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.stores import JsonlRunEventStore, SQLiteRunEventStore
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tracing import JsonlTraceExporter


@function_tool(run_in_thread=False)
def tick(n: int) -> str:
    """A trivial tool."""
    return "ok"


def make_model(cycles: int) -> ScriptedModel:
    def step(request: ModelRequest) -> ModelResponse:
        index = request.cycle_index or 0
        if index >= cycles:
            return call_tool("task_finish", {"message": "done"})
        return call_tool("tick", {"n": index})

    return ScriptedModel(step)


SETTINGS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "none": lambda d: {},
    "jsonl store": lambda d: {"event_store": JsonlRunEventStore(d / "events.jsonl")},
    "sqlite store": lambda d: {"event_store": SQLiteRunEventStore(d / "events.sqlite3")},
    "jsonl trace": lambda d: {"trace_processors": [JsonlTraceExporter(d / "trace.jsonl")]},
}


async def measure(cycles: int, setting: str, directory: Path) -> tuple[float, float]:
    config = RunConfig(**SETTINGS[setting](directory))
    agent = Agent(model=make_model(cycles), tools=[tick], max_cycles=cycles + 1)
    start = time.perf_counter()
    handle = await Runner.start(agent, "benchmark", config=config)
    await handle.result()
    total = time.perf_counter() - start
    events = [e async for e in handle.events()]
    first = next(e.created_at for e in events if e.type == "cycle_started")
    loop_time = events[-1].created_at - first
    if config.event_store is not None:
        await config.event_store.aclose()
    return loop_time / cycles * 1e6, total / cycles * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'setting':>13} {'loop µs/cycle':>14} {'end-to-end µs/cycle':>20}")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(50, "sqlite store", Path(tmp)))  # warm-up
        for setting in SETTINGS:
            runs = []
            for n in range(args.repeat):
                directory = Path(tmp) / f"{setting}-{n}".replace(" ", "-")
                directory.mkdir()
                runs.append(asyncio.run(measure(args.cycles, setting, directory)))
            loop_us, total_us = min(runs, key=lambda r: r[1])
            print(f"{setting:>13} {loop_us:>14.1f} {total_us:>20.1f}")


if __name__ == "__main__":
    main()
