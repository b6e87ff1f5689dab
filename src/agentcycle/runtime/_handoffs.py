"""A handoff: another agent takes control of the run.

A handoff keeps the run: its id, history, session, cancellation, budget, tool state (todos,
files seen) and cycle count. It replaces the agent in control (``RunEnvironment.agent``, an
``AgentProfile``: the model and its settings, the system prompt, the tools and their policy,
the no-tool and tool-use behaviours). Assembly resolves a target agent into its profile
(``RunEnvironment.switch_agent``); the loop applies it here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentcycle.errors import AgentcycleError
from agentcycle.events import AgentStarted, HandoffCompleted, HandoffStarted
from agentcycle.messages import HandOff, ToolResultStatus, UserMessage
from agentcycle.runtime import prompts
from agentcycle.state import HandoffRecord, set_system_prompt

if TYPE_CHECKING:
    from agentcycle.runtime.environment import RunEnvironment
    from agentcycle.runtime.orchestrator import ToolCallOutcome


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


async def hand_off(request: HandoffRequest, index: int, env: RunEnvironment) -> HandoffRecord:
    """Give control to the agent ``request`` names from the next cycle on: its profile becomes
    ``env.agent`` (the loop's parts read it at their next step), its prompt the system prompt,
    and a note for it follows the transfer's result. Events:
    ``handoff_started``, ``handoff_completed``, then ``agent_started`` of the target. A target
    that cannot be resolved fails the run (``handoff_completed`` with status ``failed``)."""
    bus = env.bus
    source = bus.agent_name or env.state.spec.agent_name
    ids = {
        "source_agent": source,
        "target_agent": request.target,
        "tool_call_id": request.tool_call_id,
    }
    bus.emit(HandoffStarted, cycle_index=index, **ids)
    try:
        if env.switch_agent is None:
            raise AgentcycleError(
                "This run cannot hand off: it has no handoff graph.", code="handoff_failed"
            )
        profile = await env.switch_agent(request.target)
    except AgentcycleError:
        bus.emit(HandoffCompleted, cycle_index=index, status="failed", **ids)
        raise
    env.agent = profile
    set_system_prompt(env.history, profile.system)
    note = prompts.handoff_note(source, request.input, env.language)
    env.history.append(UserMessage(content=note, synthetic=True))
    bus.agent_name = profile.name
    bus.emit(HandoffCompleted, cycle_index=index, status="completed", **ids)
    bus.emit(AgentStarted, cycle_index=index)
    return HandoffRecord(
        source_agent=source,
        target_agent=profile.name,
        tool_call_id=request.tool_call_id,
        system_prompt=profile.system.content,
        system_sections=profile.system.sections,
        tool_names=tuple(spec.name for spec in profile.tool_specs),
    )
