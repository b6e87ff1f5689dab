"""The workspace file tools: file_info, read_file, write_file, edit_file and read_image.

Names and parameter names follow TOOLS.md (a compatibility surface). Every tool works on the
run's workspace (``ctx.workspace``) and fails with ``workspace_required`` when there is none;
paths go through the workspace path policy (``path_escapes_workspace``). Results are compact
JSON with ``"ok": true``; failures are error results with a stable code, never exceptions.

Guarantees worth knowing:

- ``read_file`` returns at most 12,000 characters / 2,000 lines per call, and never more than
  fits a tool result once JSON-escaped, so a read is never cut again by the orchestrator. An
  oversized read ends with a ``cursor`` ``{kind, offset_chars, path, sha256}`` that continues
  exactly where it stopped; a cursor for a file that changed since is ``stale_cursor``. A file
  of any size is read in one streaming pass (hash, counts, a bounded window).
- Reading records what the run saw (``RunToolState.files_seen``: sha256 and size).
  ``write_file`` may create files freely, but replacing, appending to or editing an existing
  file needs a stamp (``file_not_read``) that still matches the file
  (``file_changed_since_read``). Writes replace files atomically and update the stamp.
- ``.agentcycle/`` (oversized-output artifacts) is readable but never writable
  (``path_reserved``).
- ``read_image`` attaches a PNG, JPEG, WebP or BMP (checked by its bytes, up to 5 MiB) or an
  http(s) URL to the next model turn through an ``AttachImage`` directive.
"""

from __future__ import annotations

from typing import Any

from agentcycle.tools.base import SideEffect
from agentcycle.tools.builtin._file_access import reporting
from agentcycle.tools.builtin._file_read import MAX_READ_CHARS, MAX_READ_LINES, file_info, read_file
from agentcycle.tools.builtin._file_write import MAX_EDIT_BYTES, edit_file, write_file
from agentcycle.tools.builtin._images import read_image
from agentcycle.tools.builtin._tool import BuiltinTool, closed_object

FILE_INFO = "file_info"
READ_FILE = "read_file"
WRITE_FILE = "write_file"
EDIT_FILE = "edit_file"
READ_IMAGE = "read_image"

_PATH = {"type": "string", "description": "Workspace-relative path, e.g. src/app.py."}


def _flag(description: str) -> dict[str, Any]:
    return {"type": "boolean", "default": False, "description": description}


def file_info_tool() -> BuiltinTool:
    """The ``file_info`` tool: metadata of a file or directory, no content."""
    return BuiltinTool(
        name=FILE_INFO,
        description=(
            "Describe a file or directory without reading it out. Returns JSON: type "
            "(file|directory), size in bytes, modified (ISO 8601 UTC), suffix, encoding "
            "(utf-8|binary) and line_count for UTF-8 text files."
        ),
        parameters=closed_object({"path": _PATH}, ("path",)),
        handler=reporting(file_info),
        side_effect=SideEffect.READ,
        read_only=True,
    )


_CURSOR = closed_object(
    {
        "kind": {"type": "string", "enum": ["read_file"]},
        "offset_chars": {"type": "integer"},
        "path": {"type": "string"},
        "sha256": {"type": "string"},
    },
    ("kind", "offset_chars", "path", "sha256"),
)
_CURSOR["description"] = "The cursor from a truncated read_file result, passed back unchanged."


def read_file_tool() -> BuiltinTool:
    """The ``read_file`` tool: a bounded slice of a UTF-8 text file, with cursor paging."""
    return BuiltinTool(
        name=READ_FILE,
        description=(
            f"Read a UTF-8 text file, whole or by line range. Returns at most {MAX_READ_CHARS:,} "
            f"characters / {MAX_READ_LINES:,} lines per call as JSON: content, start_line, "
            "end_line, total_lines, total_chars, truncated. When truncated, the result has a "
            "cursor: call read_file again with the same path and that cursor (and the same "
            "end_line, if any) to continue exactly where it stopped. Lines are 1-based and "
            "inclusive. Also reads the files under .agentcycle/artifacts/ that hold oversized "
            "tool output."
        ),
        parameters=closed_object(
            {
                "path": _PATH,
                "start_line": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "First line to read (default 1). Ignored with a cursor.",
                },
                "end_line": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Last line to read, inclusive (default: end of file).",
                },
                "show_line_numbers": _flag("Prefix each line with its number and a tab."),
                "cursor": _CURSOR,
            },
            ("path",),
        ),
        handler=reporting(read_file),
        side_effect=SideEffect.READ,
        read_only=True,
    )


def write_file_tool() -> BuiltinTool:
    """The ``write_file`` tool: create, overwrite or append to a file."""
    return BuiltinTool(
        name=WRITE_FILE,
        description=(
            "Create a file (parent directories are created), or replace or append to one. "
            "Replacing or appending to an existing file requires reading it with read_file "
            "first in this run, and fails if it changed since (read it again). Replacement is "
            "atomic. Returns JSON: path, action (created|overwritten|appended), bytes_written, "
            "size. Prefer edit_file for small changes to existing files."
        ),
        parameters=closed_object(
            {
                "path": _PATH,
                "content": {"type": "string", "description": "The text to write."},
                "append": _flag("Add content at the end of the file instead of replacing it."),
                "leading_newline": _flag(
                    "When appending, start content on a new line (adds a newline if the file "
                    "does not end with one)."
                ),
                "trailing_newline": _flag("End content with a newline (added if missing)."),
            },
            ("path", "content"),
        ),
        handler=reporting(write_file),
        side_effect=SideEffect.WRITE,
    )


def edit_file_tool() -> BuiltinTool:
    """The ``edit_file`` tool: exact-string replacement with a unified diff back."""
    return BuiltinTool(
        name=EDIT_FILE,
        description=(
            "Replace an exact string in a text file you have read in this run. old_string must "
            "match the file exactly (whitespace and indentation included) and occur once, "
            "unless replace_all is set. Returns JSON: replacements and a unified diff (cut at "
            f"4,000 characters). Files up to {MAX_EDIT_BYTES // (1024 * 1024)} MiB."
        ),
        parameters=closed_object(
            {
                "path": _PATH,
                "old_string": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The exact text to replace.",
                },
                "new_string": {"type": "string", "description": "The text to put instead."},
                "replace_all": _flag("Replace every occurrence, not just a unique one."),
            },
            ("path", "old_string", "new_string"),
        ),
        handler=reporting(edit_file),
        side_effect=SideEffect.WRITE,
    )


def read_image_tool() -> BuiltinTool:
    """The ``read_image`` tool: show an image to the model (multimodal models only)."""
    return BuiltinTool(
        name=READ_IMAGE,
        description=(
            "Look at an image: a workspace file (.png .jpg .jpeg .webp .bmp, up to 5 MiB) or "
            "an http(s) URL. The image is attached to your next turn; the result itself is a "
            "short JSON confirmation."
        ),
        parameters=closed_object(
            {
                "path": {
                    "type": "string",
                    "description": "Workspace-relative image path, or an http(s) URL.",
                }
            },
            ("path",),
        ),
        handler=reporting(read_image),
        side_effect=SideEffect.READ,
        read_only=True,
    )


def file_tools(*, multimodal: bool) -> list[BuiltinTool]:
    """The file tools in their stable order: file_info, read_file, write_file, edit_file, and
    read_image when the model takes images."""
    tools = [file_info_tool(), read_file_tool(), write_file_tool(), edit_file_tool()]
    if multimodal:
        tools.append(read_image_tool())
    return tools
