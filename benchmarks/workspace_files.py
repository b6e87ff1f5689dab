"""The local backend's per-operation cost: path resolution plus the file operation itself.

Builds a tree (``--dirs`` directories four levels deep, ``--files`` small files spread over
them, in a temporary directory), then times, best of ``--repeats`` rounds, each operation over
every file: ``info``, ``exists``, ``read_bytes``, ``write`` (overwrite), and the
``read_file`` / ``write_file`` tools end to end; and one full ``list`` of the tree. Prints
microseconds per operation; ``--json FILE`` also saves them, and ``--compare FILE`` prints the
change against a saved run (how the descriptor-based resolver was checked against the
``realpath`` one it replaced). ``--walk`` disables ``openat2`` to time the fallback walk;
``--dir`` puts the tree elsewhere (``/dev/shm`` takes the disk's noise out of the writes).

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/workspace_files.py [--files 2000]
[--repeats 5] [--walk] [--dir /dev/shm] [--json out.json] [--compare before.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentcycle.state import RunToolState
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin.files import read_file_tool, write_file_tool
from agentcycle.workspace import LocalWorkspaceBackend


def build(root: Path, dirs: int, files: int) -> list[str]:
    """``files`` files over ``dirs`` directories ``a<i>/b/c/d``; their workspace paths."""
    paths = []
    for index in range(files):
        directory = f"a{index % dirs}/b/c/d"
        (root / directory).mkdir(parents=True, exist_ok=True)
        path = f"{directory}/f{index}.txt"
        (root / path).write_text(f"line one {index}\nline two\n")
        paths.append(path)
    return paths


async def best(rounds: int, count: int, body: Callable[[], Awaitable[None]]) -> float:
    """Best microseconds per operation over ``rounds`` runs of ``body`` (``count`` ops)."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await body()
        times.append(time.perf_counter() - started)
    return min(times) / count * 1e6


async def measure(root: Path, paths: list[str], rounds: int) -> dict[str, float]:
    backend = LocalWorkspaceBackend(root)
    read_tool, write_tool = read_file_tool(), write_file_tool()
    state = RunToolState()

    def ctx() -> ToolContext:
        return ToolContext("run", "trace", "bench", "call", 0, state, workspace=backend)

    async def info() -> None:
        for path in paths:
            await backend.info(path)

    async def exists() -> None:
        for path in paths:
            await backend.exists(path)

    async def read() -> None:
        for path in paths:
            await backend.read_bytes(path)

    async def write() -> None:
        for path in paths:
            await backend.write(path, b"replaced\n")

    async def read_file() -> None:
        for path in paths:
            await read_tool.invoke(ctx(), {"path": path})

    async def write_file() -> None:
        for path in paths:
            await write_tool.invoke(ctx(), {"path": path, "content": "again\n"})

    async def listing() -> None:
        entries = [entry async for entry in backend.list("", glob="**")]
        assert len(entries) >= len(paths)

    results: dict[str, Any] = {}
    for name, body, count in (
        ("info", info, len(paths)),
        ("exists", exists, len(paths)),
        ("read_bytes", read, len(paths)),
        ("write", write, len(paths)),
        ("read_file tool", read_file, len(paths)),
        ("write_file tool", write_file, len(paths)),
        ("list (per entry)", listing, len(paths)),
    ):
        results[name] = await best(rounds, count, body)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--dirs", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--compare", type=Path)
    parser.add_argument("--walk", action="store_true", help="time the resolver without openat2")
    parser.add_argument("--dir", type=Path, help="where to build the tree (default: the temp dir)")
    args = parser.parse_args()
    if args.walk:
        from agentcycle.workspace import _beneath

        _beneath._openat2 = None
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        paths = build(root, args.dirs, args.files)
        results = asyncio.run(measure(root, paths, args.repeats))
    before = json.loads(args.compare.read_text()) if args.compare else {}
    print(f"{'operation':<20} {'us/op':>9}" + (f" {'before':>9} {'change':>8}" if before else ""))
    for name, value in results.items():
        line = f"{name:<20} {value:>9.1f}"
        if name in before:
            line += f" {before[name]:>9.1f} {(value / before[name] - 1) * 100:>+7.1f}%"
        print(line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
