"""A cycle's model call: compose the request, stream the answer into events, price and meter its
usage, and recover from a prompt the provider rejects as too long.

Events, per call: ``model_call_started`` (again for each retry attempt, with the endpoint),
the stream's deltas (``assistant_delta``, ``reasoning_delta``, ``model_tool_call_started``,
``model_tool_call_progress``), ``model_call_failed`` for each failed attempt, then exactly one
``model_call_completed`` or a final ``model_call_failed``. Before a call whose system prompt
is not the one the previous call sent, and whose stable sections differ from it, a
``diagnostic`` ``prompt_prefix_changed`` (the provider's prompt cache starts over).

``model_tool_call_progress`` reports a call's arguments in steps of
:data:`PROGRESS_STEP_CHARS`, not once per streamed piece: providers stream arguments a few
characters at a time, and a host showing "writing… 3 KB" needs a handful of events per call,
not hundreds (a short call reports none; ``assistant_message`` and ``tool_call_planned`` follow).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentcycle._builders import builder
from agentcycle.errors import PromptTooLongError
from agentcycle.events import (
    AssistantDelta,
    Diagnostic,
    ModelToolCallProgress,
    ModelToolCallStarted,
    ReasoningDelta,
)
from agentcycle.messages import SystemMessage, TokenUsage
from agentcycle.models.base import (
    ModelRequest,
    ModelResponse,
    ReasoningTextDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallStartDelta,
    ToolSpec,
)
from agentcycle.runtime._hooks import HookDispatcher
from agentcycle.runtime._side_call import CallRecorder, stream_call
from agentcycle.runtime.budget_meter import BudgetMeter
from agentcycle.runtime.context import ContextManager
from agentcycle.runtime.prompts import prefix_change
from agentcycle.state import skill_refusal

if TYPE_CHECKING:
    from agentcycle.messages import Message
    from agentcycle.runtime.environment import AgentSeat
    from agentcycle.runtime.event_bus import EventBus
    from agentcycle.state import RunToolState

# Built without the class call's keyword packing (``_builders``): one of each per cycle.
_model_request = builder(ModelRequest)
_model_tool_call_started = builder(ModelToolCallStarted)


class ModelCaller:
    """Makes the model call of each cycle of one run, with the model, tools and settings of
    the agent in control at that moment (read from ``seat`` at each call: a handoff swaps
    it)."""

    __slots__ = (
        "_bus",
        "_history",
        "_hooks",
        "_memory",
        "_meter",
        "_record",
        "_seat",
        "_system",
        "_tools",
    )

    def __init__(
        self,
        seat: AgentSeat,
        bus: EventBus,
        history: list[Message],
        tool_state: RunToolState,
        memory: ContextManager,
        hooks: HookDispatcher | None,
        meter: BudgetMeter | None,
        record: CallRecorder,
    ) -> None:
        self._seat = seat
        self._bus = bus
        self._history = history
        self._tools = tool_state
        self._memory = memory
        self._hooks = hooks
        self._meter = meter
        self._record = record
        self._system: object = None
        """The system message the last call sent (compared by identity: a per-cycle check
        that costs nothing while the prompt stays the same object)."""

    async def turn(self, index: int, start: int) -> tuple[ModelResponse, TokenUsage, int]:
        """Prepare the context (budget, compaction), then call the model. A prompt that cannot
        fit the known window (refused before sending) or that the provider rejects as too long
        is compacted harder and tried again, a bounded number of times (``context_exhausted``
        after that; ``prompt_too_long`` itself when the memory policy is off). Returns the
        response, its usage, and where this cycle's messages start in the possibly compacted
        history."""
        memory = self._memory
        start = await memory.prepare(index, start)
        attempt = 0
        while True:
            try:
                memory.check_fits()
                response, usage = await self._call(index)
            except PromptTooLongError as exc:
                attempt += 1
                start = await memory.recover(index, start, exc, attempt)
                continue
            memory.observe(usage)
            return response, usage, start

    async def _call(self, index: int) -> tuple[ModelResponse, TokenUsage]:
        agent = self._seat.agent
        bus = self._bus
        request = _model_request(
            messages=self._history,
            tools=self._offered_tools(agent.tool_specs),
            settings=agent.behavior.settings,
            cycle_index=index,
        )
        if self._hooks is not None:
            request = await self._hooks.before_model_call(request)
        messages = request.messages
        if messages and messages[0] is not self._system:
            self._system_changed(messages[0], index)
        response, usage, operation_id, attempts = await stream_call(
            agent.model,
            request,
            operation="agent_cycle",
            index=index,
            bus=bus,
            price=agent.price,  # what the model used, whatever a hook makes of the response
            require_text=False,
            on_delta=_DeltaEvents(bus, index),
        )
        self._record(index, operation_id, attempts, usage, "agent_cycle")
        if self._meter is not None:
            self._meter.record_model_call(usage)
        if self._hooks is not None:
            response = await self._hooks.after_model_call(request, response)
        return response, usage

    def _system_changed(self, first: Message, index: int) -> None:
        """The system prompt is another object than last call's: report a changed stable
        prefix (not on a run's first call)."""
        previous, self._system = self._system, first
        if not isinstance(previous, SystemMessage):
            return
        current = first if isinstance(first, SystemMessage) else SystemMessage(content="")
        change = prefix_change(previous, current)
        if change is not None:
            self._bus.emit(
                Diagnostic,
                cycle_index=index,
                level="info",
                code="prompt_prefix_changed",
                details=change,
            )

    def _offered_tools(self, specs: tuple[ToolSpec, ...]) -> tuple[ToolSpec, ...]:
        """The agent's tools, less those the active skills' ``allowed-tools`` exclude."""
        tool_state = self._tools
        if tool_state.skill_allowed_tools() is None:
            return specs
        return tuple(s for s in specs if skill_refusal(tool_state, s.name) is None)


PROGRESS_STEP_CHARS = 512
"""``model_tool_call_progress`` is emitted each time a call's arguments have grown by at least
this many characters since its last report (or its start)."""


class _DeltaEvents:
    """The events for the streamed pieces of one model call's answer (other items are
    ignored)."""

    __slots__ = ("_bus", "_index", "_reported")

    def __init__(self, bus: EventBus, index: int) -> None:
        self._bus = bus
        self._index = index
        self._reported: dict[int, int] = {}  # tool call index -> characters last reported

    def __call__(self, item: Any) -> None:
        bus, index = self._bus, self._index
        if isinstance(item, TextDelta):
            bus.emit(AssistantDelta, cycle_index=index, delta=item.text)
        elif isinstance(item, ToolCallArgumentsDelta):
            written = item.total_chars
            if written - self._reported.get(item.index, 0) < PROGRESS_STEP_CHARS:
                return
            self._reported[item.index] = written
            bus.emit(
                ModelToolCallProgress,
                cycle_index=index,
                tool_call_id=item.id,
                tool_name=item.name,
                tool_call_index=item.index,
                arguments_chars=written,
            )
        elif isinstance(item, ToolCallStartDelta):
            bus.publish(
                _model_tool_call_started(
                    cycle_index=index,
                    tool_call_id=item.id,
                    tool_name=item.name,
                    tool_call_index=item.index,
                )
            )
        elif isinstance(item, ReasoningTextDelta):
            bus.emit(ReasoningDelta, cycle_index=index, delta=item.text)
