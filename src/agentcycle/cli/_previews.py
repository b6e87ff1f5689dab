"""The closing summary line, and text shortened for the terminal.

Tool result previews are not made here: ``tool_call_completed`` carries one
(``result_preview``, built by the runtime), and the renderer shows it under the call's line.
"""

from __future__ import annotations

from agentcycle.result import RunResult

PREVIEW_CHARS = 72
"""The longest result preview the terminal shows (the event's may be longer)."""


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
