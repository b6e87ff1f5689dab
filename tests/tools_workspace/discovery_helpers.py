"""Calling the discovery tools the way the orchestrator does, and a shared sample tree."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import dataclass
from typing import Any

import pytest

from agentcycle.state import RunToolState
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin.discovery import find_files_tool
from agentcycle.tools.builtin.search import search_files_tool
from agentcycle.workspace import WorkspaceBackend

FIND = find_files_tool()
SEARCH = search_files_tool()

SAMPLE: dict[str, bytes | str] = {
    "README.md": "# Demo\nSee src/app.py for the entry point.\n",
    "src/app.py": "import os\n\n\ndef main():\n    print('Hello, world')\n    return TODO\n",
    "src/util/helpers.py": "def helper():\n    # todo: tidy\n    return 'hello'\n",
    "src/util/strings.ts": "export const greeting = 'hello';\nexport const Hello = 1;\n",
    "docs/guide.md": "Hello again\nnothing here\nhello at the end\n",
    "docs/ünï/çödé.txt": "naïve café ünïcode\nΣίσυφος hello κόσμε\n",
    "data/blob.bin": b"hello\x00\x01\x02binary",
    "data/late_nul.txt": "hello\n" + "x" * 9000 + "\x00\n",
    "node_modules/lib/index.js": "module.exports = 'hello';\n",
    "pkg/build/out.js": "hello from build\n",
    ".github/workflow.yml": "name: hello\n",
    ".env": "SECRET=hello\n",
    "config/secrets.yml": "token: hello\n",
    "keys/server.pem": "hello pem\n",
    "build": "a file named build: hello\n",
}


@dataclass
class Outcome:
    """A tool result as the model sees it, parsed."""

    body: dict[str, Any]
    engine: str | None
    error_code: str | None

    @property
    def ok(self) -> bool:
        return bool(self.body.get("ok"))


def context(workspace: WorkspaceBackend | None) -> ToolContext:
    return ToolContext(
        run_id="run",
        trace_id="trace",
        agent_name="agent",
        tool_call_id="call",
        cycle_index=0,
        state=RunToolState(),
        workspace=workspace,
        cancelled=asyncio.Event(),
    )


async def run_tool(tool: Any, workspace: WorkspaceBackend | None, **args: Any) -> Outcome:
    result = await tool.invoke(context(workspace), args)
    return Outcome(
        json.loads(result.content), (result.metadata or {}).get("engine"), result.error_code
    )


async def find(workspace: WorkspaceBackend, **args: Any) -> Outcome:
    return await run_tool(FIND, workspace, **args)


async def search(workspace: WorkspaceBackend, **args: Any) -> Outcome:
    return await run_tool(SEARCH, workspace, **args)


async def plant(workspace: WorkspaceBackend, files: dict[str, bytes | str] = SAMPLE) -> None:
    for path, content in files.items():
        await workspace.write(path, content)


def paths(outcome: Outcome) -> list[str]:
    return [entry["path"] for entry in outcome.body["files"]]


def without_rg(monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH with every directory that holds ``rg`` removed."""
    kept = [
        entry
        for entry in os.environ["PATH"].split(os.pathsep)
        if not os.path.exists(os.path.join(entry, "rg"))
    ]
    monkeypatch.setenv("PATH", os.pathsep.join(kept))
    assert shutil.which("rg") is None
