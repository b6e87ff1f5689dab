"""find_files / search_files on big trees: the tools with ripgrep vs raw ripgrep vs pure Python.

Two trees: a generated one (100,000 files a few directories deep, with node_modules and .git
noise; written once under ``~/.cache/agentcycle-bench`` and reused) and the Python standard
library. For each query the tool's time (local backend, ripgrep engine) is compared with raw
``rg -l`` over the whole tree with the engine's flags (a subprocess), and with the tool on the
pure-Python engine (ripgrep hidden from ``PATH``). Best of ``--repeats`` runs (the Python
engine runs once). Prints a table and the peak RSS.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/workspace_search.py [--files 100000]
[--repeats 3] [--cache DIR] [--skip-python] [--tree generated|stdlib]``. Needs ``rg`` on
``PATH``. ``--tree`` runs one tree only (``--tree stdlib`` needs no generated tree).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sysconfig
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from agentcycle.state import RunToolState
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin import _search_rg
from agentcycle.tools.builtin._search_query import SearchQuery
from agentcycle.tools.builtin.discovery import find_files_tool
from agentcycle.tools.builtin.search import search_files_tool
from agentcycle.workspace import LocalWorkspaceBackend

RARE = "ZEBRA_QUOTA_7731"
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "value",
    "result",
    "config",
    "handler",
    "request",
    "client",
]


def _content(rng: random.Random, index: int, rare: bool) -> str:
    lines = ["import os", "import sys", ""]
    for function in range(rng.randint(2, 6)):
        name = f"{rng.choice(WORDS)}_{function}"
        suffix = "_handler" if rng.random() < 0.1 else ""
        lines.append(f"def {name}{suffix}(request, value={index}):")
        lines.extend(f"    {rng.choice(WORDS)} = {rng.choice(WORDS)}({n})" for n in range(4))
        lines.append(f"    return {rng.choice(WORDS)}")
        lines.append("")
    if rare:
        lines.append(f"# {RARE}")
    return "\n".join(lines) + "\n"


def generate(root: Path, files: int) -> Path:
    """Write the tree once; a marker file says it is complete and matches ``files``."""
    marker = root / f".complete-{files}"
    if marker.exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    rng = random.Random(1234)
    noise = files // 20  # node_modules and .git: 5% each
    real = files - 2 * noise
    per_leaf = max(1, real // 1000)
    written = 0
    for top in range(10):
        for mid in range(10):
            for leaf in range(10):
                directory = root / f"pkg{top}" / f"mod{mid}" / f"sub{leaf}"
                directory.mkdir(parents=True, exist_ok=True)
                count = per_leaf if written + per_leaf <= real else real - written
                for index in range(count):
                    suffix = ".py" if index % 4 else ".md"
                    text = _content(rng, written, rare=written == real // 2)
                    (directory / f"file{index:03d}{suffix}").write_text(text)
                    written += 1
    for kind, folder in (("node_modules", "lib"), (".git", "objects")):
        for index in range(noise):
            directory = root / kind / f"{folder}{index // 100:03d}"
            directory.mkdir(parents=True, exist_ok=True)
            (directory / f"f{index:05d}.js").write_text("import os\nmodule.exports = 1\n")
    marker.write_text("ok")
    return root


def _context(workspace: LocalWorkspaceBackend) -> ToolContext:
    return ToolContext("bench", "bench", "bench", "call", 0, RunToolState(), workspace=workspace)


async def _best(repeats: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        began = time.perf_counter()
        result = await call()
        best = min(best, time.perf_counter() - began)
    return best, result


def _raw_rg(root: Path, args: dict[str, Any]) -> float:
    """``rg -l`` over the whole tree with the engine's flags for ``args``, timed on its own."""
    query = SearchQuery.from_args("", {"output_mode": "files_with_matches", **args})
    command = [
        "rg",
        *_search_rg._common_flags(query),
        *_search_rg._walk_flags(query),
        "--files-with-matches",
        "--null",
        "--regexp",
        query.regex,
        "--",
        "./",
    ]
    began = time.perf_counter()
    subprocess.run(command, cwd=root, capture_output=True, check=False)
    return time.perf_counter() - began


def _raw_rg_files(root: Path, extra: list[str]) -> float:
    """``rg --files`` with the same exclusions and the same order as the find_files call
    (``--sort path`` or ``--sortr modified``, which makes ripgrep stat every file too)."""
    query = SearchQuery.from_args("", {"pattern": "x"})
    command = [
        "rg",
        "--files",
        "--no-config",
        "--no-ignore",
        *_search_rg._walk_flags(query),
        *extra,
    ]
    began = time.perf_counter()
    subprocess.run(command, cwd=root, capture_output=True, check=False)
    return time.perf_counter() - began


def _without_rg() -> str:
    saved = os.environ["PATH"]
    os.environ["PATH"] = os.pathsep.join(
        entry for entry in saved.split(os.pathsep) if not os.path.exists(os.path.join(entry, "rg"))
    )
    return saved


async def bench_tree(
    name: str, root: Path, repeats: int, python: bool
) -> list[tuple[str, str, float, float | None, float | None, str]]:
    workspace = LocalWorkspaceBackend(root, create=False)
    find, search = find_files_tool(), search_files_tool()
    rows: list[tuple[str, str, float, float | None, float | None, str]] = []

    async def tool_call(tool: Any, args: dict[str, Any]) -> dict[str, Any]:
        result = await tool.invoke(_context(workspace), args)
        body: dict[str, Any] = json.loads(result.content)
        return body

    finds: dict[str, tuple[dict[str, Any], list[str]]] = {
        "find_files (first 100)": ({}, ["--sort", "path"]),
        "find_files **/*.py modified_desc": (
            {"glob": "**/*.py", "sort": "modified_desc"},
            ["-g", "*.py", "--sortr", "modified"],
        ),
    }
    for label, (args, rg_order) in finds.items():
        seconds, body = await _best(repeats, lambda a=args: tool_call(find, a))  # type: ignore[misc]
        raw = min(_raw_rg_files(root, rg_order) for _ in range(repeats))
        rows.append((name, label, seconds, raw, None, f"{body['returned']} listed"))
    searches = {
        "common literal 'import'": {"pattern": "import", "literal": True},
        "regex 'def \\w+_handler\\('": {"pattern": r"def \w+_handler\("},
        f"rare '{RARE}'": {"pattern": RARE},
        "regex, content, head 250": {"pattern": r"def \w+_handler\(", "output_mode": "content"},
    }
    for label, args in searches.items():
        seconds, body = await _best(repeats, lambda a=args: tool_call(search, a))  # type: ignore[misc]
        raw = min(_raw_rg(root, args) for _ in range(repeats))
        py_seconds = None
        if python:
            saved = _without_rg()
            try:
                py_seconds, _ = await _best(1, lambda a=args: tool_call(search, a))  # type: ignore[misc]
            finally:
                os.environ["PATH"] = saved
        found = body.get("returned", body.get("error_code"))
        rows.append((name, label, seconds, raw, py_seconds, f"{found} results"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "agentcycle-bench")
    parser.add_argument("--skip-python", action="store_true", help="skip the pure-Python engine")
    parser.add_argument("--tree", choices=["generated", "stdlib"], help="run one tree only")
    options = parser.parse_args()
    if shutil.which("rg") is None:
        raise SystemExit("ripgrep (rg) is not on PATH")
    trees: list[tuple[str, Path]] = []
    if options.tree != "stdlib":
        began = time.perf_counter()
        tree = generate(options.cache / "workspace-tree", options.files)
        print(f"generated tree: {tree} ({time.perf_counter() - began:.1f} s, reused when present)")
        trees.append((f"generated {options.files:,}", tree))
    if options.tree != "generated":
        trees.append(("stdlib", Path(sysconfig.get_paths()["stdlib"])))
    rows = []
    for name, root in trees:
        rows += asyncio.run(bench_tree(name, root, options.repeats, not options.skip_python))
    header = f"{'tree':<18} {'query':<36} {'tool+rg':>9} {'raw rg':>9} {'ratio':>6} {'python':>9}"
    print(header)
    print("-" * len(header))
    for name, label, seconds, raw, python, note in rows:
        raw_text = f"{raw * 1000:8.1f}ms" if raw is not None else f"{'-':>10}"
        ratio = f"{seconds / raw:5.2f}x" if raw else f"{'-':>6}"
        py_text = f"{python * 1000:8.0f}ms" if python is not None else f"{'-':>10}"
        print(
            f"{name:<18} {label:<36} {seconds * 1000:7.1f}ms {raw_text} {ratio} {py_text}  {note}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
