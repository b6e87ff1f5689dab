"""Handoffs: an agent passes the conversation to another agent within the same run.

    specialist = Agent(name="Billing", instructions="...", tools=[refund])
    triage = Agent(name="Triage", handoffs=[handoff(specialist, "Payments and refunds")])

Each handoff is offered as a ``transfer_to_<agent_slug>`` tool taking one ``input`` string (a
note for the target). Calling it moves control to the target for the next cycle: the target's
own model, settings, instructions, tools and policy apply, while the run id, history, session,
cancellation, budget and tool state (todos, files seen) continue. ``max_handoffs`` (agent or
``RunConfig``, default 10) bounds the handoffs of a run, separately from its cycles; a transfer
over the limit is refused with ``max_handoffs_exceeded`` and the current agent keeps control.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentcycle.errors import ConfigurationError

if TYPE_CHECKING:
    from agentcycle.agent import Agent

DEFAULT_MAX_HANDOFFS = 10
TRANSFER_PREFIX = "transfer_to_"


@dataclass(frozen=True, slots=True)
class Handoff:
    """A handoff target of an agent; ``description`` tells the model when to transfer."""

    agent: Agent
    description: str | None = None

    @property
    def tool_name(self) -> str:
        """The transfer tool's name: ``transfer_to_<agent_slug>``."""
        return TRANSFER_PREFIX + agent_slug(self.agent.name)


def handoff(agent: Agent, description: str | None = None) -> Handoff:
    """Let an agent hand the conversation to ``agent`` (``Agent(handoffs=[...])`` also takes
    agents directly)."""
    return Handoff(agent=agent, description=description)


def agent_slug(name: str) -> str:
    """``name`` as a tool-name fragment: lower case, runs of other characters as ``_``."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    if not slug:
        raise ConfigurationError(f"agent name {name!r} has no letters or digits to name a tool")
    return slug[: 64 - len(TRANSFER_PREFIX)]
