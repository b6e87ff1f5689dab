"""Many concurrent runs in one process, and event throughput to one subscriber.

``--runs`` runs (default 1,000) of ``--cycles`` cycles (default 20) start together with
``Runner.start`` and are awaited with ``asyncio.gather``. Each cycle is one instant scripted
model call that calls a trivial tool; the last cycle calls ``task_finish``. Prints the batch's
wall time, the process's peak RSS, and RSS per concurrent run ((peak - baseline) / runs), where
the baseline is the RSS after a warm-up run, before the batch starts. Targets: under 100 KB per
run and under 10 s for the batch.

Then one long run (``--stream-cycles``, default 5,000) with one subscriber reading every event
as it is emitted: events per second, end to end.

Run: ``.venv/bin/python benchmarks/concurrency.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import time
from collections.abc import AsyncIterator

from agentcycle import Agent, Runner, function_tool
from agentcycle.models.base import ModelRequest, ModelResponse, ModelStreamItem
from agentcycle.testing import ScriptedModel, call_tool


@function_tool(run_in_thread=False)
def tick(n: int) -> str:
    """A trivial tool."""
    return "ok"


class InstantModel(ScriptedModel):
    """The scripted model, answering at once but, like any real model call, giving the event
    loop a turn first: without that each run would execute start to finish in one go and the
    runs would not actually be in flight together."""

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamItem]:
        await asyncio.sleep(0)
        async for item in super().stream(request):
            yield item


def make_agent(cycles: int) -> Agent:
    def step(request: ModelRequest) -> ModelResponse:
        index = request.cycle_index or 0
        if index >= cycles:
            return call_tool("task_finish", {"message": "done"})
        return call_tool("tick", {"n": index})

    # The model keeps no requests: a test model's recordings are not the runtime's memory.
    return Agent(model=InstantModel(step, record_requests=False), tools=[tick], max_cycles=cycles)


def peak_rss_kb() -> int:
    """The process's peak resident set size so far, in KiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def current_rss_kb() -> int:
    """The process's resident set size now, in KiB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() // 1024


async def batch(runs: int, cycles: int) -> tuple[float, float]:
    """Wall and CPU seconds for ``runs`` concurrent runs (CPU time does not depend on what
    else the machine is doing)."""
    agent = make_agent(cycles)  # one agent serves every run, as in a host
    start, cpu = time.perf_counter(), time.process_time()
    handles = [await Runner.start(agent, "benchmark") for _ in range(runs)]
    results = await asyncio.gather(*(h.result() for h in handles))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    bad = [r for r in results if not r.completed or r.cycles != cycles]
    assert not bad, bad[0].error
    return elapsed, cpu


async def stream(cycles: int) -> tuple[int, float, float]:
    handle = await Runner.start(make_agent(cycles), "benchmark")
    start, cpu = time.perf_counter(), time.process_time()
    count = 0
    async for _event in handle.events():
        count += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert (await handle.result()).completed
    return count, elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--stream-cycles", type=int, default=5000)
    args = parser.parse_args()

    asyncio.run(batch(10, args.cycles))  # warm-up: imports, schema compilation, caches
    gc.collect()
    baseline = current_rss_kb()
    elapsed, cpu = asyncio.run(batch(args.runs, args.cycles))
    peak = peak_rss_kb()
    per_run = (peak - baseline) / args.runs
    print(
        f"{args.runs} concurrent runs x {args.cycles} cycles: {elapsed:.2f} s total "
        f"({cpu:.2f} s CPU; target < 10 s)"
    )
    print(f"  baseline RSS {baseline / 1024:.1f} MB, peak RSS {peak / 1024:.1f} MB")
    print(f"  RSS per concurrent run: {per_run:.1f} KB (target < 100 KB)")
    print(f"  cycles per second: {args.runs * args.cycles / elapsed:,.0f}")

    count, seconds, cpu = asyncio.run(stream(args.stream_cycles))
    print(
        f"event throughput, one subscriber, one run of {args.stream_cycles} cycles: "
        f"{count:,} events in {seconds:.2f} s = {count / seconds:,.0f} events/s "
        f"({count / cpu:,.0f} per CPU second)"
    )


if __name__ == "__main__":
    main()
