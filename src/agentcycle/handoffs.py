"""Handoffs: an agent passes the conversation to another agent within the same run.

    specialist = Agent(name="Billing", instructions="...", tools=[refund])
    triage = Agent(name="Triage", handoffs=[handoff(specialist, "Payments and refunds")])

Each handoff is offered as a ``transfer_to_<agent_slug>`` tool taking one ``input`` string (a
note for the target). Calling it moves control to the target for the next cycle: the target's
own model, settings, instructions, tools and policy apply, while the run id, history, session,
cancellation, budget and tool state (todos, files seen) continue. ``max_handoffs`` (agent or
``RunConfig``, default 10) bounds the handoffs of a run, separately from its cycles; a transfer
over the limit is refused with ``max_handoffs_exceeded`` and the current agent keeps control.

A new run always starts with the agent it is given. To continue a conversation (a ``Session``)
with the agent that had control when the last run ended, start it with
``agent_in_control(root, await session.get_items())``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcycle.errors import ConfigurationError

if TYPE_CHECKING:
    from agentcycle.agent import Agent
    from agentcycle.messages import Message

DEFAULT_MAX_HANDOFFS = 10
TRANSFER_PREFIX = "transfer_to_"


@dataclass(frozen=True, slots=True)
class Handoff:
    """A handoff target of an agent; ``description`` tells the model when to transfer."""

    agent: Agent
    description: str | None = None

    def __post_init__(self) -> None:
        from agentcycle.agent import Agent

        if not isinstance(self.agent, Agent):
            raise ConfigurationError(
                f"a handoff target must be an Agent, got {type(self.agent).__name__}"
            )
        if self.description is not None and not isinstance(self.description, str):
            raise ConfigurationError(
                f"a handoff description must be a string, got {type(self.description).__name__}"
            )

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


def agent_in_control(root: Agent, messages: Sequence[Message]) -> Agent:
    """The agent of ``root``'s handoff graph that the last successful transfer in
    ``messages`` gave control to, or ``root`` when there was none (or its target is no longer
    in the graph)."""
    from agentcycle.messages import ToolMessage

    for message in reversed(messages):
        if (
            isinstance(message, ToolMessage)
            and message.name.startswith(TRANSFER_PREFIX)
            and not message.is_error
        ):
            slug = message.name[len(TRANSFER_PREFIX) :]
            for agent in handoff_graph(root).values():
                if agent_slug(agent.name) == slug:
                    return agent
            return root
    return root


def handoff_graph(root: Agent) -> dict[str, Agent]:
    """Every agent reachable from ``root`` through handoffs, by name (``root`` included).
    Two different agents with one name are an error: resume finds agents by name."""
    graph: dict[str, Agent] = {root.name: root}
    queue = [root]
    while queue:
        agent = queue.pop()
        for target in _handoff_targets(agent):
            known = graph.get(target.name)
            if known is target:
                continue
            if known is not None:
                raise ConfigurationError(
                    f"two different agents are named {target.name!r} in the handoff graph of "
                    f"{root.name!r}; give each a unique name"
                )
            graph[target.name] = target
            queue.append(target)
    return graph


def _handoff_targets(agent: Agent) -> list[Agent]:
    """The agents ``agent`` can hand off to; ``ConfigurationError`` for handoffs that are not
    a list of agents and ``handoff(...)`` results (a name, or one agent not in a list)."""
    from agentcycle.agent import Agent  # agent.py imports this module

    items: Any = agent.handoffs
    if isinstance(items, Agent | Handoff | str) or not isinstance(items, Sequence):
        raise ConfigurationError(
            f"handoffs of {agent.name!r} must be a list of Agents or handoff(...), got "
            f"{type(items).__name__}"
        )
    targets = []
    for item in items:
        if isinstance(item, Handoff):
            targets.append(item.agent)
        elif isinstance(item, Agent):
            targets.append(item)
        else:
            raise ConfigurationError(
                f"handoffs of {agent.name!r} must be Agents or handoff(...) results, got "
                f"{type(item).__name__} {item!r}"
            )
    return targets
