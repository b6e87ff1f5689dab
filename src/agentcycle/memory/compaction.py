"""Loss-aware compaction of a run's history, cheapest stage first.

``Compactor.compact`` takes the history (with its cached token counts) and a target, and runs:

1. **micro** — tool results older than the last ``keep_recent_cycles`` cycles and longer than
   ``micro_min_chars`` become a marker with the tool name, a short excerpt and the artifact path
   holding the full text (``CompactionHost.archive``; without a workspace the marker says the text
   was dropped and keeps only the excerpt). Results of ``keep_tool_results`` tools (the TODO
   list, skill instructions) are never archived.
2. **structural** — outside the recent cycles: reasoning is dropped, a run of assistant replies
   without tool calls collapses into its last reply, images in non-pinned turns become a short
   text placeholder.
3. **summary** — everything between the original request and the recent cycles becomes one
   memory note: a summary from one model call (``CompactionHost.summarize``), or a deterministic
   local summary when that call fails, plus the current TODO list and the recently modified
   files in bounded form (``CompactionHost.pinned_notes``).
4. **emergency** — only when allowed (the provider rejected the prompt, or the prompt is over the
   hard limit): the oldest non-pinned turns are dropped, then large results of the last turn are
   archived.

It stops as soon as the prompt is at or under the target. **Pinned** content survives every
stage: system messages, the original user request (the first message the person wrote), the
latest message the person wrote, and the memory note. Afterwards every tool call again has
exactly one result right after it (results whose call was dropped go; calls whose result went
get an error result saying so). ``dropped`` is the short record of what left the context.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from agentcycle._json import dumps
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.memory.tokens import TokenEstimator
from agentcycle.messages import (
    AssistantMessage,
    Content,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
    content_text,
)

Stage = Literal["micro", "structural", "summary", "emergency"]

MEMORY_NOTE_PREFIX = "[agentcycle memory]"
"""Start of the synthetic user message that holds summaries and pinned state."""
ARCHIVED_PREFIX = "[archived tool result"
MAX_RECORDED_IDS = 100
"""A summary or emergency record lists at most this many tool call ids."""
_LOCAL_ITEM_CHARS = 200


class CompactionHost(Protocol):
    """What compaction needs from the run: archiving, summarising, pinned state."""

    async def archive(self, message: ToolMessage, text: str) -> str | None:
        """Keep ``text`` (a tool result) somewhere the model can read it back; return its path,
        or ``None`` when there is nowhere to keep it."""
        ...

    async def summarize(self, messages: Sequence[Message]) -> str:
        """Summarise ``messages`` (one model call); raise when that fails."""
        ...

    async def pinned_notes(self, *, with_files: bool) -> str:
        """The run's pinned state as text: the current TODO list and, with ``with_files``, the
        recently modified files in bounded form ("" when there is none)."""
        ...


@dataclass(slots=True)
class CompactionResult:
    """A compacted history with its token counts and the record of what changed."""

    messages: list[Message]
    tokens: list[int]
    mode: Stage
    dropped: list[dict[str, Any]]
    archived: int


def is_memory_note(message: Message) -> bool:
    """Whether ``message`` is a memory note written by compaction."""
    return (
        isinstance(message, UserMessage)
        and message.synthetic
        and isinstance(message.content, str)
        and message.content.startswith(MEMORY_NOTE_PREFIX)
    )


def _is_person(message: Message) -> bool:
    return isinstance(message, UserMessage) and not message.synthetic


def pinned_indices(messages: Sequence[Message]) -> set[int]:
    """Indices of the pinned messages (see the module docstring)."""
    pinned = {
        i for i, m in enumerate(messages) if isinstance(m, SystemMessage) or is_memory_note(m)
    }
    people = [i for i, m in enumerate(messages) if _is_person(m)]
    if people:
        pinned.update((people[0], people[-1]))
    return pinned


def recent_start(messages: Sequence[Message], cycles: int) -> int:
    """Index of the first message of the last ``cycles`` cycles (each cycle starts with an
    assistant message); 0 when the history has fewer cycles, so nothing counts as old."""
    seen = 0
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], AssistantMessage):
            seen += 1
            if seen == cycles:
                return i
    return 0


def archived_marker(name: str, text: str, path: str | None, excerpt_chars: int) -> str:
    """The compact stand-in for an archived tool result."""
    excerpt = " ".join(text[: excerpt_chars * 2].split())[:excerpt_chars]
    where = (
        f"Full text: {path} (read it with read_file)."
        if path
        else "The full text was not kept (no workspace to archive it)."
    )
    return f'{ARCHIVED_PREFIX}: {name}, {len(text)} characters. Excerpt: "{excerpt}" ... {where}]'


def memory_note(summary: str, pinned: str, *, dropped_messages: int = 0) -> UserMessage:
    """The synthetic user message holding a summary and the pinned state."""
    parts = [f"{MEMORY_NOTE_PREFIX} Earlier parts of this conversation were compacted."]
    if dropped_messages:
        parts.append(f"{dropped_messages} earlier messages were dropped to fit the context window.")
    if summary:
        parts.append("## Summary of earlier work\n" + summary.strip())
    if pinned:
        parts.append(pinned.strip())
    return UserMessage(content="\n\n".join(parts), synthetic=True)


def local_summary(messages: Sequence[Message]) -> str:
    """A deterministic summary for when the summary call fails: earlier notes, the person's
    requests, the tool calls made, errors and the last assistant replies."""
    lines: list[str] = []
    for m in messages:
        if is_memory_note(m):
            text = content_text(m.content)[len(MEMORY_NOTE_PREFIX) :]
            lines.append("Earlier memory:" + _clip(text, 2_000))
    requests = [_clip(content_text(m.content)) for m in messages if _is_person(m)]
    if requests:
        lines.append("User messages: " + " | ".join(requests[-5:]))
    calls = Counter(
        c.name for m in messages if isinstance(m, AssistantMessage) for c in m.tool_calls
    )
    if calls:
        lines.append(
            "Tool calls: " + ", ".join(f"{name} x{n}" for name, n in sorted(calls.items()))
        )
    errors = Counter(m.name for m in messages if isinstance(m, ToolMessage) and m.is_error)
    if errors:
        lines.append(
            "Failed tool calls: " + ", ".join(f"{name} x{n}" for name, n in sorted(errors.items()))
        )
    replies = [_clip(m.content) for m in messages if isinstance(m, AssistantMessage) and m.content]
    if replies:
        lines.append("Last assistant notes: " + " | ".join(replies[-3:]))
    return "(local summary; the summary call failed)\n" + "\n".join(f"- {x}" for x in lines)


def _clip(text: str, limit: int = _LOCAL_ITEM_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(slots=True)
class _Work:
    """The history being compacted, with counts kept in step."""

    messages: list[Message]
    tokens: list[int]
    fixed: int
    estimator: TokenEstimator
    dropped: list[dict[str, Any]] = field(default_factory=list)
    archived: int = 0
    total: int = 0
    """Tokens of the whole request, kept in step with every change."""

    def __post_init__(self) -> None:
        self.total = sum(self.tokens) + self.fixed

    def replace(self, index: int, message: Message) -> int:
        """Swap one message; return the tokens reclaimed."""
        before = self.tokens[index]
        self.messages[index] = message
        self.tokens[index] = self.estimator.message(message)
        self.total += self.tokens[index] - before
        return before - self.tokens[index]

    def keep(self, pairs: list[tuple[Message, int]]) -> None:
        self.messages = [m for m, _ in pairs]
        self.tokens = [n for _, n in pairs]
        self.total = sum(self.tokens) + self.fixed

    def pair(self, message: Message) -> tuple[Message, int]:
        return message, self.estimator.message(message)


class Compactor:
    """Runs the compaction stages for one run (see the module docstring)."""

    def __init__(self, policy: MemoryPolicy, estimator: TokenEstimator) -> None:
        self.policy = policy
        self.estimator = estimator

    async def compact(
        self,
        messages: Sequence[Message],
        tokens: Sequence[int],
        *,
        fixed: int,
        target: int,
        hard_limit: int | None,
        emergency: bool,
        host: CompactionHost,
    ) -> CompactionResult:
        """Compact ``messages`` (counts in ``tokens``; ``fixed`` more tokens go with every
        request) until the request is at most ``target`` tokens or no stage is left. Emergency
        runs when ``emergency`` is set or the request is still over ``hard_limit``."""
        work = _Work(list(messages), list(tokens), fixed, self.estimator)
        mode: Stage = "micro"
        if work.total > target:
            await self._micro(work, host, target, recent_start(work.messages, self._recent))
        if work.total > target and self._structural(work):
            mode = "structural"
        if work.total > target and self.policy.summary and await self._summary(work, host, target):
            mode = "summary"
        over_limit = hard_limit is not None and work.total > hard_limit
        if work.total > target and (emergency or over_limit):
            await self._emergency(work, host, target)
            mode = "emergency"
        self._repair_pairing(work)
        return CompactionResult(work.messages, work.tokens, mode, work.dropped, work.archived)

    @property
    def _recent(self) -> int:
        return self.policy.keep_recent_cycles

    # ------------------------------------------------------------------ micro

    async def _micro(self, work: _Work, host: CompactionHost, target: int, limit: int) -> None:
        policy = self.policy
        for i in range(limit):
            if work.total <= target:
                return
            message = work.messages[i]
            if not isinstance(message, ToolMessage) or message.name in policy.keep_tool_results:
                continue
            text = content_text(message.content)
            if len(text) < policy.micro_min_chars or text.startswith(ARCHIVED_PREFIX):
                continue
            path = await host.archive(message, text)
            marker = archived_marker(message.name, text, path, policy.excerpt_chars)
            stub = ToolMessage(
                tool_call_id=message.tool_call_id,
                name=message.name,
                content=marker,
                is_error=message.is_error,
            )
            reclaimed = work.replace(i, stub)
            work.archived += path is not None
            work.dropped.append(
                {
                    "stage": "micro",
                    "kind": "tool_result",
                    "tool": message.name,
                    "tool_call_id": message.tool_call_id,
                    "chars": len(text),
                    "tokens": reclaimed,
                    "artifact": path,
                }
            )

    # ------------------------------------------------------------------ structural

    def _structural(self, work: _Work) -> bool:
        messages = work.messages
        limit = recent_start(messages, self._recent)
        pinned = pinned_indices(messages)
        kept: list[tuple[Message, int]] = []
        counts: Counter[str] = Counter()
        i = 0
        while i < len(messages):
            message, tokens = messages[i], work.tokens[i]
            if i >= limit or i in pinned:
                kept.append((message, tokens))
                i += 1
                continue
            if isinstance(message, AssistantMessage) and not message.tool_calls:
                run_end, replies = self._reply_run(messages, i, limit, pinned)
                if replies > 1:
                    last = messages[run_end - 1]
                    assert isinstance(last, AssistantMessage)
                    note = f"[{replies - 1} earlier replies without tool calls were removed]\n"
                    kept.append(work.pair(AssistantMessage(content=note + last.content)))
                    counts["collapsed_replies"] += replies - 1
                    counts["removed_messages"] += run_end - i - 1
                    i = run_end
                    continue
            if isinstance(message, AssistantMessage) and message.reasoning:
                message = message.model_copy(update={"reasoning": None})
                counts["reasoning"] += 1
            if isinstance(message, UserMessage | ToolMessage) and _has_image(message.content):
                trimmed = _without_images(message.content)
                message = message.model_copy(update={"content": trimmed})
                counts["images"] += 1
            kept.append((message, tokens) if message is messages[i] else work.pair(message))
            i += 1
        if not counts:
            return False
        before = work.total
        work.keep(kept)
        work.dropped.append({"stage": "structural", **counts, "tokens": before - work.total})
        return True

    @staticmethod
    def _reply_run(
        messages: Sequence[Message], start: int, limit: int, pinned: set[int]
    ) -> tuple[int, int]:
        """End (exclusive, just after its last reply) and reply count of the run of tool-less
        assistant replies starting at ``start``, with only runtime hints between them."""
        end, replies = start + 1, 1
        j = start + 1
        while j < limit and j not in pinned:
            m = messages[j]
            if isinstance(m, AssistantMessage) and not m.tool_calls:
                replies += 1
                end = j + 1
            elif not (isinstance(m, UserMessage) and m.synthetic):
                break
            j += 1
        return end, replies

    # ------------------------------------------------------------------ summary

    async def _summary(self, work: _Work, host: CompactionHost, target: int) -> bool:
        messages = work.messages
        people = [i for i, m in enumerate(messages) if _is_person(m)]
        head_end = people[0] + 1 if people else _leading_system(messages)
        tail = recent_start(messages, self._recent)
        head_and_tail = sum(work.tokens[:head_end]) + sum(work.tokens[tail:]) + work.fixed
        if head_and_tail > target:  # the recent cycles alone are too big: keep only the last
            tail = recent_start(messages, 1)
        if tail <= head_end:
            return False
        middle = messages[head_end:tail]
        latest = people[-1] if people and head_end <= people[-1] < tail else None
        summarized_by, error = "model", None
        try:
            summary = await host.summarize(middle)
        except Exception as exc:  # any failure of the call: the local summary keeps the run alive
            summary, summarized_by = local_summary(middle), "local"
            error = getattr(exc, "code", type(exc).__name__)
        note = memory_note(summary, await host.pinned_notes(with_files=True))
        kept = [(m, work.tokens[i]) for i, m in enumerate(messages[:head_end])]
        kept.append(work.pair(note))
        if latest is not None:
            kept.append((messages[latest], work.tokens[latest]))
        kept.extend((m, work.tokens[tail + k]) for k, m in enumerate(messages[tail:]))
        before = work.total
        work.keep(kept)
        record: dict[str, Any] = {
            "stage": "summary",
            "messages": len(middle) - (latest is not None),
            "tokens": before - work.total,
            "tool_call_ids": _tool_call_ids(middle),
            "summarized_by": summarized_by,
        }
        if error is not None:
            record["error"] = error
        work.dropped.append(record)
        return True

    # ------------------------------------------------------------------ emergency

    async def _emergency(self, work: _Work, host: CompactionHost, target: int) -> None:
        messages = work.messages
        pinned = pinned_indices(messages)
        last_turn = recent_start(messages, 1)
        drop: set[int] = set()
        total = work.total
        i = 0
        while i < last_turn and total > target:
            if i in pinned:
                i += 1
                continue
            unit = [i]
            j = i + 1
            if isinstance(messages[i], AssistantMessage):
                while (
                    j < last_turn
                    and j not in pinned
                    and not isinstance(messages[j], AssistantMessage)
                ):
                    unit.append(j)
                    j += 1
            drop.update(unit)
            total -= sum(work.tokens[k] for k in unit)
            i = j
        if drop:
            removed = [messages[k] for k in sorted(drop)]
            kept = [(m, work.tokens[k]) for k, m in enumerate(messages) if k not in drop]
            note_at = next((k for k, (m, _) in enumerate(kept) if is_memory_note(m)), None)
            pinned_text = await host.pinned_notes(with_files=True)
            if note_at is None:
                note = memory_note("", pinned_text, dropped_messages=len(removed))
                kept.insert(_note_position(kept), work.pair(note))
            before = work.total
            work.keep(kept)
            work.dropped.append(
                {
                    "stage": "emergency",
                    "messages": len(removed),
                    "tokens": before - work.total,
                    "tool_call_ids": _tool_call_ids(removed),
                }
            )
        if work.total > target:  # the last turn itself is too big: archive its large results
            await self._micro(work, host, target, len(work.messages))

    # ------------------------------------------------------------------ pairing

    def _repair_pairing(self, work: _Work) -> None:
        """Every tool call gets exactly one result right after its assistant message."""
        kept: list[tuple[Message, int]] = []
        open_calls: dict[str, str] = {}
        repaired: Counter[str] = Counter()

        def close_open() -> None:
            for call_id, name in open_calls.items():
                body = {
                    "ok": False,
                    "error_code": "result_compacted",
                    "error": "This result was removed from the context.",
                }
                stub = ToolMessage(tool_call_id=call_id, name=name, content=dumps(body))
                kept.append(work.pair(stub))
                repaired["missing_results"] += 1
            open_calls.clear()

        for message, tokens in zip(work.messages, work.tokens, strict=True):
            if isinstance(message, ToolMessage):
                if open_calls.pop(message.tool_call_id, None) is None:
                    repaired["orphan_results"] += 1
                    continue
            else:
                close_open()
                if isinstance(message, AssistantMessage):
                    open_calls = {c.id: c.name for c in message.tool_calls}
            kept.append((message, tokens))
        close_open()
        if repaired:
            work.keep(kept)
            work.dropped.append({"stage": "structural", "pairing": dict(repaired)})


def _leading_system(messages: Sequence[Message]) -> int:
    i = 0
    while i < len(messages) and isinstance(messages[i], SystemMessage):
        i += 1
    return i


def _note_position(kept: Sequence[tuple[Message, int]]) -> int:
    """Right after the original request (or the system messages)."""
    for k, (m, _) in enumerate(kept):
        if _is_person(m):
            return k + 1
    return _leading_system([m for m, _ in kept])


def _tool_call_ids(messages: Sequence[Message]) -> list[str]:
    ids = [m.tool_call_id for m in messages if isinstance(m, ToolMessage)]
    return ids[:MAX_RECORDED_IDS]


def _has_image(content: Content) -> bool:
    return not isinstance(content, str) and any(isinstance(p, ImagePart) for p in content)


def _without_images(content: Content) -> Content:
    if isinstance(content, str):
        return content
    return [
        p if isinstance(p, TextPart) else TextPart(text="[image removed from context]")
        for p in content
    ]
