"""A cycle's model call: compose the request, stream the answer into events, price and meter its
usage, and recover from a prompt the provider rejects as too long.

Events, per call: ``model_call_started`` (again for each retry attempt, with the endpoint),
the stream's deltas (``assistant_delta``, ``reasoning_delta``, ``model_tool_call_started``,
``model_tool_call_progress``), ``model_call_failed`` for each failed attempt, then exactly one
``model_call_completed`` or a final ``model_call_failed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentcycle.errors import ModelError, PromptTooLongError
from agentcycle.events import (
    AssistantDelta,
    ModelCallCompleted,
    ModelCallStarted,
    ModelToolCallProgress,
    ModelToolCallStarted,
    ReasoningDelta,
)
from agentcycle.messages import TokenUsage
from agentcycle.models.base import (
    AttemptFailed,
    AttemptStarted,
    ModelRequest,
    ModelResponse,
    ReasoningTextDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallStartDelta,
    ToolSpec,
)
from agentcycle.pricing import priced
from agentcycle.runtime._hooks import HookDispatcher
from agentcycle.runtime._side_call import CallRecorder, emit_call_failed
from agentcycle.runtime.budget_meter import BudgetMeter
from agentcycle.runtime.context import ContextManager
from agentcycle.runtime.event_bus import new_id
from agentcycle.runtime.policy import skill_refusal

if TYPE_CHECKING:
    from agentcycle.runtime.loop import LoopInputs


class ModelCaller:
    """Makes the model call of each cycle of one run, with the model, tools and settings of
    the agent in control at that moment (``inputs`` is read at each call: a handoff swaps
    them)."""

    __slots__ = ("_hooks", "_in", "_memory", "_meter", "_record")

    def __init__(
        self,
        inputs: LoopInputs,
        memory: ContextManager,
        hooks: HookDispatcher | None,
        meter: BudgetMeter | None,
        record: CallRecorder,
    ) -> None:
        self._in = inputs
        self._memory = memory
        self._hooks = hooks
        self._meter = meter
        self._record = record

    async def turn(self, index: int, start: int) -> tuple[ModelResponse, TokenUsage, int]:
        """Prepare the context (budget, compaction), then call the model. A prompt the provider
        rejects as too long is compacted harder and sent again, a bounded number of times
        (``context_exhausted`` after that). Returns the response, its usage, and where this
        cycle's messages start in the possibly compacted history."""
        start = await self._memory.prepare(index, start)
        attempt = 0
        while True:
            try:
                response, usage = await self._call(index)
            except PromptTooLongError as exc:
                attempt += 1
                start = await self._memory.recover(index, start, exc, attempt)
                continue
            self._memory.observe(usage)
            return response, usage, start

    async def _call(self, index: int) -> tuple[ModelResponse, TokenUsage]:
        model = self._in.model
        bus = self._in.bus
        request = ModelRequest(
            messages=self._in.history,
            tools=self._offered_tools(),
            settings=self._in.behavior.settings,
            cycle_index=index,
        )
        if self._hooks is not None:
            request = await self._hooks.before_model_call(request)
        ids: dict[str, Any] = {
            "call_id": new_id("mc"),
            "operation_id": new_id("op"),
            "attempt": 1,
            "backend": model.backend,
            "model": model.name,
        }
        bus.emit(ModelCallStarted, cycle_index=index, **ids)
        response: ModelResponse | None = None
        try:
            async for item in model.stream(request):
                if isinstance(item, TextDelta):
                    bus.emit(AssistantDelta, cycle_index=index, delta=item.text)
                elif isinstance(item, ReasoningTextDelta):
                    bus.emit(ReasoningDelta, cycle_index=index, delta=item.text)
                elif isinstance(item, ToolCallArgumentsDelta):
                    bus.emit(
                        ModelToolCallProgress,
                        cycle_index=index,
                        tool_call_id=item.id,
                        tool_name=item.name,
                        tool_call_index=item.index,
                        arguments_chars=item.total_chars,
                    )
                elif isinstance(item, ToolCallStartDelta):
                    bus.emit(
                        ModelToolCallStarted,
                        cycle_index=index,
                        tool_call_id=item.id,
                        tool_name=item.name,
                        tool_call_index=item.index,
                    )
                elif isinstance(item, ModelResponse):
                    response = item
                elif isinstance(item, AttemptFailed):
                    emit_call_failed(bus, index, ids, item.error, retryable=True)
                elif isinstance(item, AttemptStarted):
                    ids["attempt"] = item.attempt
                    ids["call_id"] = new_id("mc")
                    bus.emit(ModelCallStarted, cycle_index=index, endpoint=item.endpoint, **ids)
        except ModelError as exc:
            emit_call_failed(bus, index, ids, exc, retryable=False)
            raise
        if response is None:
            error = ModelError("The model stream ended without a response.", code="empty_response")
            emit_call_failed(bus, index, ids, error, retryable=False)
            raise error
        # What the model used (priced), whatever a hook makes of the response.
        usage = priced(response.usage, self._in.price)
        bus.emit(ModelCallCompleted, cycle_index=index, usage=usage, **ids)
        self._record(index, ids["operation_id"], ids["attempt"], usage, "agent_cycle")
        if self._meter is not None:
            self._meter.record_model_call(usage)
        if self._hooks is not None:
            response = await self._hooks.after_model_call(request, response)
        return response, usage

    def _offered_tools(self) -> tuple[ToolSpec, ...]:
        """The run's tools, less those the active skills' ``allowed-tools`` exclude."""
        tool_state = self._in.tool_state
        if tool_state.skill_allowed_tools() is None:
            return self._in.tool_specs
        return tuple(s for s in self._in.tool_specs if skill_refusal(tool_state, s.name) is None)
