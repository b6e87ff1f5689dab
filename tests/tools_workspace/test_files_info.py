"""file_info: type, size, time, suffix and a streamed line count, never content."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentcycle.tools.builtin import _file_access
from agentcycle.tools.builtin.files import file_info_tool
from agentcycle.workspace import WorkspaceBackend
from tests.tools_workspace.file_helpers import call, tool_context

INFO = file_info_tool()


async def test_a_text_file_is_described_without_its_content(workspace: WorkspaceBackend) -> None:
    await workspace.write("src/app.py", "import os\nprint('secret-ish')\n")
    body = await call(INFO, tool_context(workspace), path="src/app.py")
    assert body["type"] == "file"
    assert (body["size"], body["suffix"], body["line_count"]) == (30, ".py", 2)
    assert body["encoding"] == "utf-8"
    assert "secret-ish" not in str(body)
    modified = datetime.fromisoformat(body["modified"].replace("Z", "+00:00"))
    assert body["modified"].endswith("Z")
    assert abs(datetime.now(UTC) - modified) < timedelta(hours=1)


async def test_binary_files_have_no_line_count(workspace: WorkspaceBackend) -> None:
    await workspace.write("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    body = await call(INFO, tool_context(workspace), path="logo.png")
    assert (body["encoding"], body["line_count"], body["size"]) == ("binary", None, 16)


async def test_directories_and_the_root(workspace: WorkspaceBackend) -> None:
    await workspace.write("pkg/mod.py", "x = 1\n")
    ctx = tool_context(workspace)
    directory = await call(INFO, ctx, path="pkg")
    assert directory["type"] == "directory"
    assert "size" not in directory
    assert "line_count" not in directory
    root = await call(INFO, ctx, path=".")
    assert (root["type"], root["path"]) == ("directory", ".")


async def test_line_counts_stream_through_small_chunks(
    workspace: WorkspaceBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_file_access, "CHUNK_BYTES", 64)
    ctx = tool_context(workspace)
    cases = {
        "empty.txt": ("", 0),
        "no-newline.txt": ("one line", 1),
        "crlf.txt": ("a\r\nb\r\nc\r\n", 3),
        "many.txt": ("línea\n" * 500 + "last", 501),
        "blank-lines.txt": ("\n\n\n", 3),
    }
    for name, (text, lines) in cases.items():
        await workspace.write(name, text)
        body = await call(INFO, ctx, path=name)
        assert (body["line_count"], body["size"]) == (lines, len(text.encode())), name


async def test_missing_paths_and_missing_workspaces(workspace: WorkspaceBackend) -> None:
    missing = await call(INFO, tool_context(workspace), path="ghost.txt")
    assert missing["error_code"] == "file_not_found"
    none = await call(INFO, tool_context(None), path="ghost.txt")
    assert none["error_code"] == "workspace_required"
