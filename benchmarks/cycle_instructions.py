"""Instructions per loop cycle, counted by valgrind's callgrind: a cost that machine load does
not move (wall-time figures on these machines drift 30-50 % from day to day).

The cycle is ``cycle_overhead.py``'s (an instant scripted model calling one trivial inline
tool). Each tree runs a warm-up, a full garbage collection, then ``--short`` and ``--long``
cycles in two processes under callgrind; the difference divided by the difference in cycles
is one cycle's instructions, start-up and imports cancelled out.

``--without`` measures what a cycle would cost with parts of the runtime switched off, to
tell how much of a cycle they are: ``events`` (every event but the run's start and end is
dropped unpublished), ``validation`` (tool arguments unchecked), ``previews`` (no
``result_preview``), ``gc`` (the cyclic garbage collector off). These are experiments, not
ways to run: the runtime's promises rest on each of them.

Needs valgrind (``apt-get install valgrind``). Run:
``.venv/bin/python benchmarks/cycle_instructions.py --trees /work/wt-before/src src``
(``--without events,validation,previews,gc``; ``--short 200 --long 1200``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PARTS = ("events", "validation", "previews", "gc")


def switch_off(parts: set[str]) -> None:
    """Switch ``parts`` of the runtime off in this process (see the module docstring)."""
    from agentcycle.runtime import event_bus, orchestrator

    if "events" in parts:
        publish = event_bus.EventBus.publish
        kept = {"run_started", "run_completed", "run_failed"}

        def publish_ends(self: Any, event: Any) -> Any:
            return publish(self, event) if event.type in kept else event

        event_bus.EventBus.publish = publish_ends  # type: ignore[method-assign]
    if "validation" in parts:
        orchestrator._validate = lambda tool, arguments: None
    if "previews" in parts:
        orchestrator.result_preview = lambda content, secrets=(): None


def child(cycles: int, parts: set[str]) -> None:
    """The process callgrind counts: a warm-up run, then a run of ``cycles`` cycles."""
    sys.path.insert(0, str(HERE))
    from cycle_overhead import TOOLS, make_model

    from agentcycle import Agent, Runner

    async def run(n: int) -> None:
        agent = Agent(model=make_model(n, None), tools=[TOOLS["inline"]], max_cycles=n + 1)
        handle = await Runner.start(agent, "benchmark")
        result = await handle.result()
        assert result.completed, result.error

    asyncio.run(run(50))
    switch_off(parts)
    gc.collect()
    if "gc" in parts:
        gc.disable()
    asyncio.run(run(cycles))


def instructions(src: str, cycles: int, parts: set[str]) -> int:
    """Instructions callgrind counts for a whole child process of ``cycles`` cycles."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={Path(tmp) / 'out'}",
            sys.executable,
            __file__,
            "--child",
            str(cycles),
            "--without",
            ",".join(sorted(parts)),
        ]
        env = {**os.environ, "PYTHONPATH": src}
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    assert found is not None, proc.stderr
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trees", nargs="+", default=[str(HERE.parent / "src")])
    parser.add_argument("--short", type=int, default=200)
    parser.add_argument("--long", type=int, default=1200)
    parser.add_argument("--without", default="", help=f"parts to switch off: {','.join(PARTS)}")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    parts = {p for p in args.without.split(",") if p}
    if parts - set(PARTS):
        parser.error(f"unknown parts {sorted(parts - set(PARTS))}; known: {', '.join(PARTS)}")
    if args.child is not None:
        child(args.child, parts)
        return
    shown = ", ".join(sorted(parts)) or "nothing"
    print(f"instructions per cycle ({args.short} -> {args.long} cycles; switched off: {shown})")
    for src in args.trees:
        short = instructions(src, args.short, parts)
        long = instructions(src, args.long, parts)
        print(f"{(long - short) / (args.long - args.short):>10,.0f}  {Path(src).resolve()}")


if __name__ == "__main__":
    main()
