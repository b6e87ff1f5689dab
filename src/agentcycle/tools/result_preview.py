"""The short gist of a tool result that ``tool_call_completed`` carries as ``result_preview``.

Hosts (the CLI's terminal view, the app server's ``toolCall`` items) show what a call returned
without holding the result itself. The preview is built once per call by the runtime from the
result as the model gets it (already bounded to ``MAX_TOOL_OUTPUT_CHARS``), is one line of at
most :data:`RESULT_PREVIEW_CHARS` characters, and is scrubbed of secrets: the host's credential
values and the values of credential-looking assignments (``API_KEY=...``). Built-in tools'
JSON results read as counts (``120 entries, more available``), error results as their message;
other results as their first words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from agentcycle.tools.builtin._secrets import redact, scrub_assignments

__all__ = ["RESULT_PREVIEW_CHARS", "result_preview"]

RESULT_PREVIEW_CHARS = 160
"""The longest ``result_preview``."""

_SCAN_CHARS = RESULT_PREVIEW_CHARS + 512
"""How much of the text is read: enough that a secret straddling the preview's cut is scrubbed
whole, never left half shown."""

_COUNTS = (
    ("returned", "entry", "entries"),
    ("total_lines", "line", "lines"),
    ("total", "match", "matches"),
    ("bytes_written", "byte written", "bytes written"),
)


def result_preview(content: str, secrets: Iterable[str] = ()) -> str | None:
    """A one-line gist of a tool result's ``content``, bounded and scrubbed of ``secrets`` and
    of credential-looking assignments; ``None`` when there is nothing to show."""
    body: Any = content
    if content[:1] == "{":  # only JSON objects carry the counts worth parsing for
        try:
            body = json.loads(content)
        except ValueError:
            body = content
    if isinstance(body, dict):
        parts = [
            f"{body[key]:,} {one if body[key] == 1 else many}"
            for key, one, many in _COUNTS
            if isinstance(body.get(key), int) and not isinstance(body.get(key), bool)
        ]
        if parts and body.get("truncated"):
            parts.append("more available")
        if parts:
            return ", ".join(parts)
        body = (
            body.get("message")
            or body.get("error")
            or body.get("content")
            or body.get("output")
            or ""
        )
        if not isinstance(body, str):
            return None
    head = body[:_SCAN_CHARS]
    if len(body) > _SCAN_CHARS:
        # The last word may be the start of a secret cut off here, which neither scrub would
        # recognise, and folding whitespace could pull it into view: drop it (secret values
        # hold no whitespace; a text with none is longer than the preview anyway).
        cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        if cut > 0:
            head = head[:cut]
    text = scrub_assignments(redact(" ".join(head.split()), secrets))
    if not text:
        return None
    if len(text) > RESULT_PREVIEW_CHARS:
        text = text[: RESULT_PREVIEW_CHARS - 1] + "…"
    return text
