"""Per-run memory: a process holds many concurrent runs, each with every event it emitted.

The budget is issue 5's (under 100 KB of RSS per concurrent run of 20 cycles, measured by
``benchmarks/concurrency.py``); here the Python heap a finished run keeps is measured directly,
with room above today's ~74 KB, so a regression of a few hundred bytes per event or per cycle
(an id string per event) or of a copy of the (long, fixed) system prompt per run fails.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

from agentcycle import Agent, Runner, function_tool
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool

CYCLES = 20
RUNS = 50
INSTRUCTIONS = "Follow the operating procedure exactly.\n" * 400  # ~16 KB, fixed


@function_tool(run_in_thread=False)
def tick(n: int) -> str:
    """A trivial tool."""
    return "ok"


def make_agent() -> Agent:
    def step(request: ModelRequest) -> ModelResponse:
        index = request.cycle_index or 0
        if index >= CYCLES:
            return call_tool("task_finish", {"message": "done"})
        return call_tool("tick", {"n": index})

    model = ScriptedModel(step, record_requests=False)
    return Agent(instructions=INSTRUCTIONS, model=model, tools=[tick], max_cycles=CYCLES)


async def test_a_finished_run_keeps_under_85_kb_with_all_its_events() -> None:
    agent = make_agent()  # one agent serves every run, as in a host
    warm = await Runner.start(agent, "warm up")  # imports, schema compilation, caches
    assert (await warm.result()).completed
    del warm
    gc.collect()
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        handles = [await Runner.start(agent, "go") for _ in range(RUNS)]
        results = await asyncio.gather(*(h.result() for h in handles))
        gc.collect()
        per_run = (tracemalloc.get_traced_memory()[0] - before) / RUNS
    finally:
        if not tracing:
            tracemalloc.stop()
    assert all(r.completed and r.cycles == CYCLES for r in results)
    events = [e async for e in handles[0].events()]
    assert len(events) > 8 * CYCLES  # the events are all still there
    assert per_run < 85_000, f"{per_run / 1024:.1f} KB per run"
