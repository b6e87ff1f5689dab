"""``MemoryProvider``: external, long-term memory a run can recall from and save to.

Register providers on ``Agent(memory_providers=[...])`` and ``RunConfig(memory_providers=[...])``
(they add up: agent, runner, run). A run uses them at three points:

- **Recall.** When a run starts, each provider's ``search(query, limit)`` is called once,
  concurrently, with the user's request as ``query`` and ``MemoryPolicy.recall_limit`` as
  ``limit``. The items become one prompt fragment per provider ("Recalled memory"), at most
  ``MemoryPolicy.recall_chars`` characters each, rendered with the run's context providers (the
  same place, order and ``context_budget_chars``; see ``agentcycle.context_providers``). A
  resumed run keeps the prompt it started with and does not search again.
- **Compaction.** ``before_compaction(notice)`` is called when a compaction starts and
  ``after_compaction(record)`` when it finished; ``record.removed`` holds the messages that
  left the model's context (summarised, archived or dropped), so a provider can keep them.
- **Session memory.** When session memory (``MemoryPolicy.session_memory``) extracts notes,
  every provider's ``save`` receives them as ``MemoryItem`` objects (``kind`` is the note's
  category).

Failures are contained: a provider that raises (or returns something other than a list of
``MemoryItem`` from ``search``) is skipped for that call, and the run reports it as a
``diagnostic`` event (level ``warning``, code ``memory_provider_failed``, details
``provider``, ``operation``, ``error_type``, ``error``). Calls are awaited in the run's task,
so a provider should bound its own latency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from agentcycle.messages import Message


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """One remembered piece of text. ``id`` is the provider's own key (if any), ``kind`` a
    free label (session memory uses its note categories), ``score`` a search relevance."""

    text: str
    id: str | None = None
    kind: str = "note"
    score: float | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CompactionNotice:
    """A compaction is about to rewrite the run's history."""

    run_id: str
    session_id: str | None
    cycle_index: int
    trigger: Literal["threshold", "prompt_too_long"]
    message_count: int
    estimated_tokens: int


@dataclass(frozen=True, slots=True)
class CompactionRecord:
    """What a finished compaction changed. ``removed`` are the messages no longer in the
    model's context (in history order), ``added`` the ones that took their place (archive
    markers, the memory note), ``dropped`` the short record ``memory_compact_completed``
    carries."""

    run_id: str
    session_id: str | None
    cycle_index: int
    trigger: Literal["threshold", "prompt_too_long"]
    mode: Literal["micro", "structural", "summary", "emergency"]
    tokens_before: int
    tokens_after: int
    removed: tuple[Message, ...]
    added: tuple[Message, ...]
    dropped: tuple[dict[str, Any], ...] = ()


@runtime_checkable
class MemoryProvider(Protocol):
    """External memory (see the module docstring for when each method is called). An optional
    ``name`` attribute names it in prompts and reports; otherwise its class name is used."""

    async def search(self, query: str, limit: int) -> list[MemoryItem]:
        """At most ``limit`` items relevant to ``query``, most relevant first."""
        ...

    async def save(self, items: Sequence[MemoryItem]) -> None:
        """Remember ``items``."""
        ...

    async def before_compaction(self, notice: CompactionNotice) -> None:
        """A compaction is starting."""
        ...

    async def after_compaction(self, record: CompactionRecord) -> None:
        """A compaction finished; ``record.removed`` is what left the context."""
        ...


def provider_name(provider: object) -> str:
    """How prompts and reports name ``provider``."""
    name = getattr(provider, "name", None)
    return name if isinstance(name, str) and name else type(provider).__name__


_MIN_CLIPPED_LINE = 40


def render_recalled(name: str, items: Sequence[MemoryItem], max_chars: int) -> str:
    """The prompt section for ``items`` recalled from provider ``name``: a heading and one line
        per item, in the order given, stopping where the section would pass ``max_chars`` (the item
    that does not fit is clipped when enough room is left). ``""`` when nothing fits."""
    heading = f"## Recalled memory ({name})\nNotes from earlier work; they may be outdated."
    lines = [heading]
    used = len(heading)
    for item in items:
        text = " ".join(item.text.split())
        if not text:
            continue
        line = f"- {text}" if item.kind == "note" else f"- [{item.kind}] {text}"
        room = max_chars - used - 1
        if len(line) > room:
            if room >= _MIN_CLIPPED_LINE:  # a long item still contributes its beginning
                lines.append(line[: room - 3] + "...")
            break
        lines.append(line)
        used += 1 + len(line)
    return "\n".join(lines) if len(lines) > 1 else ""
