"""find_files and search_files called by a scripted model through the real orchestrator."""

from __future__ import annotations

import json
from pathlib import Path

from agentcycle import Agent, RunConfig, Runner
from agentcycle.events import RunStatus
from agentcycle.messages import ToolMessage
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.builtin.discovery import discovery_tools


async def test_a_run_finds_and_searches_files(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def main():\n    return 42\n")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "dep.js").write_text("function main() {}\n")
    model = ScriptedModel(
        [
            call_tool("find_files", {"glob": "**/*.py"}),
            call_tool("search_files", {"pattern": r"def \w+", "output_mode": "content"}),
            call_tool("search_files", {"pattern": "(", "path": "src"}),
            call_tool("find_files", {"path": "../"}),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    tools = discovery_tools()
    assert [tool.name for tool in tools] == ["find_files", "search_files"]
    result = await Runner.run(
        Agent(model=model), "look around", config=RunConfig(workspace=tmp_path)
    )
    assert result.status is RunStatus.COMPLETED
    messages = [m for m in result.messages if isinstance(m, ToolMessage)]
    bodies = [json.loads(m.content) for m in messages]
    assert [f["path"] for f in bodies[0]["files"]] == ["src/app.py"]
    assert bodies[1]["content"] == "src/app.py:1:def main():"
    assert bodies[2]["error_code"] == "invalid_pattern"
    assert bodies[3]["error_code"] == "path_escapes_workspace"
