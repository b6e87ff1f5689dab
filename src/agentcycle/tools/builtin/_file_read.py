"""The handlers of ``file_info`` and ``read_file``: one streaming pass per call, bounded output."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from agentcycle._json import dumps
from agentcycle.errors import PathEscapesWorkspace, UnsupportedFileEncoding, WorkspaceError
from agentcycle.messages import ToolResult
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._file_access import (
    file_entry,
    record,
    refusal,
    scan_text,
    workspace_of,
)
from agentcycle.tools.builtin._read_window import TextScan, take
from agentcycle.workspace.output_bounds import MAX_TOOL_OUTPUT_CHARS
from agentcycle.workspace.paths import normalize_path

MAX_READ_CHARS = 12_000
"""File characters one ``read_file`` call returns at most."""
MAX_READ_LINES = 2_000
"""Lines one ``read_file`` call returns at most."""
CURSOR_KIND = "read_file"

_MIN_BUDGET = 1_000
"""Shown characters allowed even when a huge path crowds the result (progress guaranteed)."""
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _shown(path: str) -> str:
    return path or "."


def _modified(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


async def file_info(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Type, size, modification time, suffix and (for UTF-8 text) line count of a path."""
    workspace = workspace_of(ctx)
    entry = await workspace.info(normalize_path(args["path"]))
    body: dict[str, Any] = {"ok": True, "path": _shown(entry.path), "type": entry.kind}
    if entry.modified is not None:
        body["modified"] = _modified(entry.modified)
    if not entry.is_dir:
        body["size"] = entry.size
        body["suffix"] = PurePosixPath(entry.name).suffix
        scan = TextScan(capacity=0)
        try:
            await scan_text(workspace, entry.path, scan.feed)
        except UnsupportedFileEncoding:
            body.update(encoding="binary", line_count=None)
        else:
            body.update(encoding="utf-8", line_count=scan.lines)
    return ToolResult.success(dumps(body))


def _invalid_cursor(message: str) -> WorkspaceError:
    return refusal(
        "invalid_cursor",
        f"{message}. Pass back the cursor object a truncated read_file result gave, unchanged, "
        "with the same path.",
    )


def _cursor_start(cursor: Any, path: str) -> tuple[int, str]:
    """A cursor's character offset and file digest, after checking its shape and path."""
    if not isinstance(cursor, dict) or cursor.get("kind") != CURSOR_KIND:
        raise _invalid_cursor(f'The cursor is not a {{"kind": "{CURSOR_KIND}"}} object')
    offset, digest, where = cursor.get("offset_chars"), cursor.get("sha256"), cursor.get("path")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise _invalid_cursor("The cursor's offset_chars is not a non-negative integer")
    if not isinstance(digest, str) or _SHA256.fullmatch(digest) is None:
        raise _invalid_cursor("The cursor's sha256 is not a hex SHA-256 digest")
    try:
        same = isinstance(where, str) and normalize_path(where) == path
    except PathEscapesWorkspace:
        same = False
    if not same:
        raise _invalid_cursor(f"The cursor belongs to another path, not {_shown(path)!r}")
    return offset, digest


def _body(
    path: str,
    scan: TextScan,
    lines: tuple[int, int] | None,
    cursor: dict[str, Any] | None,
    hint: str | None,
    content: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ok": True,
        "path": path,
        "total_lines": scan.lines,
        "total_chars": scan.chars,
    }
    if lines is not None:
        body["start_line"], body["end_line"] = lines
    body["truncated"] = cursor is not None
    if cursor is not None:
        body["cursor"] = cursor
        body["hint"] = hint
    body["content"] = content
    return body


def _hint(remaining: int, end_line: int | None) -> str:
    if end_line is None:
        return f"{remaining} more characters; call read_file with this cursor to continue."
    return (
        f"{remaining} more characters up to line {end_line}; call read_file with this cursor "
        f"and end_line={end_line} to continue."
    )


async def read_file(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """A bounded slice of a UTF-8 file by line range or cursor (see ``read_file_tool``)."""
    workspace = workspace_of(ctx)
    path = normalize_path(args["path"])
    start_line: int | None = args.get("start_line")
    end_line: int | None = args.get("end_line")
    cursor = args.get("cursor")
    start_char, expected = (None, None) if cursor is None else _cursor_start(cursor, path)
    if start_char is None and start_line is not None and end_line is not None:
        _check_order(start_line, end_line)
    await file_entry(workspace, path)
    scan = TextScan(
        capacity=MAX_READ_CHARS + 1,
        start_line=start_line or 1,
        start_char=start_char,
        end_line=end_line,
    )
    digest, size = await scan_text(workspace, path, scan.feed)
    if expected is not None and expected != digest:
        raise refusal(
            "stale_cursor",
            f"{_shown(path)!r} changed since this cursor was issued. Read it again from the "
            "start (or a line range) without the cursor.",
            path=path,
        )
    _check_start(scan, start_char, start_line, end_line)
    record(ctx, path, digest, size)
    first_line = scan.window_line if scan.window_line is not None else scan.newlines + 1
    start = scan.window_start or 0
    range_end = scan.range_end if scan.range_end is not None else scan.chars
    worst = {"kind": CURSOR_KIND, "offset_chars": scan.chars, "path": path, "sha256": digest}
    envelope = _body(
        path, scan, (scan.lines, scan.lines), worst, _hint(scan.chars, end_line), content=""
    )
    budget = max(MAX_TOOL_OUTPUT_CHARS - len(dumps(envelope)) - 16, _MIN_BUDGET)
    piece = take(
        scan.window(),
        first_line,
        numbered=bool(args.get("show_line_numbers", False)),
        max_chars=MAX_READ_CHARS,
        max_lines=MAX_READ_LINES,
        budget=budget,
    )
    stop = start + piece.chars
    lines = (first_line, first_line + piece.lines - 1) if piece.chars else None
    if stop >= range_end:
        return ToolResult.success(dumps(_body(path, scan, lines, None, None, piece.text)))
    resume = {"kind": CURSOR_KIND, "offset_chars": stop, "path": path, "sha256": digest}
    hint = _hint(range_end - stop, end_line)
    return ToolResult.success(
        dumps(_body(path, scan, lines, resume, hint, piece.text)),
        metadata={"cursor": resume},
    )


def _check_order(start_line: int, end_line: int) -> None:
    if end_line < start_line:
        raise refusal(
            "invalid_line_range", f"end_line ({end_line}) is before start_line ({start_line})."
        )


def _check_start(
    scan: TextScan, start_char: int | None, start_line: int | None, end_line: int | None
) -> None:
    """Refuse a cursor past the end, or a line range that starts outside the file."""
    if start_char is not None:
        if start_char > scan.chars:
            raise _invalid_cursor(
                f"The cursor's offset_chars ({start_char}) is past the end of the file "
                f"({scan.chars} characters)"
            )
        line = scan.window_line if scan.window_line is not None else scan.newlines + 1
        if end_line is not None and end_line < line:
            raise refusal(
                "invalid_line_range",
                f"end_line ({end_line}) is before the cursor's line ({line}).",
            )
        return
    if start_line is not None and start_line > max(scan.lines, 1):
        raise refusal(
            "invalid_line_range",
            f"start_line ({start_line}) is past the end of the file ({scan.lines} lines).",
            total_lines=scan.lines,
        )
