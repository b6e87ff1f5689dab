"""Small helpers every backend shares: argument checks, UTF-8 slicing, common errors."""

from __future__ import annotations

from agentcycle.errors import (
    FileNotFoundInWorkspace,
    UnsupportedFileEncoding,
    WorkspaceDirectoryNotEmpty,
    WorkspaceError,
    WorkspaceFileExists,
    WorkspaceIsADirectory,
    WorkspaceNotADirectory,
    WorkspaceNotAFile,
)

WRITE_MODES: frozenset[str] = frozenset(("overwrite", "append", "create"))
STREAM_MODES: frozenset[str] = frozenset(("overwrite", "create"))


def check_range(start: int, end: int | None) -> None:
    """Reject byte ranges that make no sense (negative, or ending before they start)."""
    if start < 0:
        raise ValueError(f"start must be >= 0, got {start}")
    if end is not None and end < start:
        raise ValueError(f"end ({end}) must be >= start ({start})")


def check_mode(mode: str, allowed: frozenset[str]) -> None:
    """Reject unknown write modes with a ``ValueError`` naming the allowed ones."""
    if mode not in allowed:
        raise ValueError(f"mode must be one of {sorted(allowed)}, got {mode!r}")


def as_bytes(data: bytes | str) -> bytes:
    """Encode text as UTF-8; pass bytes-like data through as ``bytes``."""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"data must be bytes or str, not {type(data).__name__}")


def _is_continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


def decode_utf8_slice(data: bytes, path: str, *, start: int, end: int | None) -> str:
    """Decode a byte range of a file, dropping characters its edges cut in half.

    The leading continuation bytes of a range that starts mid-character, and an incomplete
    sequence at the end of a range that stops before the end of the file, are not errors;
    everything else must be valid UTF-8.
    """
    view = memoryview(data)
    skip = 0
    if start > 0:
        while skip < min(3, len(view)) and _is_continuation(view[skip]):
            skip += 1
        view = view[skip:]
    if end is not None and len(data) == end - start and len(view):
        # The range may end inside a character: find the last lead byte and see if its
        # sequence is complete.
        back = 1
        while back <= min(3, len(view)) and _is_continuation(view[-back]):
            back += 1
        if back <= len(view):
            lead = view[-back]
            needed = 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else 4
            if lead >= 0xC0 and back < needed:
                view = view[:-back]
    try:
        return str(view, "utf-8")
    except UnicodeDecodeError as error:
        offset = start + skip + error.start
        raise UnsupportedFileEncoding(
            f"{path!r} is not UTF-8 text (invalid byte at offset {offset}); "
            "read it as bytes instead",
            details={"path": path, "offset": offset},
        ) from None


def show(path: str) -> str:
    """How error messages name a workspace path."""
    return repr(path) if path else "the workspace root"


def not_found(path: str) -> FileNotFoundInWorkspace:
    """``file_not_found`` for ``path``."""
    return FileNotFoundInWorkspace(f"{show(path)} does not exist", details={"path": path})


def already_exists(path: str) -> WorkspaceFileExists:
    """``file_exists`` for ``path``."""
    return WorkspaceFileExists(f"{show(path)} already exists", details={"path": path})


def is_a_directory(path: str) -> WorkspaceIsADirectory:
    """``is_a_directory`` for ``path``."""
    return WorkspaceIsADirectory(f"{show(path)} is a directory, not a file", details={"path": path})


def not_a_directory(path: str, *, blocker: str | None = None) -> WorkspaceNotADirectory:
    """``not_a_directory``: ``path`` is a file, or ``blocker`` (an ancestor of it) is."""
    if blocker is None or blocker == path:
        message = f"{show(path)} is a file, not a directory"
    else:
        message = f"cannot create {show(path)}: {show(blocker)} is a file, not a directory"
    return WorkspaceNotADirectory(message, details={"path": path})


def not_a_file(path: str) -> WorkspaceNotAFile:
    """``not_a_file`` for special files (FIFOs, sockets, devices)."""
    return WorkspaceNotAFile(
        f"{show(path)} is not a regular file (a FIFO, socket or device)", details={"path": path}
    )


def not_empty(path: str) -> WorkspaceDirectoryNotEmpty:
    """``directory_not_empty`` for ``path``."""
    return WorkspaceDirectoryNotEmpty(
        f"{show(path)} is not empty; pass recursive=True to delete it with its contents",
        details={"path": path},
    )


def invalid_operation(message: str, path: str) -> WorkspaceError:
    """The error for deleting or moving the root, or moving a directory into itself."""
    return WorkspaceError(message, code="invalid_operation", details={"path": path})


def check_move(src: str, dst: str) -> None:
    """Reject moves of the root and of a directory into its own subtree."""
    if not src:
        raise invalid_operation("the workspace root cannot be moved", src)
    if not dst:
        raise already_exists(dst)
    if dst != src and dst.startswith(src + "/"):
        raise invalid_operation(f"cannot move {show(src)} into itself ({show(dst)})", src)
