"""Latency the sandbox adds per ``bash`` command (target: under 20 ms), and the MCP round trip.

Times the ``bash`` tool end to end (the reaper helper, ``bash -lc``, output capture) on a
trivial command (``true``) with an empty home directory, bare (``sandbox="off"``) and
sandboxed (``workspace-write`` and ``read-only`` through bubblewrap: namespaces, mounts, masked
files, the pids cap), and prints the median and p95 of each and the median difference, and
where it goes: bubblewrap alone (``bwrap <the same arguments> true`` against ``true``, started
directly) and joining the pids cgroup (where one can be made: root). ``--real-home`` keeps your
home directory, so ``bash -lc`` reads your login profile (both sides pay for it; a version
manager's init can cost more than the sandbox). Then runs ``benchmarks/mcp.py``'s round trip (an
MCP tool over stdio). Run:
``.venv/bin/python benchmarks/sandbox.py [--commands N] [--mcp-calls N] [--real-home]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory heads sys.path, and mcp.py would shadow the SDK.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import importlib.util
import os
import shutil
import statistics
import subprocess
import tempfile
import time

from agentcycle.state import RunToolState
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._confine import PidsCgroup, bwrap_argv
from agentcycle.tools.builtin._secrets import DEFAULT_SECRET_FILES
from agentcycle.tools.builtin.shell import bash_tool
from agentcycle.tools.sandbox import SandboxPolicy, sandbox_support
from agentcycle.workspace.local import LocalWorkspaceBackend

MCP_BENCHMARK = Path(__file__).resolve().with_name("mcp.py")


async def command_times(workspace: Path, policy: SandboxPolicy, commands: int) -> list[float]:
    tool = bash_tool(sandbox=policy)
    ctx = ToolContext(
        run_id="bench",
        trace_id="bench",
        agent_name="bench",
        tool_call_id="c",
        cycle_index=0,
        state=RunToolState(),
        workspace=LocalWorkspaceBackend(workspace),
    )
    try:
        for _ in range(5):  # warm up
            await tool.invoke(ctx, {"command": "true"})
        times = []
        for _ in range(commands):
            start = time.perf_counter()
            result = await tool.invoke(ctx, {"command": "true"})
            times.append(time.perf_counter() - start)
            assert result.error_code is None, result.content
        return sorted(times)
    finally:
        await ctx.scope.aclose()


def spawn_times(argv: list[str], commands: int) -> list[float]:
    """Start ``argv`` directly ``commands`` times (after a warm-up): no tool, no helper."""
    times = []
    for index in range(commands + 5):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if index >= 5:
            times.append(time.perf_counter() - start)
    return sorted(times)


def cgroup_join_times(commands: int) -> list[float] | None:
    """A child joining a fresh pids cgroup the way the helper's child does, or ``None`` where
    no cgroup can be made. Spaced like commands are: the slow kernel path only shows when
    joins are not back to back."""
    times = []
    for _ in range(commands):
        cgroup = PidsCgroup.create(64)
        if cgroup is None:
            return None
        joined = "with open(__import__('sys').argv[1], 'w') as f: f.write('0')"
        argv = [sys.executable, "-I", "-S", "-c", joined, cgroup.join_file]
        start = time.perf_counter()
        subprocess.run(argv, check=True)
        times.append(time.perf_counter() - start)
        while not cgroup.remove():
            time.sleep(0.001)
        time.sleep(0.03)
    bare = spawn_times([sys.executable, "-I", "-S", "-c", "pass"], commands)
    return sorted(t - statistics.median(bare) for t in times)


def summary(times: list[float]) -> str:
    median = statistics.median(times) * 1000
    return f"median {median:.1f} ms, p95 {times[int(len(times) * 0.95)] * 1000:.1f} ms"


async def main(commands: int, mcp_calls: int, real_home: bool) -> None:
    support = sandbox_support()
    if not support.available:
        sys.exit(f"no sandbox on this host: {support.reason}")
    with tempfile.TemporaryDirectory() as tmp:
        # An empty home unless asked: `bash -lc` reads the login profile, and a heavy one
        # (pyenv, nvm ...) would swamp the difference this measures.
        if not real_home:
            os.environ["HOME"] = tmp
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        (workspace / ".git").mkdir()
        (workspace / ".env").write_text("KEY=value\n")
        bare = await command_times(workspace, SandboxPolicy(mode="off"), commands)
        write = await command_times(workspace, SandboxPolicy(), commands)
        read = await command_times(workspace, SandboxPolicy(mode="read-only"), commands)
        bwrap = shutil.which("bwrap") or "bwrap"
        wrapper = bwrap_argv(bwrap, SandboxPolicy(), workspace, workspace, DEFAULT_SECRET_FILES)
        true = shutil.which("true") or "true"
        alone = spawn_times([true], commands)
        wrapped = spawn_times([*wrapper, true], commands)
        joins = cgroup_join_times(min(commands, 50))
    home = "your home directory" if real_home else "an empty home directory"
    print(f"bash `true`, {commands} commands each, {home}")
    print(f"  bare (sandbox off): {summary(bare)}")
    print(f"  workspace-write:    {summary(write)}")
    print(f"  read-only:          {summary(read)}")
    added = (statistics.median(write) - statistics.median(bare)) * 1000
    print(f"added per command (median): {added:.1f} ms")
    print("target: under 20 ms:", "met" if added < 20 else "MISSED")
    print("where it goes (medians):")
    bwrap_cost = (statistics.median(wrapped) - statistics.median(alone)) * 1000
    print(f"  bubblewrap alone (namespaces, mounts): {bwrap_cost:.1f} ms")
    if joins is None:
        print("  pids cgroup: none made here (unprivileged: RLIMIT_NPROC caps instead)")
    else:
        print(f"  joining the pids cgroup: {statistics.median(joins) * 1000:.1f} ms")
    print()
    spec = importlib.util.spec_from_file_location("mcp_benchmark", MCP_BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    await module.main(mcp_calls)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=200)
    parser.add_argument("--mcp-calls", type=int, default=500)
    parser.add_argument(
        "--real-home", action="store_true", help="keep HOME (bash -lc reads your profile)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.commands, args.mcp_calls, args.real_home))
