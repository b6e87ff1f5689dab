"""The security corpus through every path-taking file tool, on every backend.

Each hostile path goes through write_file (create, append, overwrite), file_info, read_file
(plain and with a cursor naming the path), edit_file and read_image; on S3, where each call
costs several HTTP requests, through one call of each tool. Nothing outside the workspace may
be read or changed, every call must return a result (never raise), and every failure must be a
clear error: ``path_escapes_workspace`` for paths the policy rejects, some typed code other than
``tool_execution_failed`` otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentcycle._json import dumps
from agentcycle.errors import PathEscapesWorkspace
from agentcycle.messages import ToolResultStatus
from agentcycle.testing._workspace_security import HOSTILE_PATHS
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin.files import (
    edit_file_tool,
    file_info_tool,
    read_file_tool,
    read_image_tool,
    write_file_tool,
)
from agentcycle.workspace import LocalWorkspaceBackend, S3WorkspaceBackend, WorkspaceBackend
from agentcycle.workspace.paths import normalize_path
from tests.tools_workspace.file_helpers import tool_context
from tests.workspace.workspace_probes import CANARY, SiblingProbe

INFO, READ, WRITE = file_info_tool(), read_file_tool(), write_file_tool()
EDIT, IMAGE = edit_file_tool(), read_image_tool()


class BucketProbe:
    """Objects planted in the workspace's bucket outside its prefix, and a picture of them."""

    def __init__(self, admin: Any, bucket: str) -> None:
        self.admin = admin
        self.bucket = bucket
        for key in ("canary.txt", "outside/canary.txt", "ws-sibling/canary.txt", "wsx"):
            admin.put_object(Bucket=bucket, Key=key, Body=CANARY)

    async def snapshot(self) -> Any:
        listed = self.admin.list_objects_v2(Bucket=self.bucket)
        return sorted(
            (item["Key"], item["ETag"])
            for item in listed.get("Contents", [])
            if not item["Key"].startswith("ws/")
        )


class NothingOutside:
    """A memory workspace has no outside."""

    async def snapshot(self) -> Any:
        return None


def outside_probe(
    workspace: WorkspaceBackend, request: pytest.FixtureRequest, tmp_path: Path
) -> SiblingProbe | BucketProbe | NothingOutside:
    if isinstance(workspace, LocalWorkspaceBackend):
        return SiblingProbe(tmp_path)
    if isinstance(workspace, S3WorkspaceBackend):
        return BucketProbe(
            request.getfixturevalue("s3_admin"), request.getfixturevalue("s3_bucket")
        )
    return NothingOutside()


def steps(path: str, slot: int, *, thorough: bool) -> list[tuple[Any, dict[str, Any]]]:
    """The calls made with one hostile path; one per tool and mode on fast storage, one per
    tool on S3 (where every call costs several HTTP requests)."""
    cursor = {"kind": "read_file", "offset_chars": 0, "path": path, "sha256": "0" * 64}
    append = {"path": path, "content": "appended", "append": True, "leading_newline": True}
    calls: list[tuple[Any, dict[str, Any]]] = [
        (WRITE, {"path": path, "content": f"hostile {slot}\n"}),
        (INFO, {"path": path}),
        (READ, {"path": path}),
        (READ, {"path": path, "cursor": cursor}),
        (EDIT, {"path": path, "old_string": "hostile", "new_string": "edited"}),
        (WRITE, append),
        (IMAGE, {"path": path}),
        (WRITE, {"path": path, "content": f"final {slot}"}),
        (READ, {"path": path}),
    ]
    if thorough:
        return calls
    return [calls[0], calls[1], calls[3], calls[4], calls[6]]


async def attack(
    ctx: ToolContext, path: str, slot: int, *, thorough: bool
) -> tuple[list[str], bool]:
    """Run the tools on one hostile path; return what went wrong and whether the first write
    succeeded (the path was usable inside the root)."""
    try:
        target: str | None = normalize_path(path)
    except PathEscapesWorkspace:
        target = None
    problems: list[str] = []
    bodies: list[dict[str, Any]] = []
    for tool, args in steps(path, slot, thorough=thorough):
        where = f"{path[:60]!r} {tool.name}"
        try:
            result = await tool.invoke(ctx, args)
        except Exception as error:
            problems.append(f"{where}: raised {type(error).__name__}: {error}")
            bodies.append({"ok": False})
            continue
        if CANARY.decode() in result.content or CANARY.decode() in dumps(result.metadata):
            problems.append(f"{where}: returned a planted secret")
        bodies.append(json.loads(result.content))
        if result.status is ToolResultStatus.ERROR:
            if not bodies[-1].get("error"):
                problems.append(f"{where}: error without a message")
            if target is None and result.error_code != "path_escapes_workspace":
                problems.append(f"{where}: expected path_escapes_workspace, {result.error_code}")
            if result.error_code == "tool_execution_failed":
                problems.append(f"{where}: tool_execution_failed")
        elif target is None:
            problems.append(f"{where}: accepted a path the policy rejects")
    written = bool(bodies[0].get("ok"))
    if thorough and written and bodies[-1].get("content") != f"final {slot}":
        problems.append(f"{path[:60]!r}: read back {bodies[-1].get('content')!r}")
    return problems, written


async def test_hostile_paths_never_escape_and_always_answer(
    workspace: WorkspaceBackend, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    probe = outside_probe(workspace, request, tmp_path)
    thorough = not isinstance(probe, BucketProbe)
    before = await probe.snapshot()
    ctx = tool_context(workspace)
    problems: list[str] = []
    usable = 0
    for slot, path in enumerate(HOSTILE_PATHS):
        found, written = await attack(ctx, path, slot, thorough=thorough)
        problems.extend(found)
        usable += written
        # Over HTTP the outside is compared once, at the end; locally after every path.
        if thorough and await probe.snapshot() != before:
            problems.append(f"{path[:60]!r}: something outside the workspace changed")
    if await probe.snapshot() != before:
        problems.append("something outside the workspace changed")
    assert not problems, "\n".join(problems)
    assert usable > 50  # the corpus exercised the tools inside the root, not only the policy
