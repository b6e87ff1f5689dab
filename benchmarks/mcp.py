"""MCP call round trip over stdio for a trivial tool (target: under 5 ms).

Starts ``examples/13_mcp_tools.py --serve`` (an MCP server on the official SDK with one
read-only tool), then times ``MCPTool.invoke`` (our queue to the session's task, the SDK's
JSON-RPC over the pipe, the server, the result conversion) sequentially, and the orchestrator's
share in an agent run (calls per run, scripted instant model). Prints start-up time and the
median / p95 per call. Run: ``.venv/bin/python benchmarks/mcp.py [--calls N]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory heads sys.path, and this file would shadow the SDK.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import asyncio
import statistics
import time

from agentcycle import Agent, Runner
from agentcycle.mcp import MCPServers, StdioServerConfig
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool

SERVER = Path(__file__).resolve().parents[1] / "examples" / "13_mcp_tools.py"
CONFIG = StdioServerConfig(name="notes", command=sys.executable, args=(str(SERVER), "--serve"))


async def round_trips(servers: MCPServers, calls: int) -> list[float]:
    tools, failures = await servers.tools()
    assert not failures, failures
    (lookup,) = tools
    for _ in range(20):  # warm up
        await lookup.invoke(None, {"topic": "deploys"})  # type: ignore[arg-type]
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        await lookup.invoke(None, {"topic": "deploys"})  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
    return times


async def sdk_alone(calls: int) -> list[float]:
    """The same calls through the SDK's ``Client`` alone: the floor our layer adds to."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=CONFIG.command, args=list(CONFIG.args))
    async with Client(params, cache=None) as client:
        await client.list_tools()
        for _ in range(20):
            await client.call_tool("lookup", {"topic": "deploys"})
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            await client.call_tool("lookup", {"topic": "deploys"})
            times.append(time.perf_counter() - start)
    return times


async def in_a_run(servers: MCPServers, calls: int) -> float:
    def step(request: ModelRequest) -> ModelResponse:
        if (request.cycle_index or 0) >= calls:
            return call_tool("task_finish", {"message": "done"})
        return call_tool("notes__lookup", {"topic": "deploys"})

    agent = Agent(model=ScriptedModel(step), mcp_servers=servers, max_cycles=calls + 1)
    start = time.perf_counter()
    result = await Runner.run(agent, "benchmark")
    assert result.completed, result.error
    return (time.perf_counter() - start) / (calls + 1)


async def main(calls: int) -> None:
    start = time.perf_counter()
    async with MCPServers([CONFIG]) as servers:
        started = time.perf_counter() - start
        times = await round_trips(servers, calls)
        cycle = await in_a_run(servers, min(calls, 200))
    floor = sorted(await sdk_alone(calls))
    times.sort()
    median = statistics.median(times) * 1000
    p95 = times[int(len(times) * 0.95)] * 1000
    print(f"server start-up: {started * 1000:.0f} ms")
    print(f"round trip over stdio ({calls} calls): median {median:.2f} ms, p95 {p95:.2f} ms")
    print(
        f"the SDK's Client alone: median {statistics.median(floor) * 1000:.2f} ms, "
        f"p95 {floor[int(len(floor) * 0.95)] * 1000:.2f} ms"
    )
    print(f"agent cycle with one MCP call (scripted model): {cycle * 1000:.2f} ms")
    print("target: median under 5 ms:", "met" if median < 5 else "MISSED")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    asyncio.run(main(parser.parse_args().calls))
