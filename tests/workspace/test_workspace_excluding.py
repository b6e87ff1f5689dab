"""The filtered workspace view of a sub-task (``exclude_files_pattern``): a full backend that
hides what its pattern matches."""

from __future__ import annotations

import pytest

from agentcycle.testing.workspace_conformance import (
    WorkspaceBackendConformance,
    WorkspaceSecurityConformance,
    expect_error,
)
from agentcycle.workspace import MemoryWorkspaceBackend, WorkspaceBackend
from agentcycle.workspace._excluding import ExcludedPaths, ExcludingWorkspace


class TestExcludingBackend(WorkspaceBackendConformance, WorkspaceSecurityConformance):
    """With a pattern that matches none of the suites' paths, the view behaves exactly like
    the backend it wraps."""

    @pytest.fixture
    def backend(self) -> WorkspaceBackend:
        return ExcludingWorkspace(MemoryWorkspaceBackend(), ExcludedPaths("never-used-name"))


def view(pattern: str) -> ExcludingWorkspace:
    inner = MemoryWorkspaceBackend(
        {
            "keep/a.txt": "a",
            "keep/b.csv": "1,2",
            "private/key.txt": "k",
            "private/inner/deep.txt": "d",
            "mixed/private/x.txt": "x",
        }
    )
    return ExcludingWorkspace(inner, ExcludedPaths(pattern))


async def paths(workspace: ExcludingWorkspace, path: str = "", glob: str = "**") -> list[str]:
    return [e.path for e in await workspace.list(path, glob=glob).collect()]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("private", ["keep", "keep/a.txt", "keep/b.csv", "mixed"]),
        (
            "private/**",
            [
                "keep",
                "keep/a.txt",
                "keep/b.csv",
                "mixed",
                "mixed/private",
                "mixed/private/x.txt",
                "private",
            ],
        ),
        (
            "*.csv",
            [
                "keep",
                "keep/a.txt",
                "mixed",
                "mixed/private",
                "mixed/private/x.txt",
                "private",
                "private/inner",
                "private/inner/deep.txt",
                "private/key.txt",
            ],
        ),
        (
            "mixed/private",
            [
                "keep",
                "keep/a.txt",
                "keep/b.csv",
                "mixed",
                "private",
                "private/inner",
                "private/inner/deep.txt",
                "private/key.txt",
            ],
        ),
    ],
)
async def test_names_match_at_any_depth_and_paths_from_the_root(
    pattern: str, expected: list[str]
) -> None:
    assert await paths(view(pattern)) == expected


async def test_a_glob_that_starts_inside_an_excluded_directory_finds_nothing() -> None:
    workspace = view("private")
    assert await paths(workspace, glob="private/**") == []
    assert await paths(workspace, glob="**/private/*") == []
    with expect_error("file_not_found"):
        await paths(workspace, "private")


async def test_reads_say_not_found_and_changes_are_refused() -> None:
    workspace = view("private")
    with expect_error("file_not_found"):
        await workspace.read_text("private/key.txt")
    with expect_error("file_not_found"):
        await workspace.read_bytes("private/inner/deep.txt")
    with expect_error("file_not_found"):
        await workspace.info("private")
    assert not await workspace.exists("private/key.txt")
    assert await workspace.exists("keep/a.txt")
    for change in (
        workspace.write("private/new.txt", "x"),
        workspace.mkdir("private/more"),
        workspace.delete("private/key.txt"),
        workspace.move("keep/a.txt", "private/a.txt"),
        workspace.move("private/key.txt", "keep/key.txt"),
    ):
        with expect_error("path_excluded"):
            await change


async def test_a_directory_holding_excluded_paths_is_not_deleted_or_moved_whole() -> None:
    workspace = view("private")
    with expect_error("path_excluded"):
        await workspace.delete("mixed", recursive=True)
    with expect_error("path_excluded"):
        await workspace.move("mixed", "elsewhere")
    await workspace.move("keep", "kept")
    assert await paths(workspace, "kept") == ["kept/a.txt", "kept/b.csv"]
    await workspace.delete("kept", recursive=True)
    assert not await workspace.exists("kept")


async def test_listing_counts_come_from_the_whole_scan() -> None:
    workspace = view("private")
    listing = workspace.list(glob="**", scan_limit=3)
    found = await listing.collect()
    assert listing.truncated is True and listing.scanned == 3
    assert [e.path for e in found] == ["keep", "keep/a.txt", "keep/b.csv"]


def test_an_unusable_pattern_is_a_typed_error() -> None:
    with expect_error("invalid_glob"):
        ExcludedPaths("[z-a]")
    with expect_error("path_escapes_workspace"):
        ExcludedPaths("../outside")
