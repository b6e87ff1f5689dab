"""The cycle loop: the one implementation every entry point runs.

    cycle = prepare context (token budget, compaction)
          -> call model (streamed; deltas become events; a too-long prompt is compacted, resent)
          -> append assistant message
          -> run tool calls through the orchestrator
          -> apply directives (finish / wait_user / continue)
          -> commit the cycle record

A run ends only on an explicit condition: ``task_finish`` (or another finish directive),
``ask_user``, the no-tool policy, a tool-use behaviour stop, ``max_cycles``, the run's budget, a
typed failure or cancellation. Per-cycle work is proportional to that cycle, not to the history.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from agentcycle.budget import RunBudget
from agentcycle.errors import (
    AgentcycleError,
    BudgetExhaustedError,
    InvalidToolCallsExceeded,
    ModelError,
    PromptTooLongError,
)
from agentcycle.events import (
    AgentStarted,
    AssistantDelta,
    AssistantMessageEvent,
    BudgetExhausted,
    CheckpointResumed,
    CompletionReason,
    CycleStarted,
    Diagnostic,
    ModelCallCompleted,
    ModelCallFailed,
    ModelCallStarted,
    ModelOperation,
    ModelToolCallProgress,
    ModelToolCallStarted,
    ReasoningDelta,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    RunStatus,
    SessionPersisted,
    ToolCallRef,
)
from agentcycle.hooks import CycleEnd, RunEnd, RuntimeHook
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.memory.provider import MemoryProvider
from agentcycle.memory.session_store import SessionMemoryStore
from agentcycle.messages import (
    AssistantMessage,
    Directive,
    ImagePart,
    Message,
    TextPart,
    TokenUsage,
    ToolMessage,
    ToolResultStatus,
    UserMessage,
)
from agentcycle.models.base import (
    AttemptFailed,
    AttemptStarted,
    Model,
    ModelInfo,
    ModelRequest,
    ModelResponse,
    ReasoningTextDelta,
    TextDelta,
    ToolCallArgumentsDelta,
    ToolCallStartDelta,
    ToolSpec,
)
from agentcycle.pricing import ModelPrice, priced
from agentcycle.runtime import prompts
from agentcycle.runtime._handoffs import (
    AgentBehavior,
    AgentSwitcher,
    HandoffRequest,
    hand_off,
    requested_handoff,
)
from agentcycle.runtime._hooks import HookDispatcher
from agentcycle.runtime._memory_providers import ProviderCalls
from agentcycle.runtime._session_memory import SessionNotesRecorder
from agentcycle.runtime.approvals import ApprovalDecision, ApprovalProvider
from agentcycle.runtime.budget_meter import BudgetMeter
from agentcycle.runtime.context import ContextManager
from agentcycle.runtime.event_bus import EventBus, new_id
from agentcycle.runtime.orchestrator import ToolCallOutcome, ToolOrchestrator
from agentcycle.runtime.policy import ToolPolicy, skill_refusal
from agentcycle.runtime.state import (
    CycleRecord,
    HandoffRecord,
    NoToolPolicy,
    PendingToolCall,
    RunState,
    RunToolState,
)
from agentcycle.sessions._turns import APPENDING_STATUSES, append_turn, turn_id
from agentcycle.sessions.base import Session
from agentcycle.skills.prompt import activation_message
from agentcycle.tools.base import RunScope, Tool
from agentcycle.tools.builtin.skills import ACTIVATE_SKILL

if TYPE_CHECKING:
    from agentcycle._child_runs import ChildRuns


@dataclass(frozen=True, slots=True)
class ModelCallRecord:
    """Usage of one model call (all of its attempts) in one cycle; ``usage.cost_usd`` is set
    when the model has a price. ``run_id`` names the child run that made the call (agent-as-tool
    runs add their calls to the parent's), ``None`` for the run itself."""

    cycle_index: int
    operation_id: str
    attempts: int
    usage: TokenUsage
    operation: ModelOperation = "agent_cycle"
    run_id: str | None = None


@dataclass(slots=True)
class LoopOutcome:
    """How the loop ended, for the SDK to turn into a ``RunResult``."""

    status: RunStatus
    completion_reason: CompletionReason
    final_output: Any = None
    completion_tool_name: str | None = None
    partial_output: str | None = None
    error: AgentcycleError | None = None
    wait: dict[str, Any] | None = None
    model_calls: list[ModelCallRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StartupDiagnostic:
    """Something found while compiling the run (a skill that failed to load ...), emitted as a
    ``diagnostic`` event right after ``agent_started``."""

    code: str
    details: dict[str, Any]
    level: Literal["debug", "info", "warning", "error"] = "warning"


@dataclass(slots=True)
class ResumeWork:
    """What a resumed run does before its next model call: finish the calls the run left
    pending, applying the host's approval decisions."""

    pending: list[PendingToolCall]
    decisions: dict[str, ApprovalDecision]
    inputs: list[Message] = field(default_factory=list)
    """New user input, appended after the pending calls' results."""


@dataclass(slots=True)
class LoopInputs:
    """What one run of the loop needs. ``history`` starts with the initial messages and is
    appended to in place. The model, tools, policy, price and ``behavior`` are those of the
    agent in control; a handoff replaces them (``switch_agent`` resolves the target)."""

    state: RunState
    model: Model
    tools: Mapping[str, Tool]
    tool_specs: tuple[ToolSpec, ...]
    bus: EventBus
    history: list[Message]
    tool_state: RunToolState
    behavior: AgentBehavior
    workspace: Any = None
    context: Any = None
    language: str = "en-US"
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    scope: RunScope = field(default_factory=RunScope)
    policy: ToolPolicy = field(default_factory=ToolPolicy)
    approvals: ApprovalProvider | None = None
    resume: ResumeWork | None = None
    resume_input: Any = None
    hooks: Sequence[RuntimeHook] = ()
    """In call order: the agent's, the runner's, the run's."""
    budget: RunBudget | None = None
    price: ModelPrice | None = None
    """The model's price: every model call's usage carries its cost."""
    memory: MemoryPolicy = field(default_factory=MemoryPolicy)
    model_info: ModelInfo = field(default_factory=ModelInfo)
    endpoint: str | None = None
    """The settings-file endpoint ``model`` was resolved to (its first), if any."""
    diagnostics: tuple[StartupDiagnostic, ...] = ()
    session: Session | None = None
    memory_providers: tuple[MemoryProvider, ...] = ()
    """In call order: the agent's, the runner's, the run's."""
    session_memory_store: SessionMemoryStore | None = None
    """Where session memory keeps notes; set only when session memory is on and the run has a
    session."""
    meter: BudgetMeter | None = None
    """A budget meter shared with a parent run (a child's usage counts against the parent's
    budget); ``None``: the loop meters ``budget`` itself."""
    children: ChildRuns | None = None
    """Starts child runs for the run's tools (``ToolContext.children``)."""
    switch_agent: AgentSwitcher | None = None


class CycleLoop:
    """Runs the cycles of one run until a terminal condition."""

    def __init__(self, inputs: LoopInputs) -> None:
        self._in = inputs
        self._spec = inputs.state.spec
        self._bus = inputs.bus
        self._history = inputs.history
        self._model_calls: list[ModelCallRecord] = []
        self._hooks = HookDispatcher.for_run(
            inputs.hooks, inputs.bus, inputs.history, inputs.context, inputs.language
        )
        budget = inputs.budget
        self._meter = inputs.meter or (
            BudgetMeter(budget, asyncio.get_running_loop().time)
            if budget is not None and budget.limits_anything
            else None
        )
        self._orchestrator = ToolOrchestrator(
            tools=inputs.tools,
            bus=inputs.bus,
            state=inputs.tool_state,
            workspace=inputs.workspace,
            context=inputs.context,
            cancelled=inputs.cancelled,
            scope=inputs.scope,
            policy=inputs.policy,
            approvals=inputs.approvals,
            steering=lambda: bool(self._steering),
            hooks=self._hooks if self._hooks is not None and self._hooks.has_tool_hooks else None,
            budget=self._meter,
            children=inputs.children,
        )
        providers = ProviderCalls(inputs.memory_providers, inputs.bus)
        self._memory = ContextManager(inputs, self._record_side_call, self._hooks, providers)
        notes = inputs.memory.session_memory
        self._notes = (
            SessionNotesRecorder(
                inputs,
                notes,
                inputs.session_memory_store,
                inputs.session.session_id,
                providers,
                self._record_side_call,
            )
            if notes is not None
            and inputs.session_memory_store is not None
            and inputs.session is not None
            else None
        )
        self._consecutive_invalid = 0
        self._last_text: str | None = None
        self._cancel_reason: str | None = None
        self._steering: list[str] = []

    async def run(self) -> LoopOutcome:
        """Run to a terminal condition and emit exactly one terminal event."""
        bus = self._bus
        state = self._in.state
        if state.resume_count:
            bus.emit(RunStarted, input=self._in.resume_input)
            bus.emit(
                CheckpointResumed,
                checkpoint_key=f"{self._spec.run_id}:{state.last_cycle_index}",
                resume_attempt=state.resume_count,
            )
        else:
            bus.emit(RunStarted, input=self._spec.input)
        bus.emit(AgentStarted)
        for diagnostic in self._in.diagnostics:
            bus.emit(
                Diagnostic, level=diagnostic.level, code=diagnostic.code, details=diagnostic.details
            )
        try:
            outcome = await self._body()
        except asyncio.CancelledError:
            outcome = self._cancelled()
            outcome.model_calls = self._model_calls
            await _close_scope(self._in.scope)
            if self._hooks is not None:
                # A failure here is reported and the run stays cancelled; a second cancel
                # stops the hooks, not the terminal event.
                with contextlib.suppress(asyncio.CancelledError):
                    await self._hooks.after_run(RunEnd(outcome.status, outcome.completion_reason))
            bus.emit(RunCancelled, reason=self._cancel_reason, partial_output=self._last_text)
            self._in.state.tool_state = self._in.tool_state
            self._in.state.event_seq = bus.seq
            bus.close()
            task = asyncio.current_task()
            if self._cancel_reason is None or task is None:
                raise  # cancelled from outside: propagate to whoever cancelled us
            task.uncancel()
            return outcome
        outcome.model_calls = self._model_calls
        await _close_scope(self._in.scope)
        self._emit_terminal(outcome)
        return outcome

    async def _body(self) -> LoopOutcome:
        """The run between its start events and its terminal event, failures included."""
        hooks = self._hooks
        try:
            if hooks is not None:
                await hooks.before_run()
            outcome = await self._cycles_within_budget()
            if self._notes is not None and outcome.status in APPENDING_STATUSES:
                await self._notes.at_end(self._in.state.last_cycle_index)
            await self._append_session_turn(outcome)
        except AgentcycleError as exc:
            outcome = self._failed(exc)
        except Exception as exc:  # a bug below us still ends the run with one terminal event
            error = AgentcycleError(f"{type(exc).__name__}: {exc}", code="internal_error")
            error.__cause__ = exc
            outcome = self._failed(error)
        if hooks is not None:
            o = outcome
            failure = await hooks.after_run(
                RunEnd(o.status, o.completion_reason, o.final_output, o.error)
            )
            if failure is not None:
                outcome = self._failed(failure)
        return outcome

    def steer(self, text: str) -> None:
        """Queue a user message for the next model call; calls of the current batch that have
        not started yet are skipped."""
        self._steering.append(text)

    @property
    def inputs(self) -> LoopInputs:
        """What the loop runs with now: after a handoff, the target's model, tools and policy."""
        return self._in

    @property
    def meter(self) -> BudgetMeter | None:
        """The run's budget meter (child runs share it), ``None`` without a budget."""
        return self._meter

    @property
    def cancel_reason(self) -> str | None:
        """Why the host cancelled the run, once it did."""
        return self._cancel_reason

    def add_model_calls(self, records: Sequence[ModelCallRecord]) -> None:
        """Count a child run's model calls in this run's usage."""
        self._model_calls.extend(records)

    def request_cancel(self, reason: str) -> None:
        """Mark the run as cancelled by its host; the caller then cancels the loop's task."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
        self._in.cancelled.set()

    # ------------------------------------------------------------------ cycles

    async def _cycles_within_budget(self) -> LoopOutcome:
        """``_cycles`` under the wall-time budget's deadline: work in flight when it passes is
        cancelled, its calls are closed (interrupted or skipped) and the run fails with
        ``budget_exhausted``."""
        deadline = self._meter.deadline if self._meter is not None else None
        if self._meter is None or deadline is None:
            return await self._cycles()
        timeout = asyncio.timeout_at(deadline)
        try:
            async with timeout:
                return await self._cycles()
        except TimeoutError:
            if not timeout.expired():
                raise  # not our deadline: a bug below, reported as such
        self._commit_interrupted("the run's wall-time budget ran out")
        raise self._meter.wall_time_exhausted()

    async def _cycles(self) -> LoopOutcome:
        spec = self._spec
        state = self._in.state
        index = state.last_cycle_index
        hooks = self._hooks
        if self._in.resume is not None:
            resumed = await self._resume(self._in.resume, index)
            if resumed is not None:
                return resumed
        while index < spec.max_cycles:
            if self._meter is not None and (exhausted := self._meter.check_model_call()):
                raise exhausted
            index += 1
            start = len(self._history)
            todos_before = self._in.tool_state.todos
            self._bus.emit(CycleStarted, cycle_index=index)
            self._apply_steering(index)
            if hooks is not None:
                await hooks.before_cycle(index)
            response, usage, start = await self._model_turn(index, start)
            assistant = AssistantMessage(
                content=response.text, tool_calls=response.tool_calls, reasoning=response.reasoning
            )
            self._history.append(assistant)
            if response.text:
                self._last_text = response.text
            self._bus.emit(
                AssistantMessageEvent,
                cycle_index=index,
                text=response.text,
                tool_calls=[ToolCallRef(id=c.id, name=c.name) for c in response.tool_calls],
            )
            outcome: LoopOutcome | None
            handoff: HandoffRecord | None = None
            if response.tool_calls:
                batch = await self._orchestrator.run_batch(response.tool_calls, index)
                self._history.extend(_tool_message(o) for o in batch.outcomes)
                self._history.extend(_attachments(batch.outcomes))
                self._history.extend(self._skill_instructions(batch.outcomes, index))
                request = requested_handoff(batch.outcomes)
                outcome = self._after_tools(batch.outcomes, handing_off=request is not None)
                if outcome is None and batch.pending:
                    outcome = self._waiting_for_approval(batch.pending)
                if outcome is None and batch.exhausted is not None:
                    outcome = self._failed(batch.exhausted)
                if outcome is None and request is not None:
                    handoff = await self._hand_off(request, index)
            else:
                outcome = self._after_no_tool(response.text)
            if hooks is not None:
                last = index >= spec.max_cycles
                ending = outcome.status if outcome else (RunStatus.MAX_CYCLES if last else None)
                cycle = CycleEnd(index, tuple(self._history[start:]), usage, ending)
                verdict = await hooks.after_cycle(cycle)
                if isinstance(verdict, AgentcycleError):
                    outcome = self._failed(verdict)
                elif verdict:
                    self._history.extend(verdict)
            todos_after = self._in.tool_state.todos
            state.cycles.append(
                CycleRecord(
                    index=index,
                    messages=tuple(self._history[start:]),
                    usage=usage,
                    todos=tuple(todos_after) if todos_after is not todos_before else None,
                    handoff=handoff,
                )
            )
            if outcome is not None:
                return outcome
            if self._notes is not None:
                await self._notes.after_cycle(index)
        return LoopOutcome(
            status=RunStatus.MAX_CYCLES,
            completion_reason=CompletionReason.MAX_CYCLES,
            partial_output=self._last_text,
            error=AgentcycleError(
                f"The run used all {spec.max_cycles} cycles without finishing.", code="max_cycles"
            ),
        )

    def _apply_steering(self, index: int) -> None:
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

    async def _hand_off(self, request: HandoffRequest, index: int) -> HandoffRecord:
        """Give control to the agent ``request`` names (see ``runtime/_handoffs.py``)."""
        return await hand_off(request, index, self._in, self._agent_changed)

    def _agent_changed(self, name: str) -> None:
        inputs = self._in
        self._orchestrator.switch_agent(inputs.tools, inputs.policy)
        self._memory.agent_changed()
        if self._hooks is not None:
            self._hooks.ctx = replace(self._hooks.ctx, agent_name=name)

    async def _resume(self, work: ResumeWork, index: int) -> LoopOutcome | None:
        """Finish the calls left pending and add the new input, committed as a continuation of
        cycle ``index`` (no model call)."""
        state = self._in.state
        state.pending_tool_calls = []
        start = len(self._history)
        outcome: LoopOutcome | None = None
        handoff: HandoffRecord | None = None
        if work.pending:
            batch = await self._orchestrator.run_pending(work.pending, work.decisions, index)
            self._history.extend(_tool_message(o) for o in batch.outcomes)
            self._history.extend(_attachments(batch.outcomes))
            self._history.extend(self._skill_instructions(batch.outcomes, index))
            request = requested_handoff(batch.outcomes)
            outcome = self._after_tools(batch.outcomes, handing_off=request is not None)
            if outcome is None and batch.pending:
                outcome = self._waiting_for_approval(batch.pending)
            if outcome is None and batch.exhausted is not None:
                outcome = self._failed(batch.exhausted)
            if outcome is None and request is not None:
                handoff = await self._hand_off(request, index)
        if outcome is None:
            self._history.extend(work.inputs)
        if len(self._history) == start:
            return outcome
        state.cycles.append(
            CycleRecord(
                index=index,
                messages=tuple(self._history[start:]),
                usage=TokenUsage(),
                model_calls=0,
                handoff=handoff,
            )
        )
        return outcome

    async def _model_turn(self, index: int, start: int) -> tuple[ModelResponse, TokenUsage, int]:
        """Prepare the context (budget, compaction), then call the model. A prompt the provider
        rejects as too long is compacted harder and sent again, a bounded number of times
        (``context_exhausted`` after that). Returns the response, its usage, and where this
        cycle's messages start in the possibly compacted history."""
        start = await self._memory.prepare(index, start)
        attempt = 0
        while True:
            try:
                response, usage = await self._call_model(index)
            except PromptTooLongError as exc:
                attempt += 1
                start = await self._memory.recover(index, start, exc, attempt)
                continue
            self._memory.observe(usage)
            return response, usage, start

    def _record_side_call(
        self,
        index: int,
        operation_id: str,
        attempts: int,
        usage: TokenUsage,
        operation: ModelOperation,
    ) -> None:
        """Record a model call made outside a cycle (compaction summary, session memory)."""
        self._model_calls.append(ModelCallRecord(index, operation_id, attempts, usage, operation))

    async def _call_model(self, index: int) -> tuple[ModelResponse, TokenUsage]:
        model = self._in.model
        bus = self._bus
        request = ModelRequest(
            messages=self._history,
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
                    _emit_failed(bus, index, ids, item.error, retryable=True)
                elif isinstance(item, AttemptStarted):
                    ids["attempt"] = item.attempt
                    ids["call_id"] = new_id("mc")
                    bus.emit(ModelCallStarted, cycle_index=index, endpoint=item.endpoint, **ids)
        except ModelError as exc:
            _emit_failed(bus, index, ids, exc, retryable=False)
            raise
        if response is None:
            error = ModelError("The model stream ended without a response.", code="empty_response")
            _emit_failed(bus, index, ids, error, retryable=False)
            raise error
        # What the model used (priced), whatever a hook makes of the response.
        usage = priced(response.usage, self._in.price)
        bus.emit(ModelCallCompleted, cycle_index=index, usage=usage, **ids)
        self._model_calls.append(ModelCallRecord(index, ids["operation_id"], ids["attempt"], usage))
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

    def _skill_instructions(self, outcomes: list[ToolCallOutcome], index: int) -> list[Message]:
        """For each skill activated by ``outcomes``: a ``skill_activated`` diagnostic and a
        synthetic user message with the skill's instructions (after the tool results)."""
        messages: list[Message] = []
        for outcome in outcomes:
            result = outcome.result
            skill = result.metadata.get("skill")
            if (
                outcome.call.name != ACTIVATE_SKILL
                or result.status is ToolResultStatus.ERROR
                or not isinstance(skill, dict)
            ):
                continue
            self._bus.emit(
                Diagnostic,
                cycle_index=index,
                level="info",
                code="skill_activated",
                details={
                    "skill": skill["name"],
                    "allowed_tools": skill["allowed_tools"],
                    "reason": skill["reason"],
                    "tool_call_id": outcome.call.id,
                },
            )
            text = activation_message(skill["name"], skill["instructions"], self._in.language)
            messages.append(UserMessage(content=text, synthetic=True))
        return messages

    # ------------------------------------------------------------------ decisions

    def _after_tools(
        self, outcomes: list[ToolCallOutcome], *, handing_off: bool = False
    ) -> LoopOutcome | None:
        """How the run goes on after a batch: ended by a directive or the tool-use behaviour,
        or ``None`` to continue (a batch that hands off always continues, with the target)."""
        spec = self._spec
        behavior = self._in.behavior
        for o in outcomes:
            self._consecutive_invalid = self._consecutive_invalid + 1 if o.invalid else 0
            if self._consecutive_invalid >= spec.max_invalid_tool_calls:
                raise InvalidToolCallsExceeded(
                    f"The model made {self._consecutive_invalid} malformed tool calls in a row.",
                    details={"last_error": o.result.content},
                )
        for o in outcomes:
            result = o.result
            if result.directive is Directive.FINISH:
                return LoopOutcome(
                    status=RunStatus.COMPLETED,
                    completion_reason=CompletionReason.TOOL_FINISH,
                    final_output=result.metadata.get("output", result.metadata.get("message")),
                    completion_tool_name=o.call.name,
                )
            if result.directive is Directive.WAIT_USER:
                wait = {"kind": o.call.name, "tool_call_id": o.call.id, **result.metadata}
                return LoopOutcome(
                    status=RunStatus.WAIT_USER,
                    completion_reason=CompletionReason.WAIT_USER,
                    final_output=result.metadata.get("question"),
                    completion_tool_name=o.call.name,
                    wait=wait,
                )
        executed = [
            o for o in outcomes if o.executed and o.result.status is ToolResultStatus.SUCCESS
        ]
        if handing_off:
            return None
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

    def _waiting_for_approval(self, pending: list[PendingToolCall]) -> LoopOutcome:
        self._in.state.pending_tool_calls = pending
        waiting = [p for p in pending if p.request_id is not None]
        names = ", ".join(p.tool_name for p in waiting)
        return LoopOutcome(
            status=RunStatus.WAIT_USER,
            completion_reason=CompletionReason.WAIT_USER,
            final_output=f"Waiting for approval: {names}",
            completion_tool_name=waiting[0].tool_name if waiting else None,
            wait={"kind": "approval", "pending": [p.model_dump() for p in pending]},
        )

    def _after_no_tool(self, text: str) -> LoopOutcome | None:
        policy = self._in.behavior.no_tool_policy
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
        self._history.append(
            UserMessage(content=prompts.no_tool_hint(self._in.language), synthetic=True)
        )
        return None

    # ------------------------------------------------------------------ endings

    async def _append_session_turn(self, outcome: LoopOutcome) -> None:
        """Store the run's turn in its session (see ``sessions/_turns.py``); a storage failure
        fails the run. Shielded, so a cancel arriving meanwhile cannot stop the append between
        the write and the cursor update (a resume would store the turn twice)."""
        session = self._in.session
        if session is None or outcome.status not in APPENDING_STATUSES:
            return
        state = self._in.state
        if not await asyncio.shield(append_turn(session, state)):
            self._bus.emit(
                Diagnostic,
                level="info",
                code="session_turn_already_stored",
                details={"turn_id": turn_id(state)},
            )
        self._bus.emit(SessionPersisted)

    def _failed(self, exc: AgentcycleError) -> LoopOutcome:
        return LoopOutcome(
            status=RunStatus.FAILED,
            completion_reason=CompletionReason.BUDGET_EXHAUSTED
            if isinstance(exc, BudgetExhaustedError)
            else CompletionReason.FAILED,
            partial_output=self._last_text,
            error=exc,
        )

    def _commit_interrupted(self, reason: str) -> None:
        """Pair the calls of an interrupted cycle and commit its messages, so they stay
        resumable."""
        self._pair_dangling_calls(reason)
        state = self._in.state
        committed = state.message_count()
        if len(self._history) > committed:  # keep the interrupted cycle's messages resumable
            state.cycles.append(
                CycleRecord(
                    index=state.last_cycle_index + 1,
                    messages=tuple(self._history[committed:]),
                    usage=TokenUsage(),
                    model_calls=0,
                )
            )

    def _cancelled(self) -> LoopOutcome:
        self._commit_interrupted("run cancelled")
        self._in.state.status = RunStatus.CANCELLED
        self._in.state.completion_reason = CompletionReason.CANCELLED
        return LoopOutcome(
            status=RunStatus.CANCELLED,
            completion_reason=CompletionReason.CANCELLED,
            partial_output=self._last_text,
        )

    def _pair_dangling_calls(self, reason: str) -> None:
        """Give every tool call of the last assistant message a result, so history stays valid
        for a later resume."""
        for i in range(len(self._history) - 1, -1, -1):
            message = self._history[i]
            if isinstance(message, AssistantMessage):
                answered = {
                    m.tool_call_id for m in self._history[i + 1 :] if isinstance(m, ToolMessage)
                }
                missing = [c for c in message.tool_calls if c.id not in answered]
                if missing:
                    index = self._in.state.last_cycle_index + 1
                    outcomes = self._orchestrator.skip_all(missing, index, reason)
                    self._history.extend(_tool_message(o) for o in outcomes)
                return

    def _emit_terminal(self, outcome: LoopOutcome) -> None:
        bus = self._bus
        state = self._in.state
        state.status = outcome.status
        state.completion_reason = outcome.completion_reason
        state.tool_state = self._in.tool_state
        if outcome.status in (RunStatus.COMPLETED, RunStatus.WAIT_USER):
            bus.emit(
                RunCompleted,
                status=outcome.status,
                final_output=_jsonable(outcome.final_output),
                completion_reason=outcome.completion_reason,
                completion_tool_name=outcome.completion_tool_name,
            )
        else:
            error = outcome.error or AgentcycleError("run failed")
            if isinstance(error, BudgetExhaustedError):
                bus.emit(BudgetExhausted, usage=error.used, limit=error.limit)
            bus.emit(
                RunFailed,
                status=outcome.status,
                error=error.message,
                error_code=error.code,
                completion_reason=outcome.completion_reason,
                partial_output=outcome.partial_output,
            )
        state.event_seq = bus.seq
        bus.close()


async def _close_scope(scope: RunScope) -> None:
    # Shielded: a second cancel must not leave background processes of this run alive.
    await asyncio.shield(scope.aclose())


def _attachments(outcomes: list[ToolCallOutcome]) -> list[Message]:
    """Images tools asked to show the model (``read_image``), as one synthetic user turn after
    the tool results: tool messages carry text only on most providers."""
    parts: list[TextPart | ImagePart] = []
    for outcome in outcomes:
        image = outcome.result.metadata.get("image")
        if isinstance(image, dict) and outcome.result.status is ToolResultStatus.SUCCESS:
            label = image.get("label") or outcome.call.name
            parts.append(TextPart(text=f"[image attached by {outcome.call.name}: {label}]"))
            parts.append(
                ImagePart(
                    url=image.get("url"),
                    data=image.get("data"),
                    media_type=image.get("media_type"),
                )
            )
    return [UserMessage(content=parts, synthetic=True)] if parts else []


def _tool_message(outcome: ToolCallOutcome) -> ToolMessage:
    return ToolMessage(
        tool_call_id=outcome.call.id,
        name=outcome.call.name,
        content=outcome.result.content,
        is_error=outcome.result.status is ToolResultStatus.ERROR,
    )


def _emit_failed(
    bus: EventBus, index: int, ids: dict[str, Any], exc: Exception, *, retryable: bool
) -> None:
    code = exc.code if isinstance(exc, AgentcycleError) else "model_error"
    outcome = exc.outcome if isinstance(exc, ModelError) else "definitive"
    bus.emit(
        ModelCallFailed,
        cycle_index=index,
        error_code=code,
        error=str(exc),
        retryable=retryable,
        outcome=outcome,
        **ids,
    )


def _jsonable(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return value
