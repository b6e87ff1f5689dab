"""find_files: the same bounded, filtered listing on local, memory and S3 workspaces."""

from __future__ import annotations

import json
import os
from pathlib import Path

from agentcycle.workspace import LocalWorkspaceBackend, WorkspaceBackend
from agentcycle.workspace.output_bounds import MAX_TOOL_OUTPUT_CHARS
from tests.tools_workspace.discovery_helpers import FIND, context, find, paths, plant, run_tool

VISIBLE = [
    "README.md",
    "build",
    "config",
    "data",
    "data/blob.bin",
    "data/late_nul.txt",
    "docs",
    "docs/guide.md",
    "docs/ünï",
    "docs/ünï/çödé.txt",
    "keys",
    "pkg",
    "src",
    "src/app.py",
    "src/util",
    "src/util/helpers.py",
    "src/util/strings.ts",
]


async def test_default_listing_hides_noise_and_summarises_dependency_dirs(
    workspace: WorkspaceBackend,
) -> None:
    await plant(workspace)
    outcome = await find(workspace)
    assert outcome.ok
    assert paths(outcome) == VISIBLE
    assert outcome.body["summarised"] == [
        {"path": ".github", "kind": "hidden"},
        {"path": "node_modules", "kind": "ignored"},
    ]
    assert outcome.body["skipped_directories"] == 1  # pkg/build
    assert (outcome.body["returned"], outcome.body["total_found"]) == (17, 17)
    assert not outcome.body["truncated"] and not outcome.body["scan_truncated"]
    by_path = {entry["path"]: entry for entry in outcome.body["files"]}
    assert by_path["README.md"]["size"] == len(b"# Demo\nSee src/app.py for the entry point.\n")
    assert by_path["README.md"]["type"] == "file"
    assert by_path["src"]["type"] == "directory" and "size" not in by_path["src"]


async def test_a_top_level_listing_names_the_directories_it_hides(
    workspace: WorkspaceBackend,
) -> None:
    # glob "*" (what a model asks for to look at a folder) never descends, yet the listing
    # must not pass over node_modules and .github in silence.
    await plant(workspace)
    outcome = await find(workspace, glob="*")
    assert paths(outcome) == [p for p in VISIBLE if "/" not in p]
    assert outcome.body["summarised"] == [
        {"path": ".github", "kind": "hidden"},
        {"path": "node_modules", "kind": "ignored"},
    ]
    assert "summarised" not in (await find(workspace, glob="*.md")).body


async def test_flags_reveal_hidden_ignored_and_sensitive(workspace: WorkspaceBackend) -> None:
    await plant(workspace)
    everything = await find(
        workspace, include_hidden=True, include_ignored=True, include_sensitive=True
    )
    listed = paths(everything)
    for path in (".env", ".github/workflow.yml", "node_modules/lib/index.js", "pkg/build/out.js"):
        assert path in listed
    assert "config/secrets.yml" in listed and "keys/server.pem" in listed
    assert "summarised" not in everything.body
    ignored_only = paths(await find(workspace, include_ignored=True))
    assert "node_modules/lib/index.js" in ignored_only and ".env" not in ignored_only
    assert "keys/server.pem" not in paths(await find(workspace, include_hidden=True))


async def test_glob_path_and_explicit_ignored_directory(workspace: WorkspaceBackend) -> None:
    await plant(workspace)
    assert paths(await find(workspace, glob="**/*.py")) == ["src/app.py", "src/util/helpers.py"]
    assert paths(await find(workspace, glob="*.md")) == ["README.md"]
    assert paths(await find(workspace, path="src/util", glob="*.{py,ts}")) == [
        "src/util/helpers.py",
        "src/util/strings.ts",
    ]
    # Naming an ignored directory lists it; naming a sensitive file's directory does not
    # reveal the file.
    assert paths(await find(workspace, path="node_modules")) == [
        "node_modules/lib",
        "node_modules/lib/index.js",
    ]
    assert paths(await find(workspace, path="keys")) == []


async def test_paging_by_path(workspace: WorkspaceBackend) -> None:
    await plant(workspace)
    first = await find(workspace, max_results=5)
    assert paths(first) == VISIBLE[:5]
    assert first.body["truncated"] and first.body["next_offset"] == 5
    assert "total_found" not in first.body  # the walk stopped early
    second = await find(workspace, max_results=5, offset=5)
    assert paths(second) == VISIBLE[5:10]
    last = await find(workspace, max_results=5, offset=15)
    assert paths(last) == VISIBLE[15:]
    assert not last.body["truncated"] and last.body["total_found"] == 17


async def test_modified_desc_sorts_newest_first(tmp_path: Path) -> None:
    workspace = LocalWorkspaceBackend(tmp_path)
    for name, age in (("old.txt", 0), ("new.txt", 200), ("mid.txt", 100)):
        await workspace.write(name, name)
        os.utime(tmp_path / name, (1_700_000_000 + age, 1_700_000_000 + age))
    outcome = await find(workspace, sort="modified_desc", max_results=2)
    assert paths(outcome) == ["new.txt", "mid.txt"]
    assert outcome.body["total_found"] == 3 and outcome.body["next_offset"] == 2
    assert outcome.body["files"][0]["modified"] == "2023-11-14T22:16:40Z"


async def test_scan_limit_stops_the_walk_and_says_so(workspace: WorkspaceBackend) -> None:
    for index in range(12):
        await workspace.write(f"many/f{index:02d}.txt", "x")
    outcome = await find(workspace, scan_limit=5)
    assert outcome.body["scan_truncated"]
    assert paths(outcome) == [
        "many",
        "many/f00.txt",
        "many/f01.txt",
        "many/f02.txt",
        "many/f03.txt",
    ]
    assert "scan_limit" in outcome.body["hint"]


async def test_ignored_directories_are_not_walked(workspace: WorkspaceBackend) -> None:
    for index in range(40):
        await workspace.write(f"node_modules/dep{index:02d}/index.js", "x")
    await workspace.write("main.py", "x")
    # Entries inside node_modules would exhaust this scan limit if the walk entered it.
    outcome = await find(workspace, scan_limit=3)
    assert paths(outcome) == ["main.py"]
    assert not outcome.body["scan_truncated"]


async def test_max_results_is_capped(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / "d").mkdir(parents=True)
    for index in range(5_003):
        (root / "d" / f"{index:05d}").touch()
    outcome = await find(LocalWorkspaceBackend(root), max_results=50_000)
    assert outcome.body["max_results_capped"] == 5_000
    # 5,000 entries never fit in one result: the output limit shortens the page further.
    assert outcome.body["truncated"] and outcome.body["next_offset"] == outcome.body["returned"]


async def test_a_page_too_large_for_one_result_shrinks_and_stays_json(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    for group in range(30):
        (root / f"group_{group:02d}").mkdir(parents=True)
        for index in range(40):
            (root / f"group_{group:02d}" / f"a_rather_long_file_name_{index:03d}.txt").touch()
    workspace = LocalWorkspaceBackend(root)
    listed: list[str] = []
    offset = 0
    while True:
        result = await FIND.invoke(context(workspace), {"max_results": 500, "offset": offset})
        assert len(result.content) <= MAX_TOOL_OUTPUT_CHARS  # never cut as text
        body = json.loads(result.content)
        listed += [entry["path"] for entry in body["files"]]
        if not body["truncated"]:
            break
        assert 0 < body["returned"] < 500 and "output limit" in body["hint"]
        offset = body["next_offset"]
    assert len(listed) == len(set(listed)) == 30 * 41
    assert listed == sorted(listed)


async def test_errors_are_results(workspace: WorkspaceBackend) -> None:
    await workspace.write("file.txt", "x")
    missing = await find(workspace, path="missing")
    assert missing.error_code == "file_not_found" and not missing.ok
    assert (await find(workspace, path="file.txt")).error_code == "not_a_directory"
    assert (await find(workspace, path="../x")).error_code == "path_escapes_workspace"
    assert (await find(workspace, glob="./")).error_code == "invalid_glob"


async def test_no_workspace_is_an_error() -> None:
    outcome = await run_tool(FIND, None)
    assert outcome.error_code == "no_workspace"
