"""Session memory: durable notes about a conversation, extracted by the model and carried from
one run of a session to the next.

Off by default. Turn it on per run (or per agent or runner) with
``MemoryPolicy(session_memory=SessionMemory())``; it applies to runs with a
``RunConfig.session`` (a run without one reports a ``session_memory_inactive`` diagnostic and
goes on without it).

- **Load.** When a run starts, the session's notes are read from the store and rendered, newest
  kept first within ``prompt_chars``, as a "Session memory" fragment of the system prompt,
  through the context provider mechanism (``agentcycle.context_providers``: same place, same
  ``context_budget_chars``; a store that fails to load is a ``context_provider_failed``
  diagnostic). A resumed run keeps the prompt it started with.
- **Extract.** The conversation the run adds (the new input, then every committed cycle, as
  the run added it, before any compaction) is collected. When it passes ``extract_after_tokens``
  (estimated), and when the run ends completed, waiting for the user or out of cycles with at
  least ``end_min_tokens`` collected, one model call (``operation="session_memory"``, the
  usual ``model_call_*`` events, counted in ``RunResult.usage``) turns it into notes: a JSON
  object with the lists ``user_intent``, ``decisions``, ``file_changes``, ``error_fixes`` and
  ``key_facts`` (see ``memory.notes``). The collected conversation is then cleared, whatever
  the outcome, so a failing extraction costs one call per ``extract_after_tokens`` of growth.
- **Store.** New notes (not already held) go to the store, which keeps at most ``max_notes``
  per session, oldest dropped first; a ``session_memory_updated`` event reports the counts.
  Memory providers' ``save`` receives the same notes (``agentcycle.memory.provider``).
- **Failures never end the run:** a failed call, an answer that is not the JSON asked for
  (``invalid_notes_extraction``) or a store error is a ``diagnostic`` event (level
  ``warning``, code ``session_memory_failed``) and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agentcycle.errors import ConfigurationError
from agentcycle.memory.notes import SessionNote, render_notes
from agentcycle.memory.session_store import SessionMemoryStore
from agentcycle.models.base import Model

SESSION_MEMORY_HEADING = (
    "## Session memory\nNotes kept from earlier runs of this conversation (the latest "
    "messages win where they disagree)."
)

EXTRACTION_INSTRUCTIONS = """You keep durable notes about a conversation between a user and \
an AI agent, so that later conversations can build on it. Read the new part of the conversation \
and answer with ONE JSON object and nothing else, with these keys, each a list of short, \
self-contained strings in the conversation's language:
- "user_intent": what the user wants, their goals, constraints and preferences;
- "decisions": decisions taken and why;
- "file_changes": files created, changed or deleted, with their paths and what changed;
- "error_fixes": errors met and how they were fixed;
- "key_facts": facts worth keeping (names, paths, numbers, identifiers, commands).
Only record what is new compared with the existing notes, and what stays useful after this \
conversation; use empty lists when there is nothing. Do not invent anything."""


@dataclass(frozen=True, slots=True)
class SessionMemory:
    """Session memory settings (see the module docstring); every default is documented on its
    field."""

    store: SessionMemoryStore | None = None
    """Where notes live; ``None``: ``WorkspaceSessionMemoryStore`` on the run's workspace
    (a run with neither is a ``ConfigurationError``)."""
    extract_after_tokens: int = 6_000
    """Extract during the run once the conversation collected since the last extraction
    passes this many (estimated) tokens."""
    extract_at_end: bool = True
    """Extract when the run ends (completed, waiting for the user, out of cycles)."""
    end_min_tokens: int = 200
    """At the run's end, extract only when at least this many tokens were collected."""
    model: Model | None = None
    """The model for extraction calls (for example a cheaper one); ``None``: the run's."""
    max_tokens: int = 1_000
    """Output limit of an extraction call."""
    transcript_chars: int = 40_000
    """The extraction call sees at most this much of the collected conversation (the oldest
    messages go first; each message is clipped to 2,000 characters)."""
    max_notes: int = 100
    """Notes kept per session; the oldest are dropped beyond this."""
    max_note_chars: int = 400
    """A longer note is clipped."""
    prompt_chars: int = 3_000
    """The session memory section of the system prompt takes at most this many characters
    (newest notes first); it also counts against ``context_budget_chars``."""

    def __post_init__(self) -> None:
        for name in (
            "extract_after_tokens",
            "max_tokens",
            "transcript_chars",
            "max_notes",
            "max_note_chars",
            "prompt_chars",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigurationError(f"SessionMemory.{name} must be >= 1, got {value!r}")
        if self.end_min_tokens < 0:
            raise ConfigurationError(
                f"SessionMemory.end_min_tokens must be >= 0, got {self.end_min_tokens!r}"
            )
        if self.max_note_chars < 10:
            raise ConfigurationError("SessionMemory.max_note_chars must be >= 10")


def render_session_notes(notes: Sequence[SessionNote], max_chars: int) -> str:
    """The system prompt section for a session's notes (``""`` when there are none)."""
    return render_notes(notes, max_chars, heading=SESSION_MEMORY_HEADING)


def extraction_request(existing: Sequence[SessionNote], transcript: str) -> str:
    """The user message of an extraction call: the notes already kept, then the new part of
    the conversation."""
    known = render_notes(existing, 6_000, heading="Existing notes:") or "Existing notes: none."
    return f"{known}\n\nNew part of the conversation:\n\n{transcript}"
