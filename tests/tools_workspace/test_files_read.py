"""read_file: line ranges, cursor paging, staleness, encodings and bounded memory."""

from __future__ import annotations

import itertools
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from agentcycle.state import FileStamp
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin import _file_access
from agentcycle.tools.builtin.files import read_file_tool
from agentcycle.workspace import LocalWorkspaceBackend, MemoryWorkspaceBackend, WorkspaceBackend
from tests.tools_workspace.file_helpers import call, sha256, tool_context

READ = read_file_tool()


async def read(ctx: ToolContext, path: str, **args: Any) -> dict[str, Any]:
    return await call(READ, ctx, path=path, **args)


async def page_through(ctx: ToolContext, path: str, **args: Any) -> list[dict[str, Any]]:
    """Every result of reading ``path`` from the start, following cursors to the end."""
    pages = [await read(ctx, path, **args)]
    while pages[-1]["truncated"]:
        assert len(pages) < 1_000, "the cursor does not make progress"
        pages.append(await read(ctx, path, cursor=pages[-1]["cursor"], **args))
    return pages


async def test_a_small_file_is_read_whole_and_stamped(workspace: WorkspaceBackend) -> None:
    text = "alpha\nbeta\ngamma\n"
    await workspace.write("docs/notes.txt", text)
    ctx = tool_context(workspace)
    body = await read(ctx, "./docs//notes.txt")
    assert body["content"] == text
    assert body["path"] == "docs/notes.txt"
    assert (body["start_line"], body["end_line"], body["total_lines"]) == (1, 3, 3)
    assert body["total_chars"] == len(text)
    assert body["truncated"] is False
    assert "cursor" not in body
    assert ctx.state.files_seen["docs/notes.txt"] == FileStamp(sha256=sha256(text), size=17)


async def test_line_ranges_are_one_based_inclusive_and_clamped(
    workspace: WorkspaceBackend,
) -> None:
    await workspace.write("f.txt", "1\n2\n3\n4\n5")
    ctx = tool_context(workspace)
    middle = await read(ctx, "f.txt", start_line=2, end_line=3)
    assert (middle["content"], middle["start_line"], middle["end_line"]) == ("2\n3\n", 2, 3)
    assert middle["truncated"] is False
    tail = await read(ctx, "f.txt", start_line=4)
    assert (tail["content"], tail["end_line"], tail["total_lines"]) == ("4\n5", 5, 5)
    head = await read(ctx, "f.txt", end_line=1)
    assert head["content"] == "1\n"
    clamped = await read(ctx, "f.txt", start_line=5, end_line=99)
    assert (clamped["content"], clamped["start_line"], clamped["end_line"]) == ("5", 5, 5)
    numbered = await read(ctx, "f.txt", start_line=3, end_line=4, show_line_numbers=True)
    assert numbered["content"] == "3\t3\n4\t4\n"


async def test_bad_line_ranges_are_refused(workspace: WorkspaceBackend) -> None:
    await workspace.write("f.txt", "1\n2\n3\n")
    ctx = tool_context(workspace)
    backwards = await read(ctx, "f.txt", start_line=3, end_line=2)
    assert backwards["error_code"] == "invalid_line_range"
    past = await read(ctx, "f.txt", start_line=4)
    assert past["error_code"] == "invalid_line_range"
    assert past["details"]["total_lines"] == 3


async def test_an_empty_file_reads_as_nothing(workspace: WorkspaceBackend) -> None:
    await workspace.write("empty.txt", b"")
    ctx = tool_context(workspace)
    body = await read(ctx, "empty.txt", start_line=1, show_line_numbers=True)
    assert (body["content"], body["total_lines"], body["total_chars"]) == ("", 0, 0)
    assert body["truncated"] is False
    assert "start_line" not in body
    assert ctx.state.files_seen["empty.txt"] == FileStamp(sha256=sha256(b""), size=0)


async def test_crlf_files_keep_their_line_endings(workspace: WorkspaceBackend) -> None:
    text = "one\r\ntwo\r\nthree\r\n"
    await workspace.write("win.txt", text)
    ctx = tool_context(workspace)
    whole = await read(ctx, "win.txt")
    assert whole["content"] == text
    assert whole["total_lines"] == 3
    second = await read(ctx, "win.txt", start_line=2, end_line=2)
    assert second["content"] == "two\r\n"


def mixed_text() -> str:
    """Multibyte text (CJK, emoji, accents), characters JSON escapes, CRLF and a line longer
    than one read."""
    lines = []
    for i in range(1_500):
        lines.append(f'{i:04d} 漢字かなカナ한국어 — café 😀 "quoted" \\ tab\t{"界" * (i % 37)}\n')
        if i % 100 == 0:
            lines.append("crlf line\r\n")
    lines.insert(700, "长" * 30_000 + "\n")  # longer than one read: cut inside the line
    return "".join(lines)


async def test_cursor_pages_concatenate_to_the_file(
    workspace: WorkspaceBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = mixed_text()
    data = text.encode()
    # Backend reads of a prime size: some chunk boundaries fall inside characters.
    chunk = 65_537
    monkeypatch.setattr(_file_access, "CHUNK_BYTES", chunk)
    assert any(data[k] & 0xC0 == 0x80 for k in range(chunk, len(data), chunk))
    await workspace.write("big.txt", data)
    ctx = tool_context(workspace)
    pages = await page_through(ctx, "big.txt")
    assert len(pages) > 3
    assert "".join(page["content"] for page in pages) == text
    for page in pages:
        assert len(page["content"]) <= 12_000
        assert page["content"].count("\n") <= 2_000
        assert page["total_chars"] == len(text)
    for before, after in itertools.pairwise(pages):
        assert before["cursor"]["kind"] == "read_file"
        assert before["cursor"]["path"] == "big.txt"
        assert before["cursor"]["sha256"] == sha256(text)
        assert before["hint"].startswith(f"{len(text) - before['cursor']['offset_chars']} more")
        # A page starts on the line the previous one ended on (cut inside) or the next one.
        assert after["start_line"] in (before["end_line"], before["end_line"] + 1)
    assert pages[-1]["end_line"] == pages[-1]["total_lines"]


async def test_multibyte_characters_split_across_backend_chunks(
    workspace: WorkspaceBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk = 61
    monkeypatch.setattr(_file_access, "CHUNK_BYTES", chunk)
    text = "".join(f"{i} 日本語😀é\n" for i in range(300)) + "終"
    data = text.encode()
    inside = [k for k in range(chunk, len(data), chunk) if data[k] & 0xC0 == 0x80]
    assert len(inside) > 20, "chunk boundaries must fall inside characters"
    await workspace.write("cjk.txt", text)
    ctx = tool_context(workspace)
    whole = await read(ctx, "cjk.txt")
    assert whole["content"] == text
    assert whole["total_lines"] == 301
    ranged = await read(ctx, "cjk.txt", start_line=120, end_line=121)
    assert ranged["content"] == "119 日本語😀é\n120 日本語😀é\n"


async def test_a_line_range_larger_than_one_read_continues_with_end_line(
    workspace: WorkspaceBackend,
) -> None:
    text = "".join(f"{i}\n" for i in range(1, 5_001))
    await workspace.write("lines.txt", text)
    ctx = tool_context(workspace)
    first = await read(ctx, "lines.txt", start_line=10, end_line=4_500)
    assert (first["start_line"], first["end_line"]) == (10, 2_009)  # 2,000 lines per call
    assert first["truncated"] is True
    assert "end_line=4500" in first["hint"]
    pages = [first]
    while pages[-1]["truncated"]:
        pages.append(await read(ctx, "lines.txt", cursor=pages[-1]["cursor"], end_line=4_500))
    for before, after in itertools.pairwise(pages):
        assert after["start_line"] == before["end_line"] + 1
    assert pages[-1]["end_line"] == 4_500
    assert "".join(p["content"] for p in pages) == "".join(f"{i}\n" for i in range(10, 4_501))


async def test_json_heavy_text_still_fits_one_result(workspace: WorkspaceBackend) -> None:
    # Each of these characters takes 2 to 6 characters once JSON-escaped.
    text = ('\t"\\\x01' * 6_000) + "\n"
    await workspace.write("escapes.txt", text)
    ctx = tool_context(workspace)
    pages = await page_through(ctx, "escapes.txt", show_line_numbers=True)
    assert "".join(p["content"].removeprefix("1\t") for p in pages) == text


async def test_a_changed_file_makes_its_cursor_stale(workspace: WorkspaceBackend) -> None:
    await workspace.write("log.txt", "x" * 30_000)
    ctx = tool_context(workspace)
    first = await read(ctx, "log.txt")
    await workspace.write("log.txt", "y" * 30_000)
    stale = await read(ctx, "log.txt", cursor=first["cursor"])
    assert stale["error_code"] == "stale_cursor"
    fresh = await read(ctx, "log.txt")
    assert fresh["content"].startswith("y")


@pytest.mark.parametrize(
    ("cursor", "why"),
    [
        ({"kind": "read_file", "offset_chars": 5, "path": "other.txt"}, "another path"),
        ({"kind": "find_files", "offset_chars": 5, "path": "log.txt"}, "another kind"),
        ({"kind": "read_file", "offset_chars": -1, "path": "log.txt"}, "negative offset"),
        ({"kind": "read_file", "offset_chars": "5", "path": "log.txt"}, "offset not an int"),
        ({"kind": "read_file", "offset_chars": 10**9, "path": "log.txt"}, "past the end"),
        ({"kind": "read_file", "offset_chars": 5, "path": "../log.txt"}, "escaping path"),
        ({"kind": "read_file", "offset_chars": 5, "path": "log.txt", "sha256": "nope"}, "digest"),
        ("read_file:5", "not an object"),
    ],
)
async def test_foreign_or_malformed_cursors_are_invalid(cursor: Any, why: str) -> None:
    workspace = MemoryWorkspaceBackend()
    text = "z" * 20_000
    await workspace.write("log.txt", text)
    if isinstance(cursor, dict):
        cursor = {"sha256": sha256(text), **cursor}
    body = await read(tool_context(workspace), "log.txt", cursor=cursor)
    assert body["error_code"] == "invalid_cursor", why


async def test_a_cursor_at_the_end_returns_nothing_more() -> None:
    workspace = MemoryWorkspaceBackend()
    await workspace.write("a.txt", "abc")
    cursor = {"kind": "read_file", "offset_chars": 3, "path": "a.txt", "sha256": sha256("abc")}
    body = await read(tool_context(workspace), "a.txt", cursor=cursor)
    assert (body["content"], body["truncated"]) == ("", False)


@pytest.mark.parametrize(
    "data",
    [
        "café".encode("latin-1"),
        b"valid start\n" * 10 + b"\xff",
        "ends mid-character 日".encode()[:-1],
        b"\x89PNG\r\n\x1a\n\x00\x00",
    ],
)
async def test_text_that_is_not_utf8_is_refused(workspace: WorkspaceBackend, data: bytes) -> None:
    await workspace.write("blob.bin", data)
    ctx = tool_context(workspace)
    body = await read(ctx, "blob.bin")
    assert body["error_code"] == "unsupported_encoding"
    assert "offset" in body["details"]
    assert "blob.bin" not in ctx.state.files_seen


async def test_missing_files_directories_and_escapes_are_errors(
    workspace: WorkspaceBackend,
) -> None:
    await workspace.write("dir/inner.txt", "x")
    ctx = tool_context(workspace)
    assert (await read(ctx, "nope.txt"))["error_code"] == "file_not_found"
    assert (await read(ctx, "dir"))["error_code"] == "is_a_directory"
    assert (await read(ctx, "../outside.txt"))["error_code"] == "path_escapes_workspace"


async def test_without_a_workspace_the_tool_says_so() -> None:
    body = await read(tool_context(None), "a.txt")
    assert body["error_code"] == "workspace_required"


async def test_artifacts_in_the_reserved_area_are_readable(workspace: WorkspaceBackend) -> None:
    path = ".agentcycle/artifacts/run_1/call_1.txt"
    await workspace.write(path, "archived output\n")
    body = await read(tool_context(workspace), path)
    assert body["content"] == "archived output\n"


async def test_a_very_long_path_still_fits_one_result() -> None:
    workspace = MemoryWorkspaceBackend()
    path = "/".join(["segment"] * 480)  # 3,839 characters, named twice in a truncated result
    await workspace.write(path, "w" * 50_000)
    pages = await page_through(tool_context(workspace), path)
    assert "".join(p["content"] for p in pages) == "w" * 50_000


async def test_reading_the_head_of_a_huge_file_keeps_memory_bounded(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    line = "2024-01-01T00:00:00Z INFO request served in 12 ms by worker 7\n"
    count = 400_000  # about 25 MB
    (root / "huge.log").write_text(line * count)
    ctx = tool_context(LocalWorkspaceBackend(root))
    tracemalloc.start()
    try:
        body = await read(ctx, "huge.log", start_line=1, end_line=100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body["content"] == line * 100
    assert body["total_lines"] == count
    assert peak < 8 * 1024 * 1024, peak
