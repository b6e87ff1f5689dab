"""The security corpus against find_files and search_files on all three backends.

Every hostile path goes in as ``path`` and as ``glob`` of both tools, with every include_*
flag on: each call returns a result (success or a clear error code, never an exception), and
nothing planted outside the workspace is ever listed or searched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentcycle.testing._workspace_security import HOSTILE_PATHS
from agentcycle.workspace import LocalWorkspaceBackend, WorkspaceBackend
from tests.tools_workspace.discovery_helpers import FIND, SEARCH, Outcome, run_tool, without_rg

SECRET = "CANARY-7f3a9c"
CLEAR_ERRORS = {
    "path_escapes_workspace",
    "file_not_found",
    "not_a_directory",
    "invalid_glob",
    "sensitive_path",
}
REVEAL = {"include_hidden": True, "include_ignored": True, "include_sensitive": True}


def plant_outside(tmp_path: Path) -> Path:
    """A workspace at tmp/ws with canaries beside it and symlinks inside pointing at them."""
    root = tmp_path / "ws"
    (root / "inside").mkdir(parents=True)
    (root / "inside" / "note.txt").write_text("an ordinary file\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text(f"{SECRET}\n")
    (tmp_path / "canary.txt").write_text(f"{SECRET}\n")
    (root / "out_dir").symlink_to(outside)
    (root / "out_file").symlink_to(outside / "canary.txt")
    (root / "inside" / "up").symlink_to("../..")
    return root


async def attack(workspace: WorkspaceBackend, path: str) -> list[tuple[str, Outcome]]:
    calls: list[tuple[str, Any, dict[str, Any]]] = [
        ("find path", FIND, {"path": path}),
        ("find glob", FIND, {"glob": path}),
        ("search path", SEARCH, {"pattern": "CANARY|ordinary", "path": path}),
        ("search glob", SEARCH, {"pattern": "CANARY|ordinary", "glob": path}),
    ]
    return [(name, await run_tool(tool, workspace, **args, **REVEAL)) for name, tool, args in calls]


def problems_in(path: str, outcomes: list[tuple[str, Outcome]]) -> list[str]:
    problems = []
    for name, outcome in outcomes:
        text = str(outcome.body)
        # Errors may echo the hostile path; only a success could list what it points at.
        if SECRET in text or (outcome.ok and "canary" in text.lower()):
            problems.append(f"{name} {path!r}: leaked {text[:200]}")
        if not outcome.ok and outcome.error_code not in CLEAR_ERRORS:
            problems.append(f"{name} {path!r}: unexpected error {outcome.body}")
    return problems


async def run_corpus(workspace: WorkspaceBackend) -> list[str]:
    problems: list[str] = []
    for path in HOSTILE_PATHS:
        problems.extend(problems_in(path, await attack(workspace, path)))
    return problems


async def test_hostile_paths_on_every_backend(workspace: WorkspaceBackend) -> None:
    await workspace.write("inside/note.txt", "an ordinary file\n")
    assert not await run_corpus(workspace)


@pytest.mark.parametrize("engine", ["ripgrep", "python"])
async def test_nothing_outside_a_local_root_is_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    workspace = LocalWorkspaceBackend(plant_outside(tmp_path))
    if engine == "python":
        without_rg(monkeypatch)
    problems = await run_corpus(workspace)
    for link in ("out_dir", "out_file", "out_dir/canary.txt", "inside/up", "inside/up/canary.txt"):
        outcomes = await attack(workspace, link)
        problems.extend(problems_in(link, outcomes))
        assert outcomes[0][1].error_code in ("path_escapes_workspace", "file_not_found"), link
        assert outcomes[2][1].error_code in ("path_escapes_workspace", "file_not_found"), link
    assert not problems, "\n".join(problems)
    everything = await run_tool(SEARCH, workspace, pattern="CANARY|ordinary", **REVEAL)
    assert everything.body["files"] == ["inside/note.txt"]
    assert everything.engine == engine
    listed = await run_tool(FIND, workspace, **REVEAL)
    assert [entry["path"] for entry in listed.body["files"]] == ["inside", "inside/note.txt"]
