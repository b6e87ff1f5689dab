"""Per-cycle overhead of the loop with an instant scripted model.

Each cycle: one model call (scripted, instant) that calls one trivial tool; the last cycle calls
``task_finish``. Prints µs per cycle for the first and last 10 % of cycles, their ratio (flat is
1.0), and peak RSS. Run: ``.venv/bin/python benchmarks/cycle_overhead.py``. With
``--context-length`` the model declares a window, so memory counts every message's tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import time

from agentcycle import Agent, Runner, function_tool
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool


@function_tool(run_in_thread=False)
def tick(n: int) -> str:
    """A trivial tool."""
    return "ok"


def make_model(cycles: int, context_length: int | None) -> ScriptedModel:
    def step(request: ModelRequest) -> ModelResponse:
        index = request.cycle_index or 0
        if index >= cycles:
            return call_tool("task_finish", {"message": "done"})
        return call_tool("tick", {"n": index})

    return ScriptedModel(step, context_length=context_length)


async def measure(cycles: int, context_length: int | None = None) -> tuple[float, float, float]:
    model = make_model(cycles, context_length)
    agent = Agent(model=model, tools=[tick], max_cycles=cycles + 1)
    start = time.perf_counter()
    handle = await Runner.start(agent, "benchmark")
    result = await handle.result()
    total = time.perf_counter() - start
    assert result.completed, result.error
    # Cycle boundaries from the events' own timestamps: no extra subscriber during the run.
    events = [e async for e in handle.events()]
    stamps = [e.created_at for e in events if e.type in ("cycle_started", "run_completed")]
    per_cycle = [b - a for a, b in itertools.pairwise(stamps)]
    tenth = max(1, len(per_cycle) // 10)
    first = sum(per_cycle[:tenth]) / tenth
    last = sum(per_cycle[-tenth:]) / tenth
    return first * 1e6, last * 1e6, total / len(per_cycle) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=5, help="runs per size; the best is shown")
    parser.add_argument("--context-length", type=int, default=None)
    args = parser.parse_args()
    asyncio.run(measure(50, args.context_length))  # warm-up: imports, schema compilation
    print(f"{'cycles':>7} {'first10% µs':>12} {'last10% µs':>11} {'mean µs':>8} {'last/first':>10}")
    for n in args.cycles:
        # Best of several runs: the machine's other load only ever adds time.
        first, last, mean = min(
            (asyncio.run(measure(n, args.context_length)) for _ in range(args.repeat)),
            key=lambda r: r[2],
        )
        print(f"{n:>7} {first:>12.1f} {last:>11.1f} {mean:>8.1f} {last / first:>10.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:.1f} MB")


if __name__ == "__main__":
    main()
