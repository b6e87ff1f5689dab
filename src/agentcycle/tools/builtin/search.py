"""``search_files``: regex search over the workspace, the same answers from either engine.

On a local workspace with ``rg`` on ``PATH`` the search runs ripgrep
(:mod:`._search_rg`); on memory and S3 workspaces, on a sub-task's filtered view of a workspace
(``exclude_files_pattern``), and when ripgrep is missing, a pure-Python engine
(:mod:`._search_py`). Both apply the rules in :mod:`._search_query` and
:mod:`._scope` and report files in canonical path order, so paging with ``offset`` and
``head_limit`` is stable. ``.gitignore`` files are not honoured; dependency and cache
directories, hidden and sensitive files are skipped unless asked for.

Paging units: files for ``files_with_matches`` and ``count``, matching lines for ``content``
(each shown with its context). The search stops once ``offset + head_limit`` units and one more
(to know there is more) have been found. Output is capped at 500 lines and at what fits in one
tool result as JSON (:data:`~._scope.RESULT_BUDGET_CHARS`, escapes counted): a page that would
be longer ends early with ``truncated`` and ``next_offset``, so the answer stays whole JSON.
"""

from __future__ import annotations

import shutil
from typing import Any

from agentcycle._json import dumps
from agentcycle.errors import AgentcycleError
from agentcycle.messages import ToolResult
from agentcycle.tools.base import SideEffect, ToolContext
from agentcycle.tools.builtin import _search_py, _search_rg
from agentcycle.tools.builtin._scope import (
    FILE_TYPES,
    RESULT_BUDGET_CHARS,
    VISIBILITY_PROPERTIES,
    clamp,
    error_result,
    workspace_of,
)
from agentcycle.tools.builtin._search_query import FileLines, SearchQuery
from agentcycle.tools.builtin._tool import BuiltinTool, closed_object
from agentcycle.workspace._excluding import ExcludingWorkspace
from agentcycle.workspace.base import WorkspaceBackend
from agentcycle.workspace.filters import is_sensitive_path
from agentcycle.workspace.paths import normalize_path

SEARCH_FILES = "search_files"
DEFAULT_HEAD_LIMIT = 250
HEAD_LIMIT_CAP = 5_000
MAX_OUTPUT_LINES = 500
MAX_OUTPUT_CHARS = RESULT_BUDGET_CHARS
MAX_LINE_CHARS = 500
"""A longer line is cut (minified code would otherwise fill the whole output)."""

_CONTEXT = {"type": "integer", "minimum": 0, "maximum": 100}

_PARAMETERS = closed_object(
    {
        "pattern": {
            "type": "string",
            "description": "Regular expression (or text with literal=true) to look for.",
        },
        "path": {
            "type": "string",
            "description": "Directory or file to search, relative to the workspace root.",
        },
        "glob": {
            "type": "string",
            "description": (
                "Only files matching this glob. Without `/` it matches file names at any "
                "depth (`*.py`, `*.{ts,tsx}`); with `/` the path below `path` (`src/**/*.rs`)."
            ),
        },
        "type": {"type": "string", "enum": sorted(FILE_TYPES), "description": "File type."},
        "output_mode": {
            "type": "string",
            "enum": ["files_with_matches", "content", "count"],
            "description": "files_with_matches (default): paths; content: matching lines; "
            "count: matching lines per file.",
        },
        "literal": {"type": "boolean", "description": "Treat `pattern` as plain text."},
        "case_sensitive": {
            "type": "boolean",
            "description": "Default: smart case (insensitive unless the pattern has capitals).",
        },
        "multiline": {
            "type": "boolean",
            "description": "Let matches span lines (`\\n` in the pattern); `.` still stops at "
            "line ends.",
        },
        "n": {"type": "boolean", "description": "Line numbers in content output (default true)."},
        "a": {**_CONTEXT, "description": "Lines of context after each match (content)."},
        "b": {**_CONTEXT, "description": "Lines of context before each match (content)."},
        "c": {**_CONTEXT, "description": "Lines of context before and after (content)."},
        "head_limit": {
            "type": "integer",
            "minimum": 1,
            "description": f"Results per page: files, or matching lines in content mode "
            f"(default {DEFAULT_HEAD_LIMIT}).",
        },
        "offset": {"type": "integer", "minimum": 0, "description": "Results to skip (paging)."},
        **VISIBILITY_PROPERTIES,
    },
    ("pattern",),
)


def _clip(text: str) -> str:
    text = text.removesuffix("\r")
    if len(text) <= MAX_LINE_CHARS:
        return text
    return f"{text[:MAX_LINE_CHARS]}… [{len(text) - MAX_LINE_CHARS} more characters]"


class _Output:
    """Rendered lines within the output bounds."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.chars = 0
        self.full = False

    def fits(self, lines: list[str]) -> bool:
        # Counted as the JSON result will carry them: quotes, backslashes and controls escaped.
        size = sum(len(dumps(line)) for line in lines)
        if len(self.lines) + len(lines) > MAX_OUTPUT_LINES or self.chars + size > MAX_OUTPUT_CHARS:
            self.full = True
            return False
        self.lines.extend(lines)
        self.chars += size
        return True


def _render_content(
    query: SearchQuery, found: list[FileLines], offset: int, limit: int
) -> tuple[str, int, bool]:
    """The page of matching lines with context; returns (text, lines shown, bounds hit)."""
    output = _Output()
    position = shown = 0
    previous: tuple[str, int] | None = None
    with_context = query.before > 0 or query.after > 0
    for hits in found:
        matched = set(hits.matched)
        for number in hits.matched:
            position += 1
            if position <= offset:
                continue
            if shown >= limit:
                break
            window = [
                line
                for line in range(number - query.before, number + query.after + 1)
                if line in hits.lines
                and (previous is None or previous[0] != hits.path or line > previous[1])
            ]
            block: list[str] = []
            if (
                with_context
                and previous is not None
                and window
                and (previous[0] != hits.path or window[0] > previous[1] + 1)
            ):
                block.append("--")
            for line in window:
                mark = ":" if line in matched else "-"
                number_part = f"{line}{mark}" if query.line_numbers else ""
                block.append(f"{hits.path}{mark}{number_part}{_clip(hits.lines[line])}")
            if not output.fits(block):
                return "\n".join(output.lines), shown, True
            shown += 1
            if window:
                previous = (hits.path, window[-1])
    return "\n".join(output.lines), shown, False


async def _collect(
    ctx: ToolContext, workspace: WorkspaceBackend, query: SearchQuery, need: int
) -> tuple[list[FileLines], int, str]:
    """Results in order until ``need`` paging units are found; returns them, units, engine."""
    cap = need if query.mode == "content" else None
    rg = shutil.which("rg")
    # ripgrep reads the directory itself, past a sub-task's exclusions: those searches go
    # through the backend with the Python engine.
    root = None if isinstance(workspace, ExcludingWorkspace) else workspace.local_root
    if rg is not None and root is not None:
        engine = "ripgrep"
        results = _search_rg.search(
            query, workspace, rg, root, cap=cap, need=need, cancelled=ctx.cancelled
        )
    else:
        engine = "python"
        results = _search_py.search(query, workspace, cap=cap, cancelled=ctx.cancelled)
    found: list[FileLines] = []
    units = 0
    try:
        async for hits in results:
            found.append(hits)
            units += len(hits.matched) if query.mode == "content" else 1
            if units >= need or ctx.cancelled.is_set():
                break
    finally:
        await results.aclose()
    return found, units, engine


async def _search_files(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    workspace = workspace_of(ctx)
    if isinstance(workspace, ToolResult):
        return workspace
    head_limit = clamp(args.get("head_limit"), DEFAULT_HEAD_LIMIT, 1, HEAD_LIMIT_CAP)
    offset = clamp(args.get("offset"), 0, 0, 2**31)
    try:
        base = normalize_path(args.get("path", ""))
        query = SearchQuery.from_args(base, args)
        if base and not query.visibility.include_sensitive and is_sensitive_path(base):
            return ToolResult.error(
                "sensitive_path",
                f"{base!r} may hold secrets; pass include_sensitive=true to search it.",
                details={"path": base},
            )
        found, units, engine = await _collect(ctx, workspace, query, offset + head_limit + 1)
    except _search_rg.SearchFailed as failure:
        return ToolResult.error("search_failed", f"ripgrep failed: {failure}")
    except AgentcycleError as error:
        return error_result(error)
    if ctx.cancelled.is_set():
        return ToolResult.error("cancelled", "The search was cancelled.")
    body: dict[str, Any] = {"ok": True, "mode": query.mode}
    more = units > offset + head_limit
    bounded = False
    if query.mode == "content":
        text, shown, bounded = _render_content(query, found, offset, head_limit)
        body["content"] = text
    else:
        output = _Output()
        page = found[offset : offset + head_limit]
        shown = 0
        for hits in page:
            line = (
                hits.path
                if query.mode == "files_with_matches"
                else f"{hits.path}:{len(hits.matched)}"
            )
            if not output.fits([line]):
                bounded = True
                break
            shown += 1
        if query.mode == "files_with_matches":
            body["files"] = [hits.path for hits in page[:shown]]
        else:
            body["counts"] = [
                {"path": hits.path, "count": len(hits.matched)} for hits in page[:shown]
            ]
    body["returned"] = shown
    body["truncated"] = more or bounded
    if more or bounded:
        body["next_offset"] = offset + shown
        reason = "output limit reached" if bounded else "more results"
        body["hint"] = (
            f"{reason}: call again with offset={offset + shown}, or narrow the search "
            "(path, glob, type, a more specific pattern); head_limit sets the page size"
        )
    else:
        body["total"] = units
    return ToolResult.success(dumps(body), metadata={"engine": engine})


def search_files_tool() -> BuiltinTool:
    """The ``search_files`` tool."""
    return BuiltinTool(
        name=SEARCH_FILES,
        description=(
            "Search file contents with a regular expression (or literal text). Returns "
            "matching file paths (default), matching lines with optional context "
            "(output_mode=content), or per-file counts. Smart case unless case_sensitive is "
            "set. Skips binary files, dependency/cache directories, hidden and secret files "
            "unless the include_* flags ask for them. Paged by head_limit (default 250) and "
            f"offset; output capped at {MAX_OUTPUT_LINES} lines / {MAX_OUTPUT_CHARS:,} "
            "characters. Regex subset: no look-around or back-references."
        ),
        parameters=_PARAMETERS,
        handler=_search_files,
        side_effect=SideEffect.READ,
        read_only=True,
    )
