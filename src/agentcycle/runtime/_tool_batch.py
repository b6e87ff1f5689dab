"""A cycle's tool batch as the loop sees it: run the calls through the orchestrator and put what
they produced in history (tool results, images tools attached, the instructions of skills they
activated), count malformed calls, apply steering (a steering message skips the calls of the
batch that have not started yet), and close the calls of a cycle that was interrupted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentcycle.errors import InvalidToolCallsExceeded
from agentcycle.events import Diagnostic
from agentcycle.messages import (
    ActivateSkill,
    AssistantMessage,
    AttachImage,
    ImagePart,
    Message,
    TextPart,
    TokenUsage,
    ToolCall,
    ToolMessage,
    ToolResultStatus,
    UserMessage,
)
from agentcycle.models.base import ModelResponse
from agentcycle.runtime._hooks import HookDispatcher
from agentcycle.runtime.approvals import ApprovalDecision
from agentcycle.runtime.budget_meter import BudgetMeter
from agentcycle.runtime.orchestrator import (
    MODEL_ERROR_CODES,
    BatchResult,
    ToolCallOutcome,
    ToolOrchestrator,
)
from agentcycle.skills.prompt import activation_message
from agentcycle.state import CycleRecord, PendingToolCall

if TYPE_CHECKING:
    from agentcycle.runtime.environment import RunEnvironment
    from agentcycle.runtime.event_bus import EventBus
    from agentcycle.state import RunState


class ToolBatches:
    """Runs the tool batches of one run, for the agent in control, puts their results into
    history, and keeps the steering messages the host queued for the next model call."""

    __slots__ = (
        "_bus",
        "_consecutive_invalid",
        "_history",
        "_language",
        "_orchestrator",
        "_state",
        "_steering",
    )

    def __init__(
        self, env: RunEnvironment, hooks: HookDispatcher | None, meter: BudgetMeter | None
    ) -> None:
        self._state: RunState = env.state
        self._bus: EventBus = env.bus
        self._history = env.history
        self._language = env.language
        self._steering: list[str] = []
        self._consecutive_invalid = 0
        self._orchestrator = ToolOrchestrator(
            env,
            bus=env.bus,
            state=env.tool_state,
            workspace=env.workspace,
            context=env.context,
            cancelled=env.cancelled,
            scope=env.scope,
            approvals=env.approvals,
            steering=self._steered,
            hooks=hooks if hooks is not None and hooks.has_tool_hooks else None,
            budget=meter,
            children=env.children,
            ledger=env.durable,
        )

    async def run(
        self, calls: Sequence[ToolCall], index: int, repeated: frozenset[str] = frozenset()
    ) -> BatchResult:
        """Run the calls of cycle ``index``'s assistant message; their results are in history
        when this returns. ``repeated``: ids given to calls that repeated an earlier call's id
        (``with_unique_call_ids``), refused. Raises ``InvalidToolCallsExceeded`` once the model
        has made ``max_invalid_tool_calls`` malformed calls in a row."""
        batch = await self._orchestrator.run_batch(calls, index, repeated)
        self._record(batch, index)
        return batch

    async def run_pending(
        self,
        pending: list[PendingToolCall],
        decisions: dict[str, ApprovalDecision],
        index: int,
    ) -> BatchResult:
        """Finish the calls a run left pending, with the host's approval decisions (a resumed
        run, before its next model call); like ``run`` otherwise."""
        batch = await self._orchestrator.run_pending(pending, decisions, index)
        self._record(batch, index)
        return batch

    # ------------------------------------------------------------------ steering

    def steer(self, text: str) -> None:
        """Queue a user message for the next model call."""
        self._steering.append(text)

    def _steered(self) -> bool:
        return bool(self._steering)

    def apply_steering(self, index: int) -> None:
        """Move the queued steering messages into history (cycle ``index`` starts)."""
        while self._steering:
            text = self._steering.pop(0)
            self._history.append(UserMessage(content=text))
            self._bus.emit(
                Diagnostic,
                cycle_index=index,
                level="info",
                code="steering_applied",
                details={"text": text},
            )

    # ------------------------------------------------------------------ interruption

    def commit_interrupted(self, reason: str) -> None:
        """Pair the calls of an interrupted cycle and commit its messages, so they stay
        resumable."""
        self._pair_dangling_calls(reason)
        state = self._state
        history = self._history
        committed = state.message_count()
        if len(history) > committed:  # keep the interrupted cycle's messages resumable
            state.cycles.append(
                CycleRecord(
                    index=state.last_cycle_index + 1,
                    messages=tuple(history[committed:]),
                    usage=TokenUsage(),
                    model_calls=0,
                )
            )

    def _pair_dangling_calls(self, reason: str) -> None:
        """Give every tool call of the last assistant message a result, so history stays valid
        for a later resume."""
        history = self._history
        for i in range(len(history) - 1, -1, -1):
            message = history[i]
            if isinstance(message, AssistantMessage):
                answered = {m.tool_call_id for m in history[i + 1 :] if isinstance(m, ToolMessage)}
                missing = [c for c in message.tool_calls if c.id not in answered]
                if missing:
                    index = self._state.last_cycle_index + 1
                    outcomes = self._orchestrator.skip_all(missing, index, reason)
                    history.extend(_tool_message(o) for o in outcomes)
                return

    # ------------------------------------------------------------------ results into history

    def _record(self, batch: BatchResult, index: int) -> None:
        history = self._history
        outcomes = batch.outcomes
        history.extend([_tool_message(o) for o in outcomes])
        if batch.directed:
            history.extend(_attachments(outcomes))
            history.extend(self._skill_instructions(outcomes, index))
        limit = self._state.spec.max_invalid_tool_calls
        for o in outcomes:
            invalid = o.result.error_code in MODEL_ERROR_CODES
            self._consecutive_invalid = self._consecutive_invalid + 1 if invalid else 0
            if self._consecutive_invalid >= limit:
                raise InvalidToolCallsExceeded(
                    f"The model made {self._consecutive_invalid} malformed tool calls in a row.",
                    details={"last_error": o.result.content},
                )

    def _skill_instructions(self, outcomes: list[ToolCallOutcome], index: int) -> list[Message]:
        """For each skill activated by ``outcomes``: a ``skill_activated`` diagnostic and a
        synthetic user message with the skill's instructions (after the tool results)."""
        messages: list[Message] = []
        for outcome in outcomes:
            result = outcome.result
            skill = result.directive
            if not isinstance(skill, ActivateSkill) or result.status is ToolResultStatus.ERROR:
                continue
            self._bus.emit(
                Diagnostic,
                cycle_index=index,
                level="info",
                code="skill_activated",
                details={
                    "skill": skill.name,
                    "allowed_tools": list(skill.allowed_tools)
                    if skill.allowed_tools is not None
                    else None,
                    "reason": skill.reason,
                    "tool_call_id": outcome.call.id,
                },
            )
            text = activation_message(skill.name, skill.instructions, self._language)
            messages.append(UserMessage(content=text, synthetic=True))
        return messages


def _attachments(outcomes: list[ToolCallOutcome]) -> list[Message]:
    """Images tools asked to show the model (``read_image``), as one synthetic user turn after
    the tool results: tool messages carry text only on most providers."""
    parts: list[TextPart | ImagePart] = []
    for outcome in outcomes:
        image = outcome.result.directive
        if isinstance(image, AttachImage) and outcome.result.status is ToolResultStatus.SUCCESS:
            label = image.label or outcome.call.name
            parts.append(TextPart(text=f"[image attached by {outcome.call.name}: {label}]"))
            parts.append(ImagePart(url=image.url, data=image.data, media_type=image.media_type))
    return [UserMessage(content=parts, synthetic=True)] if parts else []


def with_unique_call_ids(response: ModelResponse) -> tuple[ModelResponse, frozenset[str]]:
    """``response`` with every tool call id unique: a call that repeats an earlier call's id
    gets a new one (``<id>_repeat<n>``), returned so the orchestrator refuses it. History then
    pairs each call with one result, which providers require of the next request."""
    calls = response.tool_calls
    if len(calls) < 2 or len({c.id for c in calls}) == len(calls):
        return response, frozenset()
    seen: set[str] = set()
    renamed: set[str] = set()
    unique = []
    for call in calls:
        if call.id in seen:
            n = 2
            while f"{call.id}_repeat{n}" in seen:
                n += 1
            call = call.model_copy(update={"id": f"{call.id}_repeat{n}"})
            renamed.add(call.id)
        seen.add(call.id)
        unique.append(call)
    return dataclasses.replace(response, tool_calls=tuple(unique)), frozenset(renamed)


def _tool_message(outcome: ToolCallOutcome) -> ToolMessage:
    return ToolMessage.answering(outcome.call, outcome.result)
