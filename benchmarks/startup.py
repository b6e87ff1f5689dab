"""Start-up: ``import agentcycle``, ``agentcycle --help`` and the offline demo's whole run.

Each command runs ``--repeats`` times (default 5) in a fresh interpreter, as a user would start
it; the best wall time and the best CPU time (user + system, of the child process) are printed
next to the targets (import < 50 ms, ``--help`` < 150 ms, the demo's run < 1 s). CPU time is
printed too because on a shared machine the wall time also measures the neighbours: a wall
time over its target with the CPU time under it says "busy machine". The demo
runs on a copy of this repository's README.md and pyproject.toml in a temporary folder,
without a settings file or API key in the environment.

Run: ``.venv/bin/python benchmarks/startup.py``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"import agentcycle": 0.050, "agentcycle --help": 0.150, "demo run": 1.0}


def measure(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command`` (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    """Measure and print the three start-up figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    python = sys.executable
    cli = [python, "-m", "agentcycle"]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AGENTCYCLE_", "OPENAI_", "ANTHROPIC_", "OLLAMA_"))
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in ("README.md", "pyproject.toml"):
            shutil.copy(REPO / name, folder / name)
        commands = {
            "import agentcycle": [python, "-c", "import agentcycle"],
            "agentcycle --help": [*cli, "--help"],
            "demo run": [*cli, "-p", "Summarise this project", "--backend", "demo"],
        }
        print(f"{'command':<20} {'wall (best)':>12} {'cpu (best)':>11} {'target':>8}")
        for label, command in commands.items():
            runs = [measure(command, folder, env) for _ in range(args.repeats)]
            wall = min(w for w, _ in runs)
            cpu = min(c for _, c in runs)
            target = TARGETS[label]
            verdict = "ok" if wall < target else "over" if cpu >= target else "over (busy machine)"
            print(
                f"{label:<20} {wall * 1000:>9.0f} ms {cpu * 1000:>8.0f} ms "
                f"{target * 1000:>5.0f} ms  {verdict}"
            )


if __name__ == "__main__":
    main()
