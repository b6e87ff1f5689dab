"""write_file and edit_file: read before write, staleness, reserved paths, diffs."""

from __future__ import annotations

from typing import Any

import pytest

from agentcycle.state import FileStamp
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin import _file_write
from agentcycle.tools.builtin.files import edit_file_tool, read_file_tool, write_file_tool
from agentcycle.workspace import WorkspaceBackend
from tests.tools_workspace.file_helpers import call, sha256, tool_context

READ, WRITE, EDIT = read_file_tool(), write_file_tool(), edit_file_tool()


async def write(ctx: ToolContext, path: str, content: str, **args: Any) -> dict[str, Any]:
    return await call(WRITE, ctx, path=path, content=content, **args)


async def edit(ctx: ToolContext, path: str, old: str, new: str, **args: Any) -> dict[str, Any]:
    return await call(EDIT, ctx, path=path, old_string=old, new_string=new, **args)


async def test_new_files_are_created_with_their_parents(workspace: WorkspaceBackend) -> None:
    ctx = tool_context(workspace)
    body = await write(ctx, "a/b/c.txt", "hello", trailing_newline=True)
    assert body == {
        "ok": True,
        "path": "a/b/c.txt",
        "action": "created",
        "bytes_written": 6,
        "size": 6,
    }
    assert await workspace.read_bytes("a/b/c.txt") == b"hello\n"
    assert ctx.state.files_seen["a/b/c.txt"] == FileStamp(sha256=sha256("hello\n"), size=6)
    # What the run wrote itself it may replace without reading it back.
    again = await write(ctx, "a/b/c.txt", "bye\n", trailing_newline=True)
    assert (again["action"], await workspace.read_bytes("a/b/c.txt")) == ("overwritten", b"bye\n")


async def test_overwriting_needs_a_read_first(workspace: WorkspaceBackend) -> None:
    await workspace.write("config.toml", "x = 1\n")
    ctx = tool_context(workspace)
    refused = await write(ctx, "config.toml", "x = 2\n")
    assert refused["error_code"] == "file_not_read"
    assert "read_file" in refused["error"]
    assert await workspace.read_bytes("config.toml") == b"x = 1\n"
    await call(READ, ctx, path="config.toml", start_line=1, end_line=1)
    done = await write(ctx, "config.toml", "x = 2\n")
    assert (done["action"], done["bytes_written"]) == ("overwritten", 6)
    assert await workspace.read_bytes("config.toml") == b"x = 2\n"


async def test_a_file_changed_since_reading_is_not_overwritten(
    workspace: WorkspaceBackend,
) -> None:
    await workspace.write("shared.md", "v1\n")
    ctx = tool_context(workspace)
    await call(READ, ctx, path="shared.md")
    await workspace.write("shared.md", "v2 by someone else\n")
    refused = await write(ctx, "shared.md", "mine\n")
    assert refused["error_code"] == "file_changed_since_read"
    assert "read it again" in refused["error"].lower()
    assert await workspace.read_bytes("shared.md") == b"v2 by someone else\n"
    await call(READ, ctx, path="shared.md")
    assert (await write(ctx, "shared.md", "mine\n"))["ok"] is True


async def test_appending_with_newline_options(workspace: WorkspaceBackend) -> None:
    await workspace.write("log.txt", "first")
    ctx = tool_context(workspace)
    await call(READ, ctx, path="log.txt")
    body = await write(ctx, "log.txt", "second", append=True, leading_newline=True)
    assert (body["action"], body["bytes_written"], body["size"]) == ("appended", 7, 12)
    # The file now ends without a newline; trailing_newline adds one, leading adds none twice.
    await write(ctx, "log.txt", "third", append=True, leading_newline=True, trailing_newline=True)
    await write(ctx, "log.txt", "fourth\n", append=True, leading_newline=True)
    assert await workspace.read_bytes("log.txt") == b"first\nsecond\nthird\nfourth\n"
    # The stamp follows the appends, so an edit needs no new read.
    assert (await edit(ctx, "log.txt", "third", "3rd"))["ok"] is True
    appended_new = await write(ctx, "new.log", "entry", append=True, leading_newline=True)
    assert appended_new["action"] == "created"
    assert await workspace.read_bytes("new.log") == b"entry"


@pytest.mark.parametrize("path", [".agentcycle/notes.txt", ".agentcycle", "./.agentcycle/a/../b"])
async def test_the_reserved_area_is_read_only(workspace: WorkspaceBackend, path: str) -> None:
    await workspace.write(".agentcycle/artifacts/r/c.txt", "artifact")
    ctx = tool_context(workspace)
    await call(READ, ctx, path=".agentcycle/artifacts/r/c.txt")
    assert (await write(ctx, path, "x"))["error_code"] == "path_reserved"
    edited = await edit(ctx, ".agentcycle/artifacts/r/c.txt", "artifact", "changed")
    assert edited["error_code"] == "path_reserved"
    assert await workspace.read_bytes(".agentcycle/artifacts/r/c.txt") == b"artifact"
    assert not await workspace.exists(".agentcycle/notes.txt")


async def test_writing_onto_directories_or_below_files_fails(workspace: WorkspaceBackend) -> None:
    await workspace.write("dir/file.txt", "x")
    ctx = tool_context(workspace)
    assert (await write(ctx, "dir", "x"))["error_code"] == "is_a_directory"
    assert (await write(ctx, "dir/file.txt/below", "x"))["error_code"] == "not_a_directory"
    assert (await write(ctx, "../x", "x"))["error_code"] == "path_escapes_workspace"
    assert (await write(tool_context(None), "x", "x"))["error_code"] == "workspace_required"
    assert (await write(ctx, "bad.txt", "lone \ud800"))["error_code"] == "invalid_text"
    assert not await workspace.exists("bad.txt")


async def test_edit_replaces_a_unique_string_and_shows_a_diff(workspace: WorkspaceBackend) -> None:
    source = "def greet():\n    return 'hi'\n\n\nprint(greet())\n"
    await workspace.write("app.py", source)
    ctx = tool_context(workspace)
    await call(READ, ctx, path="app.py")
    body = await edit(ctx, "app.py", "return 'hi'", "return 'hello'")
    assert (body["replacements"], body["diff_truncated"]) == (1, False)
    assert body["diff"] == (
        "--- a/app.py\n+++ b/app.py\n@@ -1,5 +1,5 @@\n def greet():\n"
        "-    return 'hi'\n+    return 'hello'\n \n \n print(greet())\n"
    )
    updated = source.replace("'hi'", "'hello'")
    assert await workspace.read_bytes("app.py") == updated.encode()
    assert ctx.state.files_seen["app.py"].sha256 == sha256(updated)


async def test_edit_errors(workspace: WorkspaceBackend) -> None:
    await workspace.write("a.txt", "same same different\n")
    ctx = tool_context(workspace)
    assert (await edit(ctx, "a.txt", "same", "other"))["error_code"] == "file_not_read"
    assert (await edit(ctx, "ghost.txt", "a", "b"))["error_code"] == "file_not_found"
    await call(READ, ctx, path="a.txt")
    assert (await edit(ctx, "a.txt", "x", "x"))["error_code"] == "no_changes"
    missing = await edit(ctx, "a.txt", "absent", "b")
    assert missing["error_code"] == "old_string_not_found"
    repeated = await edit(ctx, "a.txt", "same", "other")
    assert (repeated["error_code"], repeated["details"]["count"]) == ("old_string_not_unique", 2)
    assert "replace_all" in repeated["error"]
    assert (await edit(ctx, "a.txt", "same", "\udfff"))["error_code"] == "invalid_text"
    await workspace.write("a.txt", "changed behind our back\n")
    assert (await edit(ctx, "a.txt", "changed", "x"))["error_code"] == "file_changed_since_read"
    assert await workspace.read_bytes("a.txt") == b"changed behind our back\n"


async def test_replace_all_counts_every_occurrence(workspace: WorkspaceBackend) -> None:
    await workspace.write("a.txt", "foo bar foo\nbaz foo\n")
    ctx = tool_context(workspace)
    await call(READ, ctx, path="a.txt")
    body = await edit(ctx, "a.txt", "foo", "qux", replace_all=True)
    assert body["replacements"] == 3
    assert await workspace.read_bytes("a.txt") == b"qux bar qux\nbaz qux\n"


async def test_edit_matches_model_newlines_in_crlf_files(workspace: WorkspaceBackend) -> None:
    await workspace.write("win.ini", "[a]\r\nx=1\r\ny=2\r\n")
    ctx = tool_context(workspace)
    await call(READ, ctx, path="win.ini")
    body = await edit(ctx, "win.ini", "x=1\ny=2", "x=10\ny=20\nz=30")
    assert (body["ok"], body["line_endings"]) == (True, "crlf")
    assert await workspace.read_bytes("win.ini") == b"[a]\r\nx=10\r\ny=20\r\nz=30\r\n"


async def test_edit_refuses_files_it_cannot_hold_or_decode(
    workspace: WorkspaceBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = tool_context(workspace)
    latin = "café\n".encode("latin-1")
    await workspace.write("latin.txt", latin)
    # A stamp restored from an earlier run's state: the bytes match, the encoding does not.
    ctx.state.files_seen["latin.txt"] = FileStamp(sha256=sha256(latin), size=len(latin))
    assert (await edit(ctx, "latin.txt", "caf", "x"))["error_code"] == "unsupported_encoding"
    monkeypatch.setattr(_file_write, "MAX_EDIT_BYTES", 16)
    await write(ctx, "big.txt", "x" * 17)
    assert (await edit(ctx, "big.txt", "x", "y"))["error_code"] == "file_too_large"


async def test_a_large_diff_is_cut_and_still_fits(workspace: WorkspaceBackend) -> None:
    text = "".join(f"value_{i} = old\n" for i in range(3_000))
    ctx = tool_context(workspace)
    await write(ctx, "vals.py", text)
    body = await edit(ctx, "vals.py", "= old", "= new", replace_all=True)
    assert (body["replacements"], body["diff_truncated"]) == (3_000, True)
    assert body["diff"].endswith("[diff cut at 4000 characters]\n")
    assert len(body["diff"]) < 4_100
    assert await workspace.read_bytes("vals.py") == text.replace("= old", "= new").encode()
