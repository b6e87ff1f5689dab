"""What the loop swaps when another agent takes control of a run (a handoff).

A handoff keeps the run: its id, history, session, cancellation, budget, tool state (todos,
files seen) and cycle count. It changes the agent-dependent parts collected here: the model and
its settings, the system prompt, the tools and their policy, and the no-tool and tool-use
behaviours. The SDK compiles a target agent into an ``AgentProfile`` (``_compile.py``); the loop
applies it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcycle.messages import Directive, ToolResultStatus
from agentcycle.models.base import Model, ModelInfo, ModelSettings, ToolSpec
from agentcycle.pricing import ModelPrice
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.runtime.state import NoToolPolicy, RunSpec
from agentcycle.tools.base import Tool
from agentcycle.tools.builtin.handoff import HANDOFF_METADATA

if TYPE_CHECKING:
    from agentcycle.runtime.orchestrator import ToolCallOutcome


@dataclass(frozen=True, slots=True)
class AgentBehavior:
    """The per-agent settings the loop consults every cycle."""

    settings: ModelSettings
    no_tool_policy: NoToolPolicy
    tool_use_behavior: str
    stop_at_tool_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, spec: RunSpec) -> AgentBehavior:
        """The behaviour of the agent a run started with, as its spec fixed it."""
        return cls(
            settings=spec.model_settings,
            no_tool_policy=spec.no_tool_policy,
            tool_use_behavior=spec.tool_use_behavior,
            stop_at_tool_names=spec.stop_at_tool_names,
        )


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """A handoff target, resolved: everything the loop needs to let it run the next cycle."""

    name: str
    model: Model
    model_info: ModelInfo
    price: ModelPrice | None
    tools: Mapping[str, Tool]
    tool_specs: tuple[ToolSpec, ...]
    policy: ToolPolicy
    system_prompt: str
    behavior: AgentBehavior


AgentSwitcher = Callable[[str], Awaitable[AgentProfile]]
"""Resolves an agent of the run's handoff graph by name (raises a typed error if it cannot)."""


@dataclass(frozen=True, slots=True)
class HandoffRequest:
    """A successful transfer call of the last batch."""

    tool_call_id: str
    target: str
    input: str


def requested_handoff(outcomes: Sequence[ToolCallOutcome]) -> HandoffRequest | None:
    """The handoff a batch asked for (the orchestrator skips the calls after the first)."""
    for outcome in outcomes:
        result = outcome.result
        if result.directive is Directive.HANDOFF and result.status is ToolResultStatus.SUCCESS:
            data: Any = result.metadata.get(HANDOFF_METADATA) or {}
            return HandoffRequest(
                tool_call_id=outcome.call.id,
                target=str(data.get("target", "")),
                input=str(data.get("input", "")),
            )
    return None
