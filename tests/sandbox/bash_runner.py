"""Runs the agent's ``bash`` tool in this process and prints the results as JSON lines.

The escape suite starts it as a subprocess, as root or under ``setpriv`` as an unprivileged
user, so the tool (and the sandbox it sets up) runs with that user's real rights. Input (one
JSON object on stdin): ``workspace``, ``policy`` (``SandboxPolicy`` fields) and ``calls``, each
``{"bash": {...arguments}}`` or ``{"wait": i}`` (poll ``check_background_command`` for the
session call ``i`` started until it is no longer running). The run's scope is closed at the
end, as a run's end does.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agentcycle.state import RunToolState
from agentcycle.tools.base import RunScope, ToolContext
from agentcycle.tools.builtin.shell import bash_tool, check_background_command_tool
from agentcycle.tools.sandbox import SandboxPolicy
from agentcycle.workspace.local import LocalWorkspaceBackend

WAIT_LIMIT_SECONDS = 30.0
POLL_SECONDS = 0.05


async def main() -> None:
    spec = json.loads(sys.stdin.read())
    policy = SandboxPolicy(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in spec["policy"].items()}
    )
    bash, check = bash_tool(sandbox=policy), check_background_command_tool()
    scope = RunScope()
    ctx = ToolContext(
        run_id="r",
        trace_id="t",
        agent_name="a",
        tool_call_id="c",
        cycle_index=0,
        state=RunToolState(),
        workspace=LocalWorkspaceBackend(Path(spec["workspace"])),
        scope=scope,
    )
    results: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    for call in spec["calls"]:
        if "bash" in call:
            result = await bash.invoke(ctx, call["bash"])
        else:
            session_id = results[call["wait"]]["session_id"]
            deadline = loop.time() + WAIT_LIMIT_SECONDS
            while True:  # bounded polling of the tool's own status report
                result = await check.invoke(ctx, {"session_id": session_id})
                if json.loads(result.content)["status"] != "running" or loop.time() > deadline:
                    break
                await asyncio.sleep(POLL_SECONDS)
        body = json.loads(result.content)
        body.setdefault("error_code", result.error_code)
        results.append(body)
    await scope.aclose()
    for body in results:
        print(json.dumps(body))


asyncio.run(main())
