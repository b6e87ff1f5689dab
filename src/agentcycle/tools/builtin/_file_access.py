"""Machinery the file tools share: the run's workspace, path checks, chunked reads, stamps.

Every failure is a typed :class:`~agentcycle.errors.AgentcycleError`; :func:`reporting` turns
one into an error result so no file tool ever raises out of ``invoke``.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from agentcycle.errors import AgentcycleError, UnsupportedFileEncoding, WorkspaceError
from agentcycle.messages import ToolResult
from agentcycle.state import FileStamp
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._tool import Handler
from agentcycle.workspace._common import is_a_directory, show
from agentcycle.workspace.base import WorkspaceBackend, WorkspaceEntry
from agentcycle.workspace.output_bounds import RESERVED_DIR, is_reserved
from agentcycle.workspace.paths import normalize_path

CHUNK_BYTES = 1 << 20
"""How much of a file one backend read fetches: bounds memory for files of any size."""


def reporting(handler: Handler) -> Handler:
    """Wrap a handler so typed failures become error results carrying their code and details."""

    async def run(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        try:
            return await handler(ctx, args)
        except AgentcycleError as error:
            return ToolResult.error(error.code, error.message, details=error.details)

    return run


def refusal(code: str, message: str, **details: Any) -> WorkspaceError:
    """A file tool's own typed failure (``file_not_read``, ``stale_cursor`` ...)."""
    return WorkspaceError(message, code=code, details=details or None)


def utf8(text: str, field: str) -> bytes:
    """``text`` as UTF-8; ``invalid_text`` when it holds an unpaired surrogate (JSON allows
    ``"\\ud800"``, UTF-8 does not)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise refusal(
            "invalid_text",
            f"{field} contains an unpaired surrogate (at index {error.start}), which is not "
            "valid Unicode text and cannot be stored as UTF-8.",
            field=field,
        ) from None


def workspace_of(ctx: ToolContext) -> WorkspaceBackend:
    """The run's workspace, or ``workspace_required`` when the run has none."""
    workspace = ctx.workspace
    # ``is None``, not an isinstance check against the runtime-checkable protocol: that check
    # re-derives the protocol's members on every call (Python 3.11).
    if workspace is None:
        raise refusal(
            "workspace_required",
            "This run has no workspace, so there are no files to work with.",
        )
    return workspace


def writable_path(path: str) -> str:
    """The normalised path, refused with ``path_reserved`` inside the runtime's own area."""
    rel = normalize_path(path)
    if is_reserved(rel):
        raise refusal(
            "path_reserved",
            f"{show(rel)} is inside {RESERVED_DIR}/, which the runtime owns: it can be read "
            "but not changed. Write somewhere else.",
            path=rel,
        )
    return rel


async def file_entry(workspace: WorkspaceBackend, path: str) -> WorkspaceEntry:
    """The entry of an existing file (``file_not_found``, ``is_a_directory`` otherwise)."""
    entry = await workspace.info(path)
    if entry.is_dir:
        raise is_a_directory(path)
    return entry


async def chunks(workspace: WorkspaceBackend, path: str) -> AsyncIterator[bytes]:
    """A file's bytes, ``CHUNK_BYTES`` at a time; a short read marks the end."""
    offset = 0
    while True:
        data = await workspace.read_bytes(path, start=offset, end=offset + CHUNK_BYTES)
        if data:
            yield data
        if len(data) < CHUNK_BYTES:
            return
        offset += len(data)


def not_utf8(path: str, offset: int) -> UnsupportedFileEncoding:
    """``unsupported_encoding`` for a file with an invalid UTF-8 byte at ``offset``."""
    return UnsupportedFileEncoding(
        f"{show(path)} is not UTF-8 text (invalid byte at offset {offset}); the file tools "
        "read and edit UTF-8 text only.",
        details={"path": path, "offset": offset},
    )


async def scan_text(
    workspace: WorkspaceBackend, path: str, feed: Callable[[str], None]
) -> tuple[str, int]:
    """Stream a file once: hash it, decode it as UTF-8 and pass the text on piece by piece.

    Returns ``(sha256 hex, size in bytes)``; raises ``unsupported_encoding`` at the first
    invalid byte, so a binary file costs one chunk.
    """
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size = 0
    async for chunk in chunks(workspace, path):
        digest.update(chunk)
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as error:
            raise not_utf8(path, size - pending + error.start) from None
        size += len(chunk)
        feed(text)
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise not_utf8(path, size - pending) from None
    return digest.hexdigest(), size


async def hash_file(workspace: WorkspaceBackend, path: str) -> tuple[Any, int, bytes]:
    """A file's running sha256 object, its size and its last byte (``b""`` when empty)."""
    digest = hashlib.sha256()
    size = 0
    last = b""
    async for chunk in chunks(workspace, path):
        digest.update(chunk)
        size += len(chunk)
        last = chunk[-1:]
    return digest, size, last


def seen_stamp(ctx: ToolContext, path: str) -> FileStamp:
    """What this run last read or wrote of ``path``; ``file_not_read`` if nothing."""
    stamp = ctx.state.files_seen.get(path)
    if stamp is None:
        raise refusal(
            "file_not_read",
            f"{show(path)} already exists and this run has not read it. Read it with read_file "
            "first, then write or edit it.",
            path=path,
        )
    return stamp


def check_unchanged(path: str, stamp: FileStamp, sha256: str) -> None:
    """Raise ``file_changed_since_read`` when the file is no longer what this run saw."""
    if sha256 != stamp.sha256:
        raise refusal(
            "file_changed_since_read",
            f"{show(path)} changed since this run last read or wrote it. Read it again with "
            "read_file, then retry with its current content.",
            path=path,
        )


def record(ctx: ToolContext, path: str, sha256: str, size: int) -> None:
    """Remember what this run now knows ``path`` to contain."""
    ctx.state.files_seen[path] = FileStamp(sha256=sha256, size=size)
