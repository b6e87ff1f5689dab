"""Messages as bounded plain text, for the model calls memory makes about a conversation
(compaction summaries, session memory extraction)."""

from __future__ import annotations

from collections.abc import Sequence

from agentcycle.messages import AssistantMessage, Message, ToolMessage, content_text

MESSAGE_CHARS = 2_000
"""Each message is clipped to this many characters."""
_CALL_ARGUMENT_CHARS = 300


def render_message(message: Message) -> str:
    """One message as ``role: text`` (tool calls listed, long text clipped)."""
    text = content_text(message.content)
    if isinstance(message, AssistantMessage) and message.tool_calls:
        calls = "; ".join(
            f"{c.name}({c.arguments[:_CALL_ARGUMENT_CHARS]})" for c in message.tool_calls
        )
        text = f"{text}\n[tool calls: {calls}]".strip()
    label: str = message.role
    if isinstance(message, ToolMessage):
        label = f"tool {message.name}" + (" (error)" if message.is_error else "")
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS] + " [...]"
    return f"{label}: {text}"


def render_transcript(messages: Sequence[Message], total_chars: int) -> str:
    """The messages as text of at most about ``total_chars`` characters: when they do not all
    fit, the oldest go first (replaced by a line saying how many), the latest always stays."""
    lines = [render_message(m) for m in messages]
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        if used + len(line) > total_chars and kept:
            kept.append(f"[{len(lines) - len(kept)} earlier messages omitted]")
            break
        kept.append(line)
        used += len(line)
    return "\n\n".join(reversed(kept))
