"""Session notes: the durable facts session memory keeps about a conversation.

A note has a category (``NOTE_CATEGORIES``), a short text, the run it came from and when it
was written. ``parse_extraction`` reads a model's extraction answer into notes (strictly: a
malformed answer is an ``InvalidNotesExtraction``); ``merge_notes`` adds notes to a stored list
without duplicates and within a size bound; ``render_notes`` turns a list into the bounded
prompt section a run starts with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentcycle.errors import InvalidNotesExtraction

NoteCategory = Literal["user_intent", "decision", "file_change", "error_fix", "key_fact"]
"""What a note records: what the user wants, a decision taken, a file changed, an error and its
fix, a fact worth keeping (names, paths, numbers, identifiers)."""

NOTE_CATEGORIES: tuple[NoteCategory, ...] = get_args(NoteCategory)

EXTRACTION_KEYS: dict[str, NoteCategory] = {
    "user_intent": "user_intent",
    "decisions": "decision",
    "file_changes": "file_change",
    "error_fixes": "error_fix",
    "key_facts": "key_fact",
}
"""The keys of the extraction's JSON object and the category of each key's strings."""

_HEADINGS: dict[NoteCategory, str] = {
    "user_intent": "User intent",
    "decision": "Decisions",
    "file_change": "File changes",
    "error_fix": "Errors and fixes",
    "key_fact": "Key facts",
}
_FENCE = re.compile(r"^```[A-Za-z]*\s*\n(.*)\n```$", re.DOTALL)


class SessionNote(BaseModel):
    """One durable note of a session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: NoteCategory
    text: str = Field(min_length=1)
    run_id: str | None = None
    """The run whose conversation the note was extracted from."""
    created_at: float = 0.0
    """Unix time of the extraction."""


class _Extraction(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    user_intent: list[str] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list)
    file_changes: list[str] = Field(default_factory=list)
    error_fixes: list[str] = Field(default_factory=list)
    key_facts: list[str] = Field(default_factory=list)


def parse_extraction(
    text: str, *, run_id: str | None, created_at: float, max_note_chars: int
) -> list[SessionNote]:
    """The notes in an extraction answer: a JSON object (optionally in one code fence) whose
    keys are ``EXTRACTION_KEYS`` (each optional) and whose values are lists of strings. Blank
    strings are skipped and long ones clipped to ``max_note_chars``. Raises
    ``InvalidNotesExtraction`` for anything else."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced is not None:
        body = fenced.group(1).strip()
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidNotesExtraction(f"the extraction is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidNotesExtraction(
            f"the extraction is a JSON {type(data).__name__}, not an object"
        )
    try:
        parsed = _Extraction.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise InvalidNotesExtraction(
            f"the extraction does not match the format: {problems}"
        ) from exc
    notes: list[SessionNote] = []
    for key, category in EXTRACTION_KEYS.items():
        for item in getattr(parsed, key):
            clean = " ".join(item.split())
            if not clean:
                continue
            if len(clean) > max_note_chars:
                clean = clean[: max_note_chars - 3] + "..."
            notes.append(
                SessionNote(category=category, text=clean, run_id=run_id, created_at=created_at)
            )
    return notes


def _key(note: SessionNote) -> tuple[str, str]:
    return note.category, note.text.casefold()


def merge_notes(
    stored: Sequence[SessionNote], new: Sequence[SessionNote], max_notes: int
) -> tuple[list[SessionNote], int]:
    """``stored`` followed by the notes of ``new`` it does not already hold (same category and
    text, ignoring case), then the oldest dropped down to ``max_notes``. Returns the list and
    how many notes were dropped."""
    seen = {_key(n) for n in stored}
    merged = list(stored)
    for note in new:
        key = _key(note)
        if key not in seen:
            seen.add(key)
            merged.append(note)
    dropped = max(0, len(merged) - max_notes)
    return merged[dropped:], dropped


def render_notes(notes: Sequence[SessionNote], max_chars: int, *, heading: str) -> str:
    """The prompt section for ``notes``: ``heading``, then the notes grouped by category (in
    ``NOTE_CATEGORIES`` order, oldest first within a group). When they do not all fit in
    ``max_chars``, the newest notes are kept. ``""`` when no note fits."""
    used = len(heading)
    kept: set[int] = set()
    groups_used: set[NoteCategory] = set()
    for i in range(len(notes) - 1, -1, -1):
        note = notes[i]
        cost = len(note.text) + 3  # "\n- " before the text
        if note.category not in groups_used:
            cost += len(_HEADINGS[note.category]) + 6  # "\n### " and the blank line
        if used + cost > max_chars:
            continue  # a shorter, older note may still fit
        used += cost
        kept.add(i)
        groups_used.add(note.category)
    if not kept:
        return ""
    sections = [heading]
    for category in NOTE_CATEGORIES:
        lines = [f"- {n.text}" for i, n in enumerate(notes) if i in kept and n.category == category]
        if lines:
            sections.append(f"### {_HEADINGS[category]}\n" + "\n".join(lines))
    return "\n\n".join(sections)
