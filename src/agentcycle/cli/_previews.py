"""Short previews of tool results for the terminal, and the closing summary line.

``tool_call_completed`` events say how a call ended, not what it returned, so the CLI collects
a one-line preview of each successful result with an ``after_tool_call`` hook (it changes
nothing) and the renderer shows it under the call's line.
"""

from __future__ import annotations

import json
from typing import Any

from agentcycle.hooks import HookContext, RuntimeHook, ToolCallInfo
from agentcycle.messages import ToolResult, ToolResultStatus
from agentcycle.result import RunResult

PREVIEW_CHARS = 72

_COUNTS = (
    ("returned", "entry", "entries"),
    ("total_lines", "line", "lines"),
    ("total", "match", "matches"),
    ("bytes_written", "byte written", "bytes written"),
)


class ResultPreviews(RuntimeHook):
    """Keeps a one-line preview of each successful tool result, by tool call id; the renderer
    takes them out as it shows them."""

    def __init__(self) -> None:
        self.previews: dict[str, str] = {}

    async def after_tool_call(
        self, ctx: HookContext, call: ToolCallInfo, result: ToolResult
    ) -> ToolResult | None:
        """Record the preview; the model gets the result unchanged."""
        if result.status is ToolResultStatus.SUCCESS:
            preview = preview_of(result.content)
            if preview:
                self.previews[call.tool_call_id] = preview
        return None


def preview_of(content: str) -> str:
    """A one-line gist of a tool result: counts a person cares about for the built-in tools'
    JSON (entries, lines, matches), else the first line of the text, cut short."""
    try:
        body: Any = json.loads(content)
    except ValueError:
        body = content
    if isinstance(body, dict):
        parts = [
            f"{body[key]:,} {one if body[key] == 1 else many}"
            for key, one, many in _COUNTS
            if isinstance(body.get(key), int)
        ]
        if parts and body.get("truncated"):
            parts.append("more available")
        if parts:
            return ", ".join(parts)
        body = body.get("message") or body.get("content") or body.get("output") or ""
        if not isinstance(body, str):
            return ""
    return shorten(" ".join(str(body).split()), PREVIEW_CHARS)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary_line(result: RunResult, seconds: float) -> str:
    """``completed · 6 cycles · 1,234 tokens · $0.0012 · 0.4 s``: how the run went."""
    usage = result.usage
    parts = [result.status.value, f"{result.cycles} cycle{'s' if result.cycles != 1 else ''}"]
    if usage.total_tokens is not None:
        parts.append(f"{usage.total_tokens:,} tokens")
    if usage.cost_usd is not None:
        parts.append(f"${usage.cost_usd:.4f}")
    parts.append(f"{seconds:.1f} s")
    return " · ".join(parts)
