"""The handlers of ``write_file`` and ``edit_file``: read-before-write, staleness, atomic writes.

A run may create new files freely, but may only replace, append to or edit a file it has read
(or written) and whose content is still what it saw: the stamp in ``ctx.state.files_seen``
(sha256 and size) is checked against the file right before writing, and updated after.
"""

from __future__ import annotations

import hashlib
from typing import Any

from agentcycle._json import dumps
from agentcycle.errors import FileNotFoundInWorkspace
from agentcycle.messages import ToolResult
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._diff import replacement_diff
from agentcycle.tools.builtin._file_access import (
    check_unchanged,
    file_entry,
    hash_file,
    not_utf8,
    record,
    refusal,
    seen_stamp,
    utf8,
    workspace_of,
    writable_path,
)
from agentcycle.workspace._common import is_a_directory, show

MAX_EDIT_BYTES = 10 * 1024 * 1024
"""Largest file ``edit_file`` loads to edit (it has to hold old and new text at once)."""


def _compose(content: str, *, leading: bool, trailing: bool, after: bytes) -> str:
    """``content`` with the requested newlines: ``after`` is the last byte before it."""
    if trailing and not content.endswith("\n"):
        content += "\n"
    if leading and after not in (b"", b"\n"):
        content = "\n" + content
    return content


async def write_file(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Create, overwrite or append to a file (see ``write_file_tool``)."""
    workspace = workspace_of(ctx)
    path = writable_path(args["path"])
    append = bool(args.get("append", False))
    leading = bool(args.get("leading_newline", False))
    trailing = bool(args.get("trailing_newline", False))
    try:
        entry = await workspace.info(path)
    except FileNotFoundInWorkspace:
        entry = None
    if entry is None:
        data = _compose(args["content"], leading=leading, trailing=trailing, after=b"")
        payload = utf8(data, "content")
        written = await workspace.write(path, payload, mode="create")
        record(ctx, path, hashlib.sha256(payload).hexdigest(), written)
        return _written(path, "created", written, written)
    if entry.is_dir:
        raise is_a_directory(path)
    stamp = seen_stamp(ctx, path)
    digest, size, last = await hash_file(workspace, path)
    check_unchanged(path, stamp, digest.hexdigest())
    if append:
        data = _compose(args["content"], leading=leading, trailing=trailing, after=last)
        payload = utf8(data, "content")
        written = await workspace.write(path, payload, mode="append")
        digest.update(payload)
        record(ctx, path, digest.hexdigest(), size + written)
        return _written(path, "appended", written, size + written)
    data = _compose(args["content"], leading=leading, trailing=trailing, after=b"")
    payload = utf8(data, "content")
    written = await workspace.write(path, payload, mode="overwrite")
    record(ctx, path, hashlib.sha256(payload).hexdigest(), written)
    return _written(path, "overwritten", written, written)


def _written(path: str, action: str, written: int, size: int) -> ToolResult:
    body = {"ok": True, "path": path, "action": action, "bytes_written": written, "size": size}
    return ToolResult.success(dumps(body))


def _as_crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


async def edit_file(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Replace an exact string in a file (see ``edit_file_tool``)."""
    workspace = workspace_of(ctx)
    path = writable_path(args["path"])
    old: str = args["old_string"]
    new: str = args["new_string"]
    replace_all = bool(args.get("replace_all", False))
    if old == new:
        raise refusal("no_changes", "old_string and new_string are the same; nothing to change.")
    utf8(new, "new_string")
    entry = await file_entry(workspace, path)
    stamp = seen_stamp(ctx, path)
    if entry.size is not None and entry.size > MAX_EDIT_BYTES:
        raise refusal(
            "file_too_large",
            f"{show(path)} is {entry.size} bytes; edit_file edits files up to {MAX_EDIT_BYTES} "
            "bytes. Use write_file to replace it, or split the work.",
            path=path,
            size=entry.size,
        )
    data = await workspace.read_bytes(path)
    check_unchanged(path, stamp, hashlib.sha256(data).hexdigest())
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise not_utf8(path, error.start) from None
    del data
    count = text.count(old)
    crlf = False
    if not count and "\r\n" in text and "\n" in old and "\r" not in old:
        # Models write "\n"; a CRLF file stores "\r\n". Match and replace in the file's style.
        count = text.count(_as_crlf(old))
        if count:
            old, new, crlf = _as_crlf(old), _as_crlf(new), True
    if not count:
        raise refusal(
            "old_string_not_found",
            f"old_string does not occur in {show(path)}. It must match the file exactly, "
            "whitespace and indentation included; read the file again and copy the text.",
            path=path,
        )
    if count > 1 and not replace_all:
        raise refusal(
            "old_string_not_unique",
            f"old_string occurs {count} times in {show(path)}. Add surrounding lines to make it "
            "unique, or set replace_all to replace every occurrence.",
            path=path,
            count=count,
        )
    updated = text.replace(old, new) if replace_all else text.replace(old, new, 1)
    payload = updated.encode("utf-8")
    written = await workspace.write(path, payload, mode="overwrite")
    record(ctx, path, hashlib.sha256(payload).hexdigest(), written)
    diff, cut = replacement_diff(path, text, old, new, replace_all=replace_all)
    body: dict[str, Any] = {"ok": True, "path": path, "replacements": count if replace_all else 1}
    if crlf:
        body["line_endings"] = "crlf"
    body.update(diff=diff, diff_truncated=cut)
    return ToolResult.success(dumps(body))
