"""Prompt bundles: a system prompt built from named sections, stable or volatile.

    from agentcycle import Agent
    from agentcycle.prompts import PromptBundle, PromptSection, current_time_section

    agent = Agent(
        instructions=lambda ctx: PromptBundle.of(
            PromptSection(id="agent", text="You review pull requests."),
            current_time_section(),
        ),
    )

``Agent(instructions=...)`` takes a string, a ``PromptBundle``, or a callable (sync or async)
given the run's ``InstructionsContext`` that returns either. The runtime builds the run's
bundle once, when the run starts:

- the stable sections of the agent's bundle (a string is one stable section, ``agent``), in
  their order, then the runtime's own stable sections (``tools``: how runs end; ``skills``: the
  skills the agent may activate), then the agent's volatile sections, in their order, then the
  context providers' fragments (``context``, volatile: recalled memory and the like). Stable
  first: a provider caches a prompt up to a point, so everything before that point must not
  change from one call to the next.
- ``PromptBundle.stable_hash`` digests the stable sections (ids and texts). It is the same on
  every cycle of a run and after a resume: a resumed run reuses the bundle frozen in its state
  (its callable is not called again and no clock is read).
- Providers get the bundle in their best shape: Anthropic models get one system block per
  section with a ``cache_control`` breakpoint after the last stable one (plus breakpoints on
  the last two user turns, three of the four the API allows); others get one system message,
  the sections' texts joined by blank lines (``PromptBundle.text``).
- When the stable hash of the prompt sent to the model changes between two cycles of a run
  (a handoff to another agent, a hook that rewrites the system message), the run emits a
  ``diagnostic`` event ``prompt_prefix_changed`` (details: ``previous_hash``, ``stable_hash``,
  ``changed_sections``): the provider's prompt cache starts over from there.

Cache reads and writes appear in ``TokenUsage.cached_tokens`` and ``cache_creation_tokens``
where the provider reports them, and are priced by ``ModelPrice`` when it has cache prices.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from agentcycle._frozen import FrozenModel
from agentcycle.errors import ConfigurationError
from agentcycle.messages import PromptSection, SystemMessage

__all__ = [
    "AGENT_SECTION",
    "CONTEXT_SECTION",
    "CURRENT_TIME_SECTION",
    "RUNTIME_SECTIONS",
    "SKILLS_SECTION",
    "TOOLS_SECTION",
    "PromptBundle",
    "PromptSection",
    "current_time_section",
    "message_stable_hash",
    "stable_hash",
]

AGENT_SECTION = "agent"
"""The agent's definition (a string ``instructions`` becomes this one stable section)."""
TOOLS_SECTION = "tools"
"""The runtime's tools guidance: how a run ends (``task_finish``, ``ask_user``)."""
SKILLS_SECTION = "skills"
"""The skills the agent may activate, when it has any."""
CONTEXT_SECTION = "context"
"""The context providers' fragments (memory and the like): volatile, last."""
CURRENT_TIME_SECTION = "current_time"
"""The section ``current_time_section`` makes (volatile)."""

RUNTIME_SECTIONS = frozenset({TOOLS_SECTION, SKILLS_SECTION, CONTEXT_SECTION})
"""Section ids the runtime writes; an agent's bundle may not use them."""


def stable_hash(sections: Iterable[PromptSection]) -> str:
    """The SHA-256 (hex) of the stable sections among ``sections``: their ids and texts, in
    order. Volatile sections do not count."""
    digest = hashlib.sha256()
    for section in sections:
        if section.stable:
            for part in (section.id, section.text):
                data = part.encode()
                # Length-prefixed, so no two different section lists digest the same bytes.
                digest.update(len(data).to_bytes(8, "big"))
                digest.update(data)
    return digest.hexdigest()


def message_stable_hash(message: SystemMessage) -> str:
    """The stable hash of what ``message`` shows the model: its sections', or, for a plain
    system message, its text as one stable section."""
    if message.sections:
        return stable_hash(message.sections)
    return stable_hash((PromptSection(id=AGENT_SECTION, text=message.content),))


class PromptBundle(FrozenModel):
    """An ordered set of named prompt sections (ids are unique and non-empty)."""

    sections: tuple[PromptSection, ...] = ()

    def model_post_init(self, context: object, /) -> None:
        """Reject empty and repeated section ids."""
        super().model_post_init(context)
        seen: set[str] = set()
        for section in self.sections:
            if not section.id:
                raise ConfigurationError("a prompt section needs a non-empty id")
            if section.id in seen:
                raise ConfigurationError(f"prompt section id {section.id!r} appears twice")
            seen.add(section.id)

    @classmethod
    def of(cls, *sections: PromptSection) -> PromptBundle:
        """A bundle of ``sections`` in the order given."""
        return cls(sections=sections)

    @property
    def stable_hash(self) -> str:
        """The digest of the stable sections (``stable_hash``)."""
        return stable_hash(self.sections)

    def text(self) -> str:
        """The prompt as one text: the non-empty sections' texts joined by blank lines."""
        return "\n\n".join(s.text for s in self.sections if s.text)

    def stable_prefix(self) -> tuple[PromptSection, ...]:
        """The sections before the first volatile one."""
        for i, section in enumerate(self.sections):
            if not section.stable:
                return self.sections[:i]
        return self.sections

    def to_message(self) -> SystemMessage:
        """The system message that carries this bundle (empty sections left out)."""
        sections = tuple(s for s in self.sections if s.text)
        return SystemMessage(content=self.text(), sections=sections)

    @classmethod
    def from_message(cls, message: SystemMessage) -> PromptBundle:
        """The bundle a system message carries (a plain one is one stable ``agent`` section)."""
        if message.sections:
            return cls(sections=message.sections)
        return cls.of(PromptSection(id=AGENT_SECTION, text=message.content))


def current_time_section(now: datetime | None = None) -> PromptSection:
    """A volatile ``current_time`` section stating ``now`` (default: the clock, in UTC). Built
    when the run starts; a resumed run keeps the time it started with."""
    moment = now if now is not None else datetime.now(UTC)
    return PromptSection(
        id=CURRENT_TIME_SECTION,
        text=f"Current date and time: {moment.isoformat(timespec='seconds')}",
        stable=False,
    )
