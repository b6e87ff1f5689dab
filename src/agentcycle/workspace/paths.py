"""The workspace path policy, shared by every backend.

Workspace paths are relative POSIX paths. :func:`normalize_path` turns what a caller (usually a
model) wrote into the canonical form every backend stores, or rejects it with
:class:`~agentcycle.errors.PathEscapesWorkspace` (code ``path_escapes_workspace``). The
rejection carries ``details = {"path": ..., "reason": ...}`` where ``reason`` is one of:

``parent_traversal``
    ``..`` segments climb above the workspace root (``a/../..``).
``absolute_path`` / ``drive_path`` / ``unc_path``
    ``/etc/passwd``, ``C:\\Windows`` or ``C:x``, ``\\\\server\\share`` (also ``\\\\?\\`` forms).
``nul_byte`` / ``control_character`` / ``bidi_control`` / ``invalid_unicode``
    Characters no sensible file name contains, that truncate paths in C APIs, or that make a
    name display differently from what it is (Trojan-Source style bidi overrides), and lone
    surrogates (undecodable bytes smuggled through ``surrogateescape``).
``name_too_long`` / ``path_too_long``
    A segment over :data:`MAX_NAME_BYTES` or a path over :data:`MAX_PATH_BYTES` (UTF-8).
``symlink_escape`` / ``symlink_loop`` / ``symlink_race``
    Local backend only: the path resolves, through symlinks, outside the root; cannot be
    resolved at all; or had a symlink swapped in between resolution and use.

Decisions worth knowing:

- A backslash is a separator, so ``src\\main.py`` means ``src/main.py`` and ``..\\..\\x`` is
  caught as traversal (models trained on Windows paths write both).
- ``.`` and empty segments are dropped; ``..`` is resolved lexically and only rejected when it
  would climb above the root. ``""`` and ``"."`` name the root itself.
- Nothing is decoded: ``%2e%2e`` is a literal file name, and so are fullwidth dots (``．．``),
  one-dot leaders and ``~``. Unicode is not normalised (no NFC/NFKC), because NFKC would turn
  ``．．`` into ``..``; a literal name can never escape.
"""

from __future__ import annotations

import re

from agentcycle.errors import PathEscapesWorkspace

MAX_NAME_BYTES = 255
"""Longest path segment accepted, in UTF-8 bytes (NAME_MAX on common file systems)."""

MAX_PATH_BYTES = 4096
"""Longest normalised workspace path accepted, in UTF-8 bytes (PATH_MAX on Linux)."""

_MAX_INPUT_CHARS = 4 * MAX_PATH_BYTES
"""Inputs longer than this are rejected before any work (``./`` padding can shrink, not this)."""

_DRIVE = re.compile(r"[A-Za-z]:")
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
# Category Cc is exactly U+0000-U+001F and U+007F-U+009F; then the bidi controls; then surrogates.
_FORBIDDEN_CHARS = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_MESSAGE_PATH_CHARS = 120
_PLAIN_NAME = re.compile(r"[\w.+@=~,-]{1,255}", re.ASCII)
"""Names that are addressable at a glance (no separator, control, colon or non-ASCII)."""

_EXPLANATIONS = {
    "parent_traversal": "its '..' segments climb above the workspace root",
    "absolute_path": "it is absolute; use a path relative to the workspace root",
    "drive_path": "it names a Windows drive; use a path relative to the workspace root",
    "unc_path": "it is a UNC or device path; use a path relative to the workspace root",
    "nul_byte": "it contains a NUL byte",
    "control_character": "it contains a control character",
    "bidi_control": "it contains a bidirectional-text control character",
    "invalid_unicode": "it contains an unpaired surrogate (not valid Unicode)",
    "name_too_long": f"a path segment is longer than {MAX_NAME_BYTES} bytes",
    "path_too_long": f"the path is longer than {MAX_PATH_BYTES} bytes",
    "symlink_escape": "it resolves through a symlink to a place outside the workspace root",
    "symlink_loop": "its symlinks form a loop",
    "symlink_race": "a symlink replaced part of it while it was being accessed",
}


def path_error(path: str, reason: str) -> PathEscapesWorkspace:
    """Build the policy error for ``path`` with a stable ``reason`` (see the module docstring)."""
    shown = path if len(path) <= _MESSAGE_PATH_CHARS else path[:_MESSAGE_PATH_CHARS] + "..."
    return PathEscapesWorkspace(
        f"path {shown!r} is not allowed: {_EXPLANATIONS[reason]}",
        details={"path": shown, "reason": reason},
    )


def _check_characters(path: str) -> None:
    """Reject characters that have no business in a workspace path."""
    found = _FORBIDDEN_CHARS.search(path)
    if found is None:
        return
    char = found.group()
    if char == "\x00":
        raise path_error(path, "nul_byte")
    if char in _BIDI_CONTROLS:
        raise path_error(path, "bidi_control")
    if "\ud800" <= char <= "\udfff":
        raise path_error(path, "invalid_unicode")
    raise path_error(path, "control_character")


def normalize_path(path: str) -> str:
    """Return the canonical workspace-relative form of ``path`` or raise ``PathEscapesWorkspace``.

    The result never starts with ``/``, has no ``.``, ``..`` or empty segments, uses ``/`` as
    its only separator, and is ``""`` for the root. Normalising a result again returns it
    unchanged.
    """
    if not isinstance(path, str):
        raise TypeError(f"workspace paths are str, not {type(path).__name__}")
    if len(path) > _MAX_INPUT_CHARS:
        raise path_error(path, "path_too_long")
    _check_characters(path)
    unified = path.replace("\\", "/")
    if unified.startswith("//"):
        raise path_error(path, "unc_path")
    if unified.startswith("/"):
        raise path_error(path, "absolute_path")
    if _DRIVE.match(unified):
        raise path_error(path, "drive_path")
    parts: list[str] = []
    for segment in unified.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise path_error(path, "parent_traversal")
            parts.pop()
            continue
        if len(segment.encode("utf-8")) > MAX_NAME_BYTES:
            raise path_error(path, "name_too_long")
        parts.append(segment)
    result = "/".join(parts)
    if len(result.encode("utf-8")) > MAX_PATH_BYTES:
        raise path_error(path, "path_too_long")
    return result


def join_path(base: str, tail: str) -> str:
    """Join two already-normalised paths (either may be ``""``, the root)."""
    return f"{base}/{tail}" if base and tail else base or tail


def parent_path(path: str) -> str:
    """The parent of a normalised path (``""`` for top-level entries and for the root)."""
    return path.rpartition("/")[0]


def path_name(path: str) -> str:
    """The last segment of a normalised path (``""`` for the root)."""
    return path.rpartition("/")[2]


def ancestors(path: str) -> list[str]:
    """Proper ancestors of a normalised path, outermost first, excluding the root."""
    parts = path.split("/")[:-1] if path else []
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def is_within(path: str, base: str) -> bool:
    """Whether normalised ``path`` is ``base`` itself or lies under it."""
    return not base or path == base or path.startswith(base + "/")


def relative_to(path: str, base: str) -> str:
    """``path`` relative to ``base`` (both normalised; ``path`` must lie under ``base``)."""
    if not base:
        return path
    return "" if path == base else path[len(base) + 1 :]


def sort_key(path: str, is_dir: bool) -> bytes:
    """The canonical listing order: UTF-8 bytes, a directory sorting as if it ended in ``/``.

    This is the order S3 lists keys in, and a depth-first walk that sorts each directory's
    entries by this key produces it too, so every backend can list in the same order.
    """
    return (path + "/" if is_dir else path).encode("utf-8", "surrogateescape")


def is_addressable_name(name: str, *, top_level: bool) -> bool:
    """Whether a name found in storage can be reached through the policy as one segment.

    Listings skip names that fail (a file called ``a\\b``, one with a newline in its name, a
    top-level ``C:x``): every listed path must be one the backend accepts back.
    """
    if _PLAIN_NAME.fullmatch(name) is not None:
        return name not in (".", "..")  # the common case, checked cheaply: listings call this
    return (
        name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and _FORBIDDEN_CHARS.search(name) is None
        and len(name.encode("utf-8")) <= MAX_NAME_BYTES
        and not (top_level and _DRIVE.match(name))
    )
