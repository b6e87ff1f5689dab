"""What ends a run after a cycle: the directives of its tool results (finish, wait for the
user), the agent's tool-use behaviour (stop on the first tool, stop at named tools), calls
waiting for an approval nobody can give now, and the no-tool policy for a cycle without tool
calls. Each rule returns the run's ``LoopOutcome``, or ``None`` for the run to go on."""

from __future__ import annotations

from agentcycle.errors import AgentcycleError, BudgetExhaustedError
from agentcycle.events import CompletionReason, RunStatus
from agentcycle.messages import AskUser, Finish, Message, ToolResultStatus, UserMessage
from agentcycle.runtime import prompts
from agentcycle.runtime.environment import AgentBehavior
from agentcycle.runtime.orchestrator import ToolCallOutcome
from agentcycle.runtime.outcome import LoopOutcome
from agentcycle.state import NoToolPolicy, PendingToolCall, RunState


def after_tools(
    outcomes: list[ToolCallOutcome], behavior: AgentBehavior, *, handing_off: bool
) -> LoopOutcome | None:
    """How the run goes on after a batch: ended by a directive or the tool-use behaviour,
    or ``None`` to continue (a batch that hands off always continues, with the target)."""
    for o in outcomes:
        directive = o.result.directive
        if isinstance(directive, Finish):
            return LoopOutcome(
                status=RunStatus.COMPLETED,
                completion_reason=CompletionReason.TOOL_FINISH,
                final_output=directive.final_output,
                completion_tool_name=o.call.name,
            )
        if isinstance(directive, AskUser):
            wait = {
                "kind": o.call.name,
                "tool_call_id": o.call.id,
                "question": directive.question,
                "options": list(directive.options),
                "selection_type": directive.selection_type,
                "allow_custom_options": directive.allow_custom_options,
            }
            return LoopOutcome(
                status=RunStatus.WAIT_USER,
                completion_reason=CompletionReason.WAIT_USER,
                final_output=directive.question,
                completion_tool_name=o.call.name,
                wait=wait,
            )
    if handing_off:
        return None
    executed = [o for o in outcomes if o.executed and o.result.status is ToolResultStatus.SUCCESS]
    if behavior.tool_use_behavior == "stop_on_first_tool" and executed:
        first = executed[0]
        return LoopOutcome(
            status=RunStatus.COMPLETED,
            completion_reason=CompletionReason.STOP_ON_FIRST_TOOL,
            final_output=first.result.content,
            completion_tool_name=first.call.name,
        )
    if behavior.tool_use_behavior == "stop_at_tool_names":
        for o in executed:
            if o.call.name in behavior.stop_at_tool_names:
                return LoopOutcome(
                    status=RunStatus.COMPLETED,
                    completion_reason=CompletionReason.STOP_AT_TOOL_NAME,
                    final_output=o.result.content,
                    completion_tool_name=o.call.name,
                )
    return None


def waiting_for_approval(state: RunState, pending: list[PendingToolCall]) -> LoopOutcome:
    """Stop to wait for the host's approval decisions; ``pending`` stays in the state for the
    resume."""
    state.pending_tool_calls = pending
    waiting = [p for p in pending if p.request_id is not None]
    names = ", ".join(p.tool_name for p in waiting)
    return LoopOutcome(
        status=RunStatus.WAIT_USER,
        completion_reason=CompletionReason.WAIT_USER,
        final_output=f"Waiting for approval: {names}",
        completion_tool_name=waiting[0].tool_name if waiting else None,
        wait={"kind": "approval", "pending": [p.model_dump() for p in pending]},
    )


def after_no_tool(
    text: str, behavior: AgentBehavior, history: list[Message], language: str
) -> LoopOutcome | None:
    """Apply the no-tool policy to a cycle whose answer called no tool: finish, wait for the
    user, or continue with a hint to use the tools (appended to ``history``)."""
    policy = behavior.no_tool_policy
    if policy is NoToolPolicy.FINISH:
        return LoopOutcome(
            status=RunStatus.COMPLETED,
            completion_reason=CompletionReason.NO_TOOL_FINISH,
            final_output=text,
        )
    if policy is NoToolPolicy.WAIT_USER:
        return LoopOutcome(
            status=RunStatus.WAIT_USER,
            completion_reason=CompletionReason.WAIT_USER,
            final_output=text,
            wait={"kind": "no_tool", "question": text},
        )
    history.append(UserMessage(content=prompts.no_tool_hint(language), synthetic=True))
    return None


def failed(exc: AgentcycleError, partial_output: str | None) -> LoopOutcome:
    """A run ended by ``exc`` (``budget_exhausted`` when it is the budget's)."""
    return LoopOutcome(
        status=RunStatus.FAILED,
        completion_reason=CompletionReason.BUDGET_EXHAUSTED
        if isinstance(exc, BudgetExhaustedError)
        else CompletionReason.FAILED,
        partial_output=partial_output,
        error=exc,
    )


def max_cycles(limit: int, partial_output: str | None) -> LoopOutcome:
    """A run that used all of its cycles without finishing."""
    return LoopOutcome(
        status=RunStatus.MAX_CYCLES,
        completion_reason=CompletionReason.MAX_CYCLES,
        partial_output=partial_output,
        error=AgentcycleError(
            f"The run used all {limit} cycles without finishing.", code="max_cycles"
        ),
    )
