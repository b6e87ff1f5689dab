"""Bounded tool results: oversized output becomes a preview plus an immutable artifact.

Any tool output over ``MAX_TOOL_OUTPUT_CHARS`` is cut to its head and tail around an omission
marker; the full text is streamed to ``.agentcycle/artifacts/<run>/<call>.txt`` in the
workspace, a reserved area the workspace tools can read but never write, and the marker tells
the model how to page through it with ``read_file``. Without a workspace the preview says the
rest was dropped.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from agentcycle.errors import AgentcycleError
from agentcycle.messages import ToolResult
from agentcycle.workspace.base import WorkspaceBackend

MAX_TOOL_OUTPUT_CHARS = 12_000
HEAD_CHARS = 8_000
TAIL_CHARS = 3_000
ARTIFACTS_DIR = ".agentcycle/artifacts"
RESERVED_DIR = ".agentcycle"
"""Workspace paths under this directory are read-only to tools."""

_CHUNK_CHARS = 64 * 1024
_ARTIFACT_PATH = re.compile(re.escape(ARTIFACTS_DIR) + r"/[^\s\"'()]+?\.txt")


def is_reserved(path: str) -> bool:
    """Whether a normalised workspace path lies in the runtime's reserved area."""
    return path == RESERVED_DIR or path.startswith(RESERVED_DIR + "/")


async def _encoded(text: str) -> AsyncIterator[bytes]:
    # Encode piece by piece so the artifact never exists twice in memory as bytes.
    for start in range(0, len(text), _CHUNK_CHARS):
        yield text[start : start + _CHUNK_CHARS].encode("utf-8")


async def bound_result(
    result: ToolResult, *, workspace: WorkspaceBackend | None, run_id: str, tool_call_id: str
) -> ToolResult:
    """``result`` unchanged when small; otherwise a preview with the full text archived."""
    content = result.content
    if len(content) <= MAX_TOOL_OUTPUT_CHARS:
        return result
    omitted = len(content) - HEAD_CHARS - TAIL_CHARS
    metadata = {**result.metadata, "original_chars": len(content), "truncated": True}
    path: str | None = None
    write_stream = getattr(workspace, "write_stream", None)
    if write_stream is not None:
        path = artifact_path(run_id, tool_call_id)
        try:
            await write_stream(path, _encoded(content), mode="create")
        except (AgentcycleError, OSError) as exc:  # the preview still goes to the model
            metadata["artifact_error"] = getattr(exc, "code", type(exc).__name__)
            write_stream = None
    if write_stream is not None and path is not None:
        metadata["artifact_path"] = path
        lines = content.count("\n") + 1
        marker = (
            f"\n\n[... {omitted} characters omitted. The full output ({len(content)} characters, "
            f"{lines} lines) is saved at {path}; read it with read_file "
            f'(path="{path}", start_line=..., end_line=...) ...]\n\n'
        )
    else:
        marker = (
            f"\n\n[... {omitted} characters omitted; no workspace to keep the full output ...]\n\n"
        )
    preview = content[:HEAD_CHARS] + marker + content[-TAIL_CHARS:]
    return result.model_copy(update={"content": preview, "metadata": metadata})


def artifact_path_in(text: str) -> str | None:
    """The artifact path a bounded preview names, if ``text`` is one."""
    match = _ARTIFACT_PATH.search(text)
    return match.group(0) if match else None


async def archive_text(workspace: WorkspaceBackend | None, path: str, text: str) -> str | None:
    """Write ``text`` once to ``path`` under the artifacts area; ``None`` when there is no
    workspace or the write fails (the caller then says the text was not kept)."""
    write_stream = getattr(workspace, "write_stream", None)
    if write_stream is None:
        return None
    try:
        await write_stream(path, _encoded(text), mode="create")
    except (AgentcycleError, OSError):
        return None
    return path


def artifact_path(run_id: str, name: str, area: str = "") -> str:
    """Where the artifact ``name`` of run ``run_id`` lives (``area``: a sub-folder)."""
    folder = f"{ARTIFACTS_DIR}/{run_id}" + (f"/{area}" if area else "")
    return f"{folder}/{_safe(name)}.txt"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "call"
