"""Shell commands in a sandbox: the workspace is writable, the rest is not.

An agent with ``shell_tools=True`` runs four commands in a fresh workspace under the default
``workspace-write`` sandbox (bubblewrap on Linux): a build inside the workspace works; a write
into ``.git`` (protected), a read of ``.env`` (masked: it reads empty) and a network connection
do not. It names the backend it got; without bubblewrap the Landlock fallback keeps the network
and everything outside the workspace closed, but not ``.git`` or ``.env``. Where no sandbox can
be set up the example says so and stops.

Run: python examples/14_sandbox.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from agentcycle import Agent, RunConfig, Runner
from agentcycle.messages import ToolMessage
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.sandbox import SandboxPolicy, sandbox_support

COMMANDS = {
    "build": "printf 'print(6 * 7)\\n' > answer.py && python3 answer.py",
    "write .git": "echo evil > .git/HEAD",
    "read .env": "wc -c < .env",
    "network": "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), 2)\"",
}


def main() -> None:
    support = sandbox_support()
    if not support.available:
        print(f"no sandbox on this host: {support.reason}")
        return
    print(f"sandbox: {support.backend}")
    if support.backend == "landlock":
        # The fallback cannot protect paths inside a writable root or mask files: expect the
        # .git write and the .env read to succeed (docs/sandbox.md, "Fallback").
        print("(Landlock fallback: install bubblewrap for .git protection and masked files)")
    model = ScriptedModel(
        [call_tool("bash", {"command": command}) for command in COMMANDS.values()]
        + [call_tool("task_finish", {"message": "Checked the sandbox."})]
    )
    agent = Agent(model=model, shell_tools=True)
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        subprocess.run(["git", "init", "-q", str(workspace)], check=True)
        (workspace / ".env").write_text("API_KEY=sk-not-for-the-model\n")
        config = RunConfig(
            workspace=workspace,
            sandbox=SandboxPolicy(),  # the default on Linux, spelled out
            policy=ToolPolicy.of(approval_mode="never"),  # the sandbox is the boundary here
        )
        result = Runner.run_sync(agent, "Check what the shell may do.", config=config)
        head = (workspace / ".git" / "HEAD").read_text().strip()
    bodies = [json.loads(m.content) for m in result.messages if isinstance(m, ToolMessage)]
    for label, body in zip(COMMANDS, bodies, strict=False):
        output = body.get("output", body.get("details", {}).get("output", ""))
        outcome = "ok" if body.get("ok") else "failed"
        last = output.strip().splitlines()[-1] if output.strip() else ""
        print(f"{label}: {outcome}: {last}")
    print(f".git/HEAD on the host: {head}")
    sys.exit(0 if result.completed else 1)


if __name__ == "__main__":
    main()
