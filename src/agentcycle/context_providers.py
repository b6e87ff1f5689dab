"""Context providers: ordered prompt fragments added to the system prompt within a budget.

A provider is any object with ``async def fragments(ctx) -> list[PromptFragment]``; ``ctx``
is the run's ``InstructionsContext`` (run id, agent, input, host context, language). Register
providers on ``Agent(context_providers=[...])`` and ``RunConfig(context_providers=[...])``
(agent first, then runner, then run).

How fragments become prompt text:

- Providers are asked once when a run starts, concurrently; a resumed run keeps the system
  prompt it started with. Asking per run, not per cycle, keeps the prompt identical from one
  model call to the next, which provider-side prompt caching needs.
- Render order: by ``order``, then provider registration order, then the order a provider
  returned its fragments. The fragments come last in the system prompt (after the
  instructions, the runtime note and any skills section), separated by blank lines, so the
  constant part of the prompt stays a cacheable prefix.
- Budget: ``context_budget_chars`` (run, then agent; default
  ``DEFAULT_CONTEXT_BUDGET_CHARS``) bounds the total length of the kept fragments' text
  (separators not counted). Fragments are admitted by ``priority``, highest first (ties in
  render order); one that does not fit in what is left is dropped whole, though a smaller,
  lower-priority one may still fit. Omissions are reported by a ``diagnostic`` event
  ``context_fragments_omitted`` (details ``omitted``, ``sources``, ``budget_chars``,
  ``used_chars``).
- A provider that raises, returns something other than a list of ``PromptFragment``, or does
  not answer within its ``timeout`` attribute (seconds; ``None`` for no limit; default
  ``DEFAULT_PROVIDER_TIMEOUT``) is left out; the run goes on without its fragments and a
  ``diagnostic`` event (level ``warning``, code ``context_provider_failed``) names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class InstructionsContext:
    """What a callable ``instructions`` and a context provider receive to build the system
    prompt for a run. ``agent`` is the ``Agent`` the prompt is for (typed loosely: this module
    sits below the SDK)."""

    run_id: str
    agent: Any
    input: Any
    context: Any
    language: str


DEFAULT_PROVIDER_TIMEOUT = 10.0
"""Seconds a provider without a ``timeout`` attribute may take: a run waits for its providers
before the first model call, so one that hangs must not hold the run forever."""

DEFAULT_CONTEXT_BUDGET_CHARS = 8_000
"""Characters of fragment text a run's system prompt takes at most (about 2,000 tokens)."""


@dataclass(frozen=True, slots=True)
class PromptFragment:
    """A piece of text for the system prompt.

    ``priority`` decides what is kept when the budget is tight (higher first); ``order``
    decides where it appears (lower first). ``source`` names where it came from in reports;
    when empty the provider's name is used.
    """

    text: str
    priority: int = 0
    order: int = 0
    source: str = ""


@runtime_checkable
class ContextProvider(Protocol):
    """Supplies prompt fragments for a run. An optional ``name`` attribute names it in
    reports (otherwise its class name is used); an optional ``timeout`` attribute (seconds, or
    ``None``) replaces ``DEFAULT_PROVIDER_TIMEOUT``."""

    async def fragments(self, ctx: InstructionsContext) -> list[PromptFragment]:
        """The fragments for this run."""
        ...
