"""The cycle loop: the one implementation every entry point runs.

    cycle = prepare context (token budget, compaction)           context.py
          -> call model (streamed; deltas become events;         _model_call.py
             a too-long prompt is compacted, resent)
          -> append assistant message
          -> run tool calls through the orchestrator             _tool_batch.py, orchestrator.py
          -> apply directives (finish / wait_user / continue)    _directives.py, _handoffs.py
          -> commit the cycle record
    then, when the run completed, its final output:           _output_checks.py
          output guardrails, output_type coercion, validator, at most one repair

A run ends only on an explicit condition: ``task_finish`` (or another finish directive),
``ask_user``, the no-tool policy, a tool-use behaviour stop, ``max_cycles``, the run's budget, a
typed failure, a guardrail (``_guardrails.py``) or cancellation; its start and terminal events
are ``_lifecycle.py``'s. Per-cycle work is proportional to that cycle, not to the history.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agentcycle._builders import builder
from agentcycle.errors import AgentcycleError
from agentcycle.events import (
    AssistantMessageEvent,
    CompletionReason,
    CycleStarted,
    ModelOperation,
    RunStatus,
    ToolCallRef,
)
from agentcycle.hooks import CycleEnd, RunEnd
from agentcycle.messages import AssistantMessage, Message, TokenUsage
from agentcycle.models.base import ModelResponse
from agentcycle.runtime._directives import (
    after_no_tool,
    after_tools,
    failed,
    max_cycles,
    waiting_for_approval,
)
from agentcycle.runtime._guardrails import emit_checks, stopped_by
from agentcycle.runtime._handoffs import hand_off, requested_handoff
from agentcycle.runtime._hooks import HookDispatcher
from agentcycle.runtime._lifecycle import (
    append_session_turn,
    close_scope,
    emit_cancelled,
    emit_start,
    emit_terminal,
)
from agentcycle.runtime._memory_providers import ProviderCalls
from agentcycle.runtime._model_call import ModelCaller
from agentcycle.runtime._output_checks import OutputChecker
from agentcycle.runtime._session_memory import SessionNotesRecorder
from agentcycle.runtime._session_turns import APPENDING_STATUSES
from agentcycle.runtime._tool_batch import ToolBatches, with_unique_call_ids
from agentcycle.runtime.approvals import ApprovalDecision
from agentcycle.runtime.budget_meter import BudgetMeter
from agentcycle.runtime.context import ContextManager
from agentcycle.runtime.environment import RunEnvironment
from agentcycle.runtime.orchestrator import BatchResult
from agentcycle.runtime.outcome import LoopOutcome, ModelCallRecord
from agentcycle.state import CycleRecord, HandoffRecord, PendingToolCall

if TYPE_CHECKING:  # a run without a store never imports the durable machinery
    from agentcycle.runtime._durable_log import DurableLog

# The per-cycle objects, built without the class call's keyword packing (``_builders``).
_cycle_started = builder(CycleStarted)
_assistant_message = builder(AssistantMessageEvent)
_tool_call_ref = builder(ToolCallRef)
_model_call_record = builder(ModelCallRecord)


@dataclass(slots=True)
class ResumeWork:
    """What a resumed run does before its next model call: finish the calls the run left
    pending, applying the host's approval decisions."""

    pending: list[PendingToolCall]
    decisions: dict[str, ApprovalDecision]
    inputs: list[Message] = field(default_factory=list)
    """New user input, appended after the pending calls' results."""


class CycleLoop:
    """Runs the cycles of one run until a terminal condition."""

    def __init__(
        self, env: RunEnvironment, *, resume: ResumeWork | None = None, resume_input: Any = None
    ) -> None:
        self._env = env
        self._resume_work = resume
        self._resume_input = resume_input
        self._spec = env.state.spec
        self._bus = env.bus
        self._history = env.history
        self._model_calls: list[ModelCallRecord] = []
        self._hooks = HookDispatcher.for_run(
            env.hooks, env.bus, env.history, env.context, env.language
        )
        self._meter = env.meter
        self._tools = ToolBatches(env, self._hooks, self._meter)
        providers = ProviderCalls(env.memory_providers, env.bus)
        self._memory = ContextManager(
            env,
            state=env.state,
            bus=env.bus,
            history=env.history,
            tool_state=env.tool_state,
            workspace=env.workspace,
            policy=env.memory,
            record_call=self._record_side_call,
            hooks=self._hooks,
            providers=providers,
        )
        self._model = ModelCaller(
            env,
            env.bus,
            env.history,
            env.tool_state,
            self._memory,
            self._hooks,
            self._meter,
            self._record_model_call,
        )
        self._outputs = OutputChecker(
            env,
            env.bus,
            env.state,
            self._record_side_call,
            self._meter,
            env.context,
            env.language,
        )
        notes = env.memory.session_memory
        store, session = env.session_memory_store, env.session
        self._notes = (
            SessionNotesRecorder(
                env,
                env.bus,
                env.state,
                env.history,
                env.memory.tokenizer,
                notes,
                store,
                session.session_id,
                providers,
                self._record_side_call,
            )
            if notes is not None and store is not None and session is not None
            else None
        )
        self._last_text: str | None = None
        self._cancel_reason: str | None = None
        self._started = False
        self._task: asyncio.Task[Any] | None = None

    async def run(self) -> LoopOutcome:
        """Run to a terminal condition and emit exactly one terminal event."""
        self._started = True
        self._task = asyncio.current_task()
        env = self._env
        if env.durable is not None:
            env.durable.start(self._cancel_from_store, self.request_cancel)
        emit_start(env.bus, env.state, self._resume_input, env.diagnostics)
        emit_checks(env.bus, env.input_checks, None)
        try:
            if self._cancel_reason is not None:
                raise asyncio.CancelledError  # the host cancelled before the run began
            if env.durable is not None:
                env.durable.stop_if_cancelled()
            outcome = await self._body()
        except asyncio.CancelledError:
            outcome = await self._end_cancelled()
            if not self._absorb_host_cancel():
                raise  # cancelled from outside: propagate to whoever cancelled us
            return outcome
        except BaseException:
            if env.durable is not None:
                env.durable.abandon()  # no ending written: the run stays resumable
            raise
        outcome.model_calls = self._model_calls
        try:
            await close_scope(env.scope)
        except asyncio.CancelledError:
            # The host cancelled as the run was ending: it has its outcome, which stands.
            if not self._absorb_host_cancel():
                raise
        emit_terminal(env.bus, env.state, env.tool_state, outcome)
        if env.durable is not None:
            env.durable.end(outcome)
        return outcome

    def _cancel_from_store(self, reason: str) -> None:
        """A durable run's cancel requested through its store: end it as the host's cancel
        would (the heartbeat runs beside the loop's task, on the same event loop)."""
        self.request_cancel(reason)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def _absorb_host_cancel(self) -> bool:
        """Whether the cancel being handled is the host's (``request_cancel``), which the run
        answers by ending (its task uncancelled); ``False``: it came from outside."""
        task = asyncio.current_task()
        if self._cancel_reason is None or task is None:
            return False
        task.uncancel()
        return True

    async def _body(self) -> LoopOutcome:
        """The run between its start events and its terminal event, failures included."""
        hooks = self._hooks
        try:
            if hooks is not None:
                await hooks.before_run()
            blocked = stopped_by(self._env.input_checks)
            outcome = blocked if blocked is not None else await self._cycles_within_budget()
            if self._notes is not None and outcome.status in APPENDING_STATUSES:
                await self._notes.at_end(self._env.state.last_cycle_index)
            await append_session_turn(self._env.session, self._bus, self._env.state, outcome)
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
        self._tools.steer(text)

    @property
    def env(self) -> RunEnvironment:
        """What the loop runs with; after a handoff, ``env.agent`` is the target's profile."""
        return self._env

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

    @property
    def started(self) -> bool:
        """True once ``run`` began. A task cancelled before that would never run its ending
        (no ``run_cancelled``, subscribers left waiting): a run cancelled that early is only
        marked (``request_cancel``), and ``run`` ends it as cancelled when it begins."""
        return self._started

    def request_cancel(self, reason: str) -> None:
        """Mark the run as cancelled by its host; the caller then cancels the loop's task
        (once ``started``)."""
        if self._cancel_reason is None:
            self._cancel_reason = reason
        self._env.cancelled.set()

    # ------------------------------------------------------------------ cycles

    async def _cycles_within_budget(self) -> LoopOutcome:
        """``_cycles`` and the output checks (``_output_checks.py``) under the wall-time
        budget's deadline: work in flight when it passes is cancelled, its calls are closed
        (interrupted or skipped) and the run fails with ``budget_exhausted``."""
        deadline = self._meter.deadline if self._meter is not None else None
        if self._meter is None or deadline is None:
            return await self._outputs.check(await self._cycles())
        timeout = asyncio.timeout_at(deadline)
        try:
            async with timeout:
                return await self._outputs.check(await self._cycles())
        except TimeoutError:
            if not timeout.expired():
                raise  # not our deadline: a bug below, reported as such
        self._tools.commit_interrupted("the run's wall-time budget ran out")
        raise self._meter.wall_time_exhausted()

    async def _cycles(self) -> LoopOutcome:
        spec = self._spec
        env = self._env
        state = env.state
        index = state.last_cycle_index
        hooks = self._hooks
        if self._resume_work is not None:
            resumed = await self._resume(self._resume_work, index)
            if resumed is not None:
                return resumed
        while index < spec.max_cycles:
            if self._meter is not None and (exhausted := self._meter.check_model_call()):
                raise exhausted
            index += 1
            start = len(self._history)
            todos_before = env.tool_state.todos
            durable = env.durable
            if durable is None or not durable.resumes_cycle(index):
                self._bus.publish(_cycle_started(cycle_index=index))
            self._tools.apply_steering(index)
            if hooks is not None:
                await hooks.before_cycle(index)
            if durable is None:
                response, usage, start = await self._model.turn(index, start)
                response, repeated = with_unique_call_ids(response)
                self._append_assistant(response, index)
            else:
                response, usage, start, repeated = await self._durable_turn(durable, index, start)
            outcome: LoopOutcome | None
            handoff: HandoffRecord | None = None
            if response.tool_calls:
                batch = await self._tools.run(response.tool_calls, index, repeated)
                outcome, handoff = await self._apply_directives(batch, index)
            else:
                behavior = env.agent.behavior
                outcome = after_no_tool(response.text, behavior, self._history, env.language)
            if hooks is not None:
                last = index >= spec.max_cycles
                ending = outcome.status if outcome else (RunStatus.MAX_CYCLES if last else None)
                cycle = CycleEnd(index, tuple(self._history[start:]), usage, ending)
                verdict = await hooks.after_cycle(cycle)
                if isinstance(verdict, AgentcycleError):
                    outcome = self._failed(verdict)
                elif verdict:
                    self._history.extend(verdict)
            todos_after = env.tool_state.todos
            todos = tuple(todos_after) if todos_after is not todos_before else None
            messages = tuple(self._history[start:])
            state.cycles.append(
                CycleRecord.of_cycle(index, messages, usage, todos=todos, handoff=handoff)
            )
            if durable is not None:
                durable.commit(index)
            if outcome is not None:
                return outcome
            if self._notes is not None:
                await self._notes.after_cycle(index)
        return max_cycles(spec.max_cycles, self._last_text)

    async def _durable_turn(
        self, durable: DurableLog, index: int, start: int
    ) -> tuple[ModelResponse, TokenUsage, int, frozenset[str]]:
        """A durable run's model turn: the answer the log holds for a resumed cycle (no model
        call, no events: they are durable already), else ``model_intent``, the call, and
        ``model_result`` with the ``assistant_message`` event, before any tool runs. The log
        keeps the answer as the model gave it: repeated call ids are renamed the same way on
        replay."""
        replayed = durable.replayed_response(index)
        if replayed is not None:
            raw, usage = replayed
            response, repeated = with_unique_call_ids(raw)
            self._append_assistant(response, index, emit=False)
            return response, usage, start, repeated
        durable.model_intent(index)
        raw, usage, start = await self._model.turn(index, start)
        response, repeated = with_unique_call_ids(raw)
        self._append_assistant(response, index)
        durable.model_result(index, raw, usage, self._env.agent.tools)
        return response, usage, start, repeated

    def _append_assistant(self, response: ModelResponse, index: int, *, emit: bool = True) -> None:
        self._history.append(
            AssistantMessage.of(response.text, response.tool_calls, response.reasoning)
        )
        if response.text:
            self._last_text = response.text
        if not emit:
            return
        self._bus.publish(
            _assistant_message(
                cycle_index=index,
                text=response.text,
                tool_calls=[_tool_call_ref(id=c.id, name=c.name) for c in response.tool_calls],
            )
        )

    async def _resume(self, work: ResumeWork, index: int) -> LoopOutcome | None:
        """Finish the calls left pending and add the new input, committed as a continuation of
        cycle ``index`` (no model call)."""
        state = self._env.state
        state.pending_tool_calls = []
        start = len(self._history)
        outcome: LoopOutcome | None = None
        handoff: HandoffRecord | None = None
        if work.pending:
            batch = await self._tools.run_pending(work.pending, work.decisions, index)
            outcome, handoff = await self._apply_directives(batch, index)
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

    def _record_model_call(
        self,
        index: int,
        operation_id: str,
        attempts: int,
        usage: TokenUsage,
        operation: ModelOperation,
    ) -> None:
        """Record a model call of the run: a cycle's, or one made outside the cycles
        (compaction summary, session memory)."""
        self._model_calls.append(
            _model_call_record(
                cycle_index=index,
                operation_id=operation_id,
                attempts=attempts,
                usage=usage,
                operation=operation,
            )
        )

    def _record_side_call(
        self,
        index: int,
        operation_id: str,
        attempts: int,
        usage: TokenUsage,
        operation: ModelOperation,
    ) -> None:
        """Record a model call made outside the cycles; the budget counts it like any other
        (the next cycle's check ends the run if it went over)."""
        self._record_model_call(index, operation_id, attempts, usage, operation)
        if self._meter is not None:
            self._meter.record_model_call(usage)

    # ------------------------------------------------------------------ directives

    async def _apply_directives(
        self, batch: BatchResult, index: int
    ) -> tuple[LoopOutcome | None, HandoffRecord | None]:
        """How the run goes on after a batch: ended (a directive, the tool-use behaviour, an
        approval nobody can give now, the tool-call budget), handed off to another agent (see
        ``runtime/_handoffs.py``), or ``(None, None)`` to continue."""
        env = self._env
        if (
            batch.exhausted is None
            and not batch.pending
            and env.agent.behavior.tool_use_behavior == "run_llm_again"
            and not batch.directed
        ):
            return None, None  # the common batch: no directive, nothing waiting, go on
        request = requested_handoff(batch.outcomes)
        outcome = after_tools(batch.outcomes, env.agent.behavior, handing_off=request is not None)
        if outcome is None and batch.pending:
            outcome = waiting_for_approval(env.state, batch.pending)
        if outcome is None and batch.exhausted is not None:
            outcome = self._failed(batch.exhausted)
        if outcome is None and request is not None:
            record = await hand_off(request, index, env)
            if self._hooks is not None:
                self._hooks.ctx = replace(self._hooks.ctx, agent_name=record.target_agent)
            return None, record
        return outcome, None

    # ------------------------------------------------------------------ endings

    def _failed(self, exc: AgentcycleError) -> LoopOutcome:
        return failed(exc, self._last_text)

    async def _end_cancelled(self) -> LoopOutcome:
        """End a cancelled run: commit what the interrupted cycle did (its calls closed), let
        the ``after_run`` hooks see it, then ``run_cancelled``."""
        self._tools.commit_interrupted("run cancelled")
        env = self._env
        state = env.state
        state.status = RunStatus.CANCELLED
        state.completion_reason = CompletionReason.CANCELLED
        outcome = LoopOutcome(
            status=RunStatus.CANCELLED,
            completion_reason=CompletionReason.CANCELLED,
            partial_output=self._last_text,
            model_calls=self._model_calls,
        )
        with contextlib.suppress(asyncio.CancelledError):
            # A second cancel (the host pressing stop again) must not lose the terminal
            # event; the scope goes on closing (shielded).
            await close_scope(env.scope)
        if self._hooks is not None:
            # A failure here is reported and the run stays cancelled; a second cancel
            # stops the hooks, not the terminal event.
            with contextlib.suppress(asyncio.CancelledError):
                await self._hooks.after_run(RunEnd(outcome.status, outcome.completion_reason))
        emit_cancelled(env.bus, state, env.tool_state, self._cancel_reason, self._last_text)
        if env.durable is not None:
            env.durable.end(outcome)
        return outcome
