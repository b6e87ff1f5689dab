"""Per-cycle overhead of the loop with an instant scripted model.

Each cycle: one model call (scripted, instant) that calls one trivial tool; the last cycle calls
``task_finish``. The model plays back responses built before the run starts, so what is timed is
the runtime's work, not the script building a response per call (``--script``: built per call,
as this benchmark did before 2026-12-06's fourth session; about 8 µs of JSON and validation a
cycle that the runtime does not own). Prints µs per cycle for the first and last 10 % of
cycles, their ratio (flat is 1.0), and peak RSS. Run:
``.venv/bin/python benchmarks/cycle_overhead.py``. With ``--context-length`` the model declares
a window, so memory counts every message's tokens.

``--tool thread`` makes the trivial tool a default sync ``function_tool`` (run in a worker
thread) instead of one declared ``run_in_thread=False``: the difference is the cost of the
hand-off to a thread and back.

``--compare OTHER_SRC`` measures another source tree side by side with this one: each size runs
``--repeat`` times per tree, alternating between the trees in fresh subprocesses (so machine
load hits both alike), and the best mean of each is shown with the speed-up, in wall time and
in process CPU time (steadier when other processes share the cores), e.g.
``.venv/bin/python benchmarks/cycle_overhead.py --compare /work/wt-before/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from agentcycle import Agent, Runner, function_tool
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool

THIS_SRC = Path(__file__).resolve().parent.parent / "src"


@function_tool(run_in_thread=False)
def tick(n: int) -> str:
    """A trivial tool."""
    return "ok"


@function_tool(name="tick")
def tick_in_thread(n: int) -> str:
    """The same trivial tool, as a default sync function tool (run in a worker thread)."""
    return "ok"


TOOLS = {"inline": tick, "thread": tick_in_thread}


def make_model(cycles: int, context_length: int | None, script: bool = False) -> ScriptedModel:
    """The benchmark's model: ``tick`` each cycle, then ``task_finish``; the responses built
    up front unless ``script``."""
    if script:

        def step(request: ModelRequest) -> ModelResponse:
            index = request.cycle_index or 0
            if index >= cycles:
                return call_tool("task_finish", {"message": "done"})
            return call_tool("tick", {"n": index})

        return ScriptedModel(step, context_length=context_length)
    responses = [call_tool("tick", {"n": index}) for index in range(1, cycles)]
    responses.append(call_tool("task_finish", {"message": "done"}))
    return ScriptedModel(responses, context_length=context_length)


async def measure(
    cycles: int, context_length: int | None = None, tool: str = "inline", script: bool = False
) -> tuple[float, float, float, float]:
    """µs per cycle: first and last 10 % of cycles, mean wall time, mean CPU time."""
    model = make_model(cycles, context_length, script)
    agent = Agent(model=model, tools=[TOOLS[tool]], max_cycles=cycles + 1)
    start, cpu = time.perf_counter(), time.process_time()
    handle = await Runner.start(agent, "benchmark")
    result = await handle.result()
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert result.completed, result.error
    # Cycle boundaries from the events' own timestamps: no extra subscriber during the run.
    events = [e async for e in handle.events()]
    stamps = [e.created_at for e in events if e.type in ("cycle_started", "run_completed")]
    per_cycle = [b - a for a, b in itertools.pairwise(stamps)]
    tenth = max(1, len(per_cycle) // 10)
    first = sum(per_cycle[:tenth]) / tenth
    last = sum(per_cycle[-tenth:]) / tenth
    return first * 1e6, last * 1e6, total / len(per_cycle) * 1e6, cpu / len(per_cycle) * 1e6


def best(
    cycles: int, repeat: int, context_length: int | None, tool: str, script: bool
) -> tuple[float, float, float, float]:
    """The run with the lowest mean of ``repeat`` runs: the machine's other load only ever
    adds time."""
    runs = (asyncio.run(measure(cycles, context_length, tool, script)) for _ in range(repeat))
    return min(runs, key=lambda r: r[2])


def compare(args: argparse.Namespace) -> None:
    """Run this script in subprocesses against ``args.compare`` and ``args.against`` (this
    tree by default), alternating."""
    trees = {
        name: str(Path(src).resolve())
        for name, src in (("before", args.compare), ("after", args.against))
    }
    print(f"before: {trees['before']}\nafter:  {trees['after']}\ntool: {args.tool}")
    print(f"{'':>7} {'wall µs per cycle':^30} {'CPU µs per cycle':^30}")
    header = f"{'before':>9} {'after':>9} {'speed-up':>9}  "
    print(f"{'cycles':>7} {header}{header}")
    for n in args.cycles:
        means: dict[str, float] = {name: float("inf") for name in trees}
        cpus: dict[str, float] = {name: float("inf") for name in trees}
        for _ in range(args.repeat):
            for name, src in trees.items():
                command = [sys.executable, __file__, "--cycles", str(n), "--repeat", "1"]
                command += ["--tool", args.tool, "--json"] + (["--script"] if args.script else [])
                if args.context_length is not None:
                    command += ["--context-length", str(args.context_length)]
                env = {**os.environ, "PYTHONPATH": src}
                out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
                measured = json.loads(out.stdout)
                means[name] = min(means[name], measured["mean"])
                cpus[name] = min(cpus[name], measured["cpu"])
        row = f"{n:>7}"
        for pair in (means, cpus):
            row += f" {pair['before']:>9.1f} {pair['after']:>9.1f} "
            row += f"{pair['before'] / pair['after']:>8.2f}x  "
        print(row.rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=5, help="runs per size; the best is shown")
    parser.add_argument("--context-length", type=int, default=None)
    parser.add_argument("--tool", choices=sorted(TOOLS), default="inline")
    parser.add_argument("--compare", metavar="OTHER_SRC", help="a source tree to compare with")
    parser.add_argument(
        "--against", metavar="SRC", default=str(THIS_SRC), help="the tree --compare measures"
    )
    parser.add_argument("--json", action="store_true", help="one JSON line (for --compare)")
    parser.add_argument(
        "--script", action="store_true", help="build each response during the run (the old way)"
    )
    args = parser.parse_args()
    if args.compare:
        compare(args)
        return
    asyncio.run(measure(50, args.context_length, args.tool, args.script))  # warm-up: imports
    if args.json:
        (n,) = args.cycles
        first, last, mean, cpu = best(n, args.repeat, args.context_length, args.tool, args.script)
        print(json.dumps({"cycles": n, "first": first, "last": last, "mean": mean, "cpu": cpu}))
        return
    print(
        f"{'cycles':>7} {'first10% µs':>12} {'last10% µs':>11} {'mean µs':>8} {'CPU µs':>7} "
        f"{'last/first':>10}"
    )
    for n in args.cycles:
        first, last, mean, cpu = best(n, args.repeat, args.context_length, args.tool, args.script)
        print(f"{n:>7} {first:>12.1f} {last:>11.1f} {mean:>8.1f} {cpu:>7.1f} {last / first:>10.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:.1f} MB")


if __name__ == "__main__":
    main()
