"""``find_files``: a bounded listing of the workspace, and the discovery tool set.

The listing walks the workspace once, in canonical path order, and never enters a directory the
call cannot see: hidden directories unless ``include_hidden``, dependency and cache directories
(:data:`~agentcycle.workspace.filters.IGNORED_DIR_NAMES`) unless ``include_ignored``. Those
directly inside the listed directory are reported once under ``summarised``; deeper ones are
only counted. The walk stops after ``scan_limit`` entries (``scan_truncated``).

Sorting by path pages cheaply: the walk stops as soon as the page and one more match are found,
so ``total_found`` is reported only when the walk reached the end. ``modified_desc`` has to see
every match within the scan before it can order them, so it always walks up to ``scan_limit``.

The answer is always whole JSON: a page that would not fit in one tool result
(:data:`~._scope.RESULT_BUDGET_CHARS`) returns fewer entries, ``truncated`` and ``next_offset``.
"""

from __future__ import annotations

from typing import Any

from agentcycle._json import dumps
from agentcycle.errors import AgentcycleError
from agentcycle.messages import ToolResult
from agentcycle.tools.base import SideEffect, ToolContext
from agentcycle.tools.builtin._scope import (
    RESULT_BUDGET_CHARS,
    VISIBILITY_PROPERTIES,
    Visibility,
    clamp,
    error_result,
    fitting,
    iso_time,
    workspace_of,
)
from agentcycle.tools.builtin._tool import BuiltinTool, closed_object
from agentcycle.tools.builtin.search import search_files_tool
from agentcycle.workspace.base import WorkspaceEntry
from agentcycle.workspace.paths import normalize_path, parent_path

FIND_FILES = "find_files"
DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_CAP = 5_000
DEFAULT_SCAN_LIMIT = 50_000
SCAN_LIMIT_CAP = 1_000_000

_PARAMETERS = closed_object(
    {
        "path": {
            "type": "string",
            "description": "Directory to list, relative to the workspace root (default: root).",
        },
        "glob": {
            "type": "string",
            "description": (
                "Pattern relative to `path`: `*` and `?` stay within one path segment, `**` "
                "spans directories, `{a,b}` alternatives, `[abc]` classes. `*.py` matches "
                "only direct children, `**/*.py` all of them. Default `**` (everything)."
            ),
        },
        **VISIBILITY_PROPERTIES,
        "max_results": {
            "type": "integer",
            "minimum": 1,
            "description": f"Entries per page (default {DEFAULT_MAX_RESULTS}, at most "
            f"{MAX_RESULTS_CAP:,}).",
        },
        "offset": {"type": "integer", "minimum": 0, "description": "Entries to skip (paging)."},
        "scan_limit": {
            "type": "integer",
            "minimum": 1,
            "description": f"Most entries examined before giving up (default "
            f"{DEFAULT_SCAN_LIMIT:,}).",
        },
        "sort": {
            "type": "string",
            "enum": ["path_asc", "modified_desc"],
            "description": "path_asc (default) or modified_desc (newest first).",
        },
    }
)


def _describe(entry: WorkspaceEntry) -> dict[str, Any]:
    found: dict[str, Any] = {"path": entry.path, "type": entry.kind}
    if entry.size is not None:
        found["size"] = entry.size
    modified = iso_time(entry.modified)
    if modified is not None:
        found["modified"] = modified
    return found


async def _find_files(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    workspace = workspace_of(ctx)
    if isinstance(workspace, ToolResult):
        return workspace
    requested = clamp(args.get("max_results"), DEFAULT_MAX_RESULTS, 1, 2**31)
    max_results = min(requested, MAX_RESULTS_CAP)
    offset = clamp(args.get("offset"), 0, 0, 2**31)
    scan_limit = clamp(args.get("scan_limit"), DEFAULT_SCAN_LIMIT, 1, SCAN_LIMIT_CAP)
    by_time = args.get("sort") == "modified_desc"
    try:
        base = normalize_path(args.get("path", ""))
        visibility = Visibility.from_args(base, args)
        summarised: dict[str, str] = {}
        """Directories directly in ``base`` left unexpanded, with why, in walk order."""
        nested_skipped = 0

        def descend(directory: str) -> bool:
            nonlocal nested_skipped
            why = visibility.refusal(directory)
            if why is None:
                return True
            if parent_path(directory) == base:
                summarised.setdefault(directory, why)
            else:
                nested_skipped += 1
            return False

        listing = workspace.list(
            base, glob=args.get("glob") or "**", scan_limit=scan_limit, descend=descend
        )
        # Path order: the page plus one more match (to know there is more). Time order: all.
        wanted = None if by_time else offset + max_results + 1
        matches: list[WorkspaceEntry] = []
        async for entry in listing:
            if visibility.shows(entry.path, entry.is_dir):
                matches.append(entry)
                if wanted is not None and len(matches) >= wanted:
                    break
            elif entry.is_dir and parent_path(entry.path) == base:
                # A glob that does not descend ("*") never asks `descend`: the directories it
                # hides are named all the same.
                why = visibility.refusal(entry.path)
                if why is not None:
                    summarised.setdefault(entry.path, why)
            if ctx.cancelled.is_set():
                break
        await listing.aclose()
    except AgentcycleError as error:
        return error_result(error)
    complete = wanted is None or len(matches) < wanted
    if by_time:
        matches.sort(key=lambda e: e.path)
        matches.sort(key=lambda e: e.modified if e.modified is not None else float("-inf"))
        matches.reverse()
    described = [_describe(e) for e in matches[offset : offset + max_results]]
    unexpanded = [{"path": path, "kind": why} for path, why in summarised.items()]
    # A page too large for one tool result shrinks (at least one entry, so paging advances).
    shown = max(1, fitting(described, RESULT_BUDGET_CHARS - len(dumps(unexpanded))))
    bounded = shown < len(described)
    page = described[:shown]
    more = bounded or len(matches) > offset + max_results
    body: dict[str, Any] = {"ok": True, "path": base, "files": page}
    body["returned"] = len(page)
    if complete:
        body["total_found"] = len(matches)
    body["truncated"] = more
    if more:
        body["next_offset"] = offset + len(page)
    body["scan_truncated"] = listing.truncated
    if unexpanded:
        body["summarised"] = unexpanded
    if nested_skipped:
        body["skipped_directories"] = nested_skipped
    if requested > MAX_RESULTS_CAP:
        body["max_results_capped"] = MAX_RESULTS_CAP
    hints = []
    if bounded:
        hints.append(
            f"output limit: {len(page)} of the {len(described)} entries asked for fit in one "
            f"result; call again with offset={offset + len(page)}, or narrow `path`/`glob`"
        )
    elif more:
        hints.append(f"more entries: call again with offset={offset + len(page)}")
    if listing.truncated:
        hints.append(
            f"stopped after examining {scan_limit:,} entries; narrow `path`/`glob` or raise "
            "`scan_limit`"
        )
    if summarised and not visibility.include_ignored:
        hints.append("summarised directories are not expanded; list them by `path` to look in")
    if hints:
        body["hint"] = "; ".join(hints)
    return ToolResult.success(dumps(body))


def find_files_tool() -> BuiltinTool:
    """The ``find_files`` tool."""
    return BuiltinTool(
        name=FIND_FILES,
        description=(
            "List files and directories in the workspace, optionally filtered by a glob. "
            "Returns {files: [{path, type, size, modified}], returned, truncated, next_offset, "
            "scan_truncated, summarised}. Dependency/cache directories (node_modules, .git, "
            ".venv, ...) and hidden entries are skipped, the former listed once under "
            "`summarised`; secrets (.env, keys) are hidden. Paged: `max_results` (default "
            "100, at most 5,000) from `offset`; stops after `scan_limit` entries."
        ),
        parameters=_PARAMETERS,
        handler=_find_files,
        side_effect=SideEffect.READ,
        read_only=True,
    )


def discovery_tools() -> list[BuiltinTool]:
    """``find_files`` and ``search_files``, in the order runs offer them."""
    return [find_files_tool(), search_files_tool()]
