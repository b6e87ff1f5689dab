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
from typing import TYPE_CHECKING

from agentcycle.errors import AgentcycleError
from agentcycle.events import AgentStarted, HandoffCompleted, HandoffStarted
from agentcycle.messages import HandOff, ToolResultStatus, UserMessage
from agentcycle.models.base import Model, ModelInfo, ModelSettings, ToolSpec
from agentcycle.pricing import ModelPrice
from agentcycle.runtime import prompts
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.state import HandoffRecord, NoToolPolicy, RunSpec, set_system_prompt
from agentcycle.tools.base import Tool

if TYPE_CHECKING:
    from agentcycle.runtime.loop import LoopInputs
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
    endpoint: str | None
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
        directive = result.directive
        if isinstance(directive, HandOff) and result.status is ToolResultStatus.SUCCESS:
            return HandoffRequest(
                tool_call_id=outcome.call.id, target=directive.target, input=directive.input
            )
    return None


async def hand_off(
    request: HandoffRequest,
    index: int,
    inputs: LoopInputs,
    agent_changed: Callable[[str], None],
) -> HandoffRecord:
    """Give control to the agent ``request`` names from the next cycle on: swap its profile
    into ``inputs`` (then ``agent_changed`` lets the loop's parts follow), make its prompt the
    system prompt, and add a note for it after the transfer's result. Events:
    ``handoff_started``, ``handoff_completed``, then ``agent_started`` of the target. A target
    that cannot be resolved fails the run (``handoff_completed`` with status ``failed``)."""
    bus = inputs.bus
    source = bus.agent_name or inputs.state.spec.agent_name
    ids = {
        "source_agent": source,
        "target_agent": request.target,
        "tool_call_id": request.tool_call_id,
    }
    bus.emit(HandoffStarted, cycle_index=index, **ids)
    try:
        if inputs.switch_agent is None:
            raise AgentcycleError(
                "This run cannot hand off: it has no handoff graph.", code="handoff_failed"
            )
        profile = await inputs.switch_agent(request.target)
    except AgentcycleError:
        bus.emit(HandoffCompleted, cycle_index=index, status="failed", **ids)
        raise
    inputs.model = profile.model
    inputs.model_info = profile.model_info
    inputs.endpoint = profile.endpoint
    inputs.price = profile.price
    inputs.tools = profile.tools
    inputs.tool_specs = profile.tool_specs
    inputs.policy = profile.policy
    inputs.behavior = profile.behavior
    agent_changed(profile.name)
    set_system_prompt(inputs.history, profile.system_prompt)
    note = prompts.handoff_note(source, request.input, inputs.language)
    inputs.history.append(UserMessage(content=note, synthetic=True))
    bus.agent_name = profile.name
    bus.emit(HandoffCompleted, cycle_index=index, status="completed", **ids)
    bus.emit(AgentStarted, cycle_index=index)
    return HandoffRecord(
        source_agent=source,
        target_agent=profile.name,
        tool_call_id=request.tool_call_id,
        system_prompt=profile.system_prompt,
        tool_names=tuple(spec.name for spec in profile.tool_specs),
    )
