"""``exclude_files_pattern``: the sub-task's file tools do not see the excluded paths, while the
parent's workspace and other tasks are untouched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentcycle import RunConfig, RunStatus, SubAgent
from agentcycle.messages import ToolMessage
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.workspace import MemoryWorkspaceBackend
from tests.multiagent.helpers import run_with_events
from tests.multiagent.sub_task_helpers import parent, tool_results, worker

CHECKS: list[tuple[str, dict[str, Any]]] = [
    ("find_files", {"glob": "**"}),
    ("search_files", {"pattern": "launch"}),
    ("read_file", {"path": "secret/plan.md"}),
    ("file_info", {"path": "secret"}),
    ("write_file", {"path": "secret/new.md", "content": "x"}),
    ("read_file", {"path": "data/prices.csv"}),
    ("search_files", {"pattern": "launch", "path": "secret"}),
]


FILES = {
    "notes/launch.md": "launch on Monday",
    "secret/plan.md": "launch plan: confidential",
    "secret/deep/more.md": "launch details",
    "data/prices.csv": "launch,10",
    "data/readme.md": "prices",
}


def seed(root: Path) -> None:
    for path, text in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def results(agent: Any) -> list[dict[str, Any]]:
    model = agent.model
    assert isinstance(model, ScriptedModel)
    return [
        json.loads(m.content) for m in model.requests[-1].messages if isinstance(m, ToolMessage)
    ]


async def run_checks(workspace: Any, pattern: str | None) -> list[dict[str, Any]]:
    child = worker("Explorer", steps=CHECKS)
    arguments: dict[str, Any] = {"agent_id": "explorer", "task_description": "explore"}
    if pattern is not None:
        arguments["exclude_files_pattern"] = pattern
    lead = parent(
        [call_tool("create_sub_task", arguments), call_tool("task_finish", {"message": "ok"})],
        {"explorer": SubAgent(child, "Explores.")},
    )
    result, _ = await run_with_events(lead, config=RunConfig(workspace=workspace))
    assert result.status is RunStatus.COMPLETED
    return results(child)


@pytest.mark.parametrize("backend", ["local", "memory"])
async def test_excluded_paths_are_absent_to_the_child(tmp_path: Path, backend: str) -> None:
    seed(tmp_path)
    workspace: Any = str(tmp_path) if backend == "local" else MemoryWorkspaceBackend(FILES)
    listed, searched, read, info, written, csv, in_secret = await run_checks(
        workspace, "{secret,*.csv}"
    )
    assert [f["path"] for f in listed["files"]] == [
        "data",
        "data/readme.md",
        "notes",
        "notes/launch.md",
    ]
    assert searched["files"] == ["notes/launch.md"]
    assert read["error_code"] == info["error_code"] == csv["error_code"] == "file_not_found"
    assert in_secret["error_code"] == "file_not_found"
    assert written["error_code"] == "path_excluded"
    if backend == "local":
        assert not (tmp_path / "secret/new.md").exists()


async def test_without_a_pattern_the_child_sees_everything(tmp_path: Path) -> None:
    seed(tmp_path)
    listed, searched, read, *_ = await run_checks(str(tmp_path), None)
    assert "secret/plan.md" in [f["path"] for f in listed["files"]]
    assert searched["files"] == [
        "data/prices.csv",
        "notes/launch.md",
        "secret/deep/more.md",
        "secret/plan.md",
    ]
    assert read["ok"] is True


async def test_a_path_pattern_matches_from_the_root(tmp_path: Path) -> None:
    seed(tmp_path)
    listed, searched, *_ = await run_checks(str(tmp_path), "secret/deep")
    paths = [f["path"] for f in listed["files"]]
    assert "secret/plan.md" in paths and not any(p.startswith("secret/deep") for p in paths)
    assert "secret/deep/more.md" not in searched["files"]
    assert "secret/plan.md" in searched["files"]


async def test_a_snapshot_lists_each_touched_file_once_with_its_latest_action(
    tmp_path: Path,
) -> None:
    (tmp_path / "notes.txt").write_text("alpha\n")
    steps = [
        ("read_file", {"path": "./notes.txt"}),
        ("read_file", {"path": "missing.txt"}),  # failed: not touched
        ("write_file", {"path": "out/report.md", "content": "draft\n"}),
        ("edit_file", {"path": "out//report.md", "old_string": "draft", "new_string": "final"}),
        ("read_file", {"path": "notes.txt"}),
    ]
    lead = parent(
        [
            call_tool("create_sub_task", {"agent_id": "scribe", "task_description": "write"}),
            call_tool("sub_task_status", {"task_ids": ["scribe-1"], "detail_level": "snapshot"}),
            call_tool("task_finish", {"message": "ok"}),
        ],
        {"scribe": SubAgent(worker("Scribe", steps=steps), "Writes.")},
    )
    result, _ = await run_with_events(lead, config=RunConfig(workspace=tmp_path))
    assert result.status is RunStatus.COMPLETED
    assert (tmp_path / "out" / "report.md").read_text() == "final\n"
    (status,) = tool_results(lead, "sub_task_status")
    snapshot = status["tasks"][0]["snapshot"]
    assert snapshot["touched_files"] == [
        {"path": "notes.txt", "action": "read"},
        {"path": "out/report.md", "action": "edited"},
    ]
    assert snapshot["touched_files_total"] == 2
