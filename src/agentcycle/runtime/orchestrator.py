"""The tool orchestrator: one pipeline for every tool call the model makes.

plan (parse arguments -> ``tool_call_planned`` -> lookup -> JSON Schema validation), then the
decision steps: policy -> budget -> approval -> ``before_tool_call`` hooks -> execute
(``tool_call_started``, timeout, cancellation, ``after_tool_call`` hooks) -> bound output ->
``tool_call_completed``. One batch tail runs a new batch and a resumed run's pending calls.
Anything the model got wrong becomes an error result with a stable code that the model sees;
nothing here crashes a run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentcycle._builders import builder
from agentcycle.errors import AgentcycleError, BudgetExhaustedError, ToolArgumentsError
from agentcycle.events import (
    ToolCallCompleted,
    ToolCallPlanned,
    ToolCallStarted,
)
from agentcycle.hooks import HOOK_INVALID_ARGUMENTS, ToolCallInfo
from agentcycle.mcp import MCPTool
from agentcycle.messages import Flow, ToolCall, ToolResult, ToolResultStatus
from agentcycle.runtime._approval_step import AwaitingApproval, StopCause, approval_step
from agentcycle.runtime._cancellation import stray_cancel
from agentcycle.runtime._hooks import HookDispatcher
from agentcycle.runtime.approvals import (
    ApprovalDecision,
    ApprovalProvider,
)
from agentcycle.runtime.budget_meter import BudgetMeter
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.policy import ApprovalMode, ToolPolicy
from agentcycle.state import PendingToolCall, RunToolState, skill_refusal
from agentcycle.tools.base import ChildRunner, RunScope, Tool, ToolContext
from agentcycle.tools.builtin._secrets import run_host_secrets
from agentcycle.tools.result_preview import result_preview
from agentcycle.tools.validation import parse_arguments, validate_arguments
from agentcycle.workspace.base import WorkspaceBackend
from agentcycle.workspace.output_bounds import MAX_TOOL_OUTPUT_CHARS, bound_result

if TYPE_CHECKING:
    from agentcycle.runtime._durable_log import DurableLog
    from agentcycle.runtime.environment import AgentSeat

# The per-call objects, built without the class call's keyword packing (``_builders``).
_tool_call_planned = builder(ToolCallPlanned)
_tool_call_started = builder(ToolCallStarted)
_tool_call_completed = builder(ToolCallCompleted)
_tool_context = builder(ToolContext)

# Error codes the orchestrator produces itself (TOOLS.md, "Results").
INVALID_ARGUMENTS_JSON = "invalid_arguments_json"
TOOL_NOT_FOUND = "tool_not_found"
INVALID_TOOL_ARGUMENTS = "invalid_tool_arguments"
TOOL_TIMEOUT = "tool_timeout"
TOOL_EXECUTION_FAILED = "tool_execution_failed"
TOOL_CALL_SKIPPED = "tool_call_skipped"
TOOL_CALL_INTERRUPTED = "tool_call_interrupted"
TOOL_NOT_ALLOWED = "tool_not_allowed"
ESCALATION_REFUSED = "escalation_refused"
"""A call asked for more than its tool's normal rights (``EscalatingTool``) in a run whose
approval mode is ``never``."""
DUPLICATE_TOOL_CALL_ID = "duplicate_tool_call_id"

MODEL_ERROR_CODES = frozenset(
    {INVALID_ARGUMENTS_JSON, TOOL_NOT_FOUND, INVALID_TOOL_ARGUMENTS, DUPLICATE_TOOL_CALL_ID}
)
"""Codes that mean the model wrote a malformed call (they count towards the invalid limit)."""


@dataclass(frozen=True, slots=True)
class ToolCallOutcome:
    """A tool call with its result; ``executed`` is False when it was refused or skipped."""

    call: ToolCall
    result: ToolResult
    executed: bool

    @property
    def invalid(self) -> bool:
        """True when the model's call itself was malformed."""
        return self.result.error_code in MODEL_ERROR_CODES


_outcome = builder(ToolCallOutcome)


@dataclass(slots=True)
class BatchResult:
    """The outcomes of a batch, in call order, and the calls left pending (approval needed
    with nobody to ask; the calls after such a call wait with it to keep their order).
    ``exhausted`` is set when a call hit the run's tool-call budget: that call and the rest of
    the batch were skipped, and the run ends. ``directed``: some result carries a directive
    (the loop's plain batch has none, and skips looking for one)."""

    outcomes: list[ToolCallOutcome]
    pending: list[PendingToolCall]
    exhausted: BudgetExhaustedError | None = None
    directed: bool = False


@dataclass(slots=True)
class _Planned:
    """A call after parsing, lookup and schema validation (``refusal`` set when one failed)."""

    call: ToolCall
    tool: Tool | None
    arguments: dict[str, Any] | None
    refusal: ToolResult | None
    started: float


@dataclass(slots=True)
class _Tail:
    """What a batch has produced so far, in call order (see ``ToolOrchestrator._run_in_order``)."""

    outcomes: list[ToolCallOutcome] = field(default_factory=list)
    pending: list[PendingToolCall] = field(default_factory=list)
    exhausted: BudgetExhaustedError | None = None
    stop_reason: str | None = None
    directed: bool = False

    def result(self) -> BatchResult:
        return BatchResult(self.outcomes, self.pending, self.exhausted, self.directed)


class ToolOrchestrator:
    """Runs the tool calls of one assistant message for a run, with the tools and policy of
    the agent in control (read from ``seat`` at each batch: a handoff swaps them)."""

    def __init__(
        self,
        seat: AgentSeat,
        *,
        bus: EventBus,
        state: RunToolState,
        workspace: WorkspaceBackend | None = None,
        context: Any = None,
        cancelled: asyncio.Event | None = None,
        scope: RunScope | None = None,
        approvals: ApprovalProvider | None = None,
        steering: Callable[[], bool] | None = None,
        hooks: HookDispatcher | None = None,
        budget: BudgetMeter | None = None,
        children: ChildRunner | None = None,
        ledger: DurableLog | None = None,
    ) -> None:
        self._seat = seat
        self._ledger = ledger
        self._children = children
        self._hooks = hooks
        self._budget = budget
        self._steering = steering or (lambda: False)
        self._approvals = approvals
        self._bus = bus
        self._state = state
        self._workspace = workspace
        self._context = context
        self._cancelled = cancelled if cancelled is not None else asyncio.Event()
        self._scope = scope if scope is not None else RunScope()
        # What an interrupted run needs to close each call of its batch truthfully: calls
        # planned and not completed -> (when planned, whether execution started), and the
        # outcomes of the batch so far (they reach history only when the batch returns).
        self._open: dict[str, tuple[float, bool]] = {}
        self._servers: dict[str, str] = {}  # call id -> MCP server, for the tool-call events
        self._done: dict[str, ToolCallOutcome] = {}
        self._secrets: frozenset[str] | None = None

    async def run_batch(
        self, calls: Sequence[ToolCall], cycle_index: int, repeated: frozenset[str] = frozenset()
    ) -> BatchResult:
        """Run ``calls``: one outcome per call in call order, or pending entries.

        Calls run concurrently when every tool in the batch is read-only and needs no approval;
        otherwise in order. Once a call returns a finish, wait or handoff directive, or hits the
        tool-call budget, the remaining calls are skipped (with a result each, so history stays
        paired). Calls whose id is in ``repeated`` (they repeated an earlier call's id) are
        refused with ``duplicate_tool_call_id``."""
        agent = self._seat.agent
        planned = [self._plan(call, agent.tools, cycle_index) for call in calls]
        if repeated:
            for p in planned:
                if p.call.id in repeated:
                    p.refusal = ToolResult.error(
                        DUPLICATE_TOOL_CALL_ID,
                        "This call repeated the id of an earlier call in the same message, so it "
                        "did not run; call the tool again if it is still needed.",
                    )
        if self._parallel(planned, agent.policy):
            done = await asyncio.gather(
                *(self._decide(p, agent.policy, cycle_index) for p in planned)
            )
            self._done.clear()
            outcomes = [o for o in done if isinstance(o, ToolCallOutcome)]
            directed = any(o.result.directive is not None for o in outcomes)
            return BatchResult(outcomes, [], directed=directed)
        return await self._run_in_order(planned, cycle_index, steerable=True)

    async def run_pending(
        self,
        pending: Sequence[PendingToolCall],
        decisions: Mapping[str, ApprovalDecision],
        cycle_index: int,
    ) -> BatchResult:
        """Continue the calls a run left pending, in order, applying the host's ``decisions``
        (keyed by approval request id or tool call id). Calls still without a decision stay
        pending; every approved call runs exactly once here."""
        return await self._run_in_order(pending, cycle_index, decisions=decisions)

    def skip_all(
        self, calls: Sequence[ToolCall], cycle_index: int, reason: str
    ) -> list[ToolCallOutcome]:
        """Close every call of an interrupted run (cancelled, out of wall time) with a result:
        its own for a call that had finished, ``tool_call_interrupted`` for one that was
        executing (it may have had effects), ``tool_call_skipped`` for the others."""
        outcomes = []
        for call in calls:
            finished = self._done.pop(call.id, None)
            if finished is not None:
                outcomes.append(finished)
                continue
            planned, executing = self._open.get(call.id, (None, False))
            if not executing:
                outcomes.append(
                    self._skipped_outcome(
                        call,
                        cycle_index,
                        reason,
                        time.perf_counter() if planned is None else planned,
                        planned=planned is not None,
                    )
                )
                continue
            result = ToolResult.error(
                TOOL_CALL_INTERRUPTED,
                f"Interrupted while running: {reason}. It may have had partial effects.",
            )
            outcomes.append(
                self._completed(call, result, cycle_index, planned or 0.0, executed=True)
            )
        self._done.clear()
        return outcomes

    # ------------------------------------------------------------------ the batch

    def _parallel(self, planned: list[_Planned], policy: ToolPolicy) -> bool:
        """Whether the calls may run concurrently: several, all valid, read-only and free of
        approval, and within the tool-call budget (a batch that would cross a limit runs in
        order, so the budget stops it at the exact call)."""
        return (
            len(planned) > 1
            and all(
                p.refusal is None
                and p.tool is not None
                and p.tool.read_only
                and not policy.needs_approval(p.tool)
                for p in planned
            )
            and (self._budget is None or self._budget.admits([p.call.name for p in planned]))
        )

    async def _run_in_order(
        self,
        items: Sequence[_Planned] | Sequence[PendingToolCall],
        cycle_index: int,
        *,
        decisions: Mapping[str, ApprovalDecision] | None = None,
        steerable: bool = False,
    ) -> BatchResult:
        """The one batch tail: run ``items`` in order. Calls after one left pending wait with
        it (order is kept); after a directive or the budget stops the batch, the rest are
        skipped with a result each. A new batch comes planned (all its calls are planned before
        any runs); a resumed run's pending calls are planned one at a time, and only those that
        get that far. ``steerable``: a queued steering message skips the calls not started."""
        agent = self._seat.agent
        tail = _Tail()
        for item in items:
            if tail.pending:
                tail.pending.append(
                    item if isinstance(item, PendingToolCall) else _pending(item.call)
                )
                continue
            request_id = decision = None
            if isinstance(item, PendingToolCall):
                call = ToolCall(id=item.tool_call_id, name=item.tool_name, arguments=item.arguments)
                p = self._plan(call, agent.tools, cycle_index)
                request_id = item.request_id
                if decisions is not None:
                    decision = decisions.get(request_id or "") or decisions.get(item.tool_call_id)
            else:
                p = item
            if tail.stop_reason is not None:
                tail.outcomes.append(self._skip(p, cycle_index, tail.stop_reason))
                continue
            if steerable and self._steering():
                tail.outcomes.append(self._skip(p, cycle_index, _STEERING_SKIP))
                continue
            try:
                outcome = await self._decide(
                    p, agent.policy, cycle_index, request_id=request_id, decision=decision
                )
            except BudgetExhaustedError as exc:
                tail.exhausted, tail.stop_reason = exc, _BUDGET_STOP
                tail.outcomes.append(self._skip(p, cycle_index, _BUDGET_STOP))
                continue
            if isinstance(outcome, AwaitingApproval):
                tail.pending.append(_pending(p.call, outcome.request_id, outcome.message))
                continue
            tail.outcomes.append(outcome)
            directive = outcome.result.directive
            if directive is not None:
                tail.directed = True
                if directive.flow is not Flow.CONTINUE:
                    tail.stop_reason = _directive_stop(directive.flow)
        self._done.clear()
        return tail.result()

    # ------------------------------------------------------------------ one call

    def _plan(self, call: ToolCall, tools: Mapping[str, Tool], cycle_index: int) -> _Planned:
        """Parse the arguments, emit ``tool_call_planned``, find the tool, validate."""
        started = time.perf_counter()
        arguments, refusal = _parse(call.arguments)
        self._open[call.id] = (started, False)
        tool = tools.get(call.name)
        server = tool.server if isinstance(tool, MCPTool) else None
        if server is not None:
            self._servers[call.id] = server
        self._bus.publish(
            _tool_call_planned(
                cycle_index=cycle_index,
                tool_call_id=call.id,
                tool_name=call.name,
                arguments=arguments if arguments is not None else call.arguments,
                server=server,
            )
        )
        if refusal is None and tool is None:
            refusal = ToolResult.error(
                TOOL_NOT_FOUND,
                f"No tool named {call.name!r}.",
                details={"available_tools": sorted(tools)},
            )
        if refusal is None and tool is not None and arguments is not None:
            refusal = _validate(tool, arguments)
        return _Planned(call, tool, arguments, refusal, started)

    async def _decide(
        self,
        p: _Planned,
        policy: ToolPolicy,
        cycle_index: int,
        *,
        request_id: str | None = None,
        decision: ApprovalDecision | None = None,
    ) -> ToolCallOutcome | AwaitingApproval:
        """A planned call through the pipeline: policy, budget, approval, hooks, execute,
        bound. A refusal at any step ends it with that error result (``executed=False``).
        Raises ``BudgetExhaustedError`` when the call would cross the tool-call budget (it did
        not run); returns ``AwaitingApproval`` when it waits for an approval nobody can give now."""
        tool, arguments = p.tool, p.arguments
        if p.refusal is not None or tool is None or arguments is None:
            return self._refused(p, p.refusal, cycle_index)
        refusal = self._policy_step(tool, policy)
        if refusal is None and policy.can_use_tool:
            refusal = await self._predicates_step(tool, arguments, policy)
        if refusal is None:
            self._budget_step(tool)
            escalation = _escalation(tool, arguments)
            if escalation is not None and policy.approval_mode is ApprovalMode.NEVER:
                refusal = ToolResult.error(
                    ESCALATION_REFUSED,
                    f"Not run: the call asks to {escalation}, and this run approves nothing "
                    "(approval mode never). Do it within the tool's normal rights.",
                )
            elif (
                escalation is not None
                or (policy.needs_approval(tool) and tool.name not in self._state.approved_tools)
            ) and (self._ledger is None or not self._ledger.past_approval(p.call.id, cycle_index)):
                if decision is None and self._ledger is not None:
                    self._ledger.before_approval()
                gate = await approval_step(
                    self._bus,
                    self._approvals,
                    self._state,
                    tool,
                    p.call,
                    arguments,
                    cycle_index,
                    request_id,
                    decision,
                    escalation,
                    self._stop_cause,
                )
                if isinstance(gate, AwaitingApproval):
                    return gate
                refusal = gate
        if refusal is None and self._hooks is not None:
            info = ToolCallInfo(p.call.id, p.call.name, arguments, cycle_index)
            hooked = await self._before_hooks(self._hooks, tool, info, policy)
            if isinstance(hooked, ToolResult):
                refusal = hooked
            else:
                arguments = hooked
        if refusal is not None:
            return self._refused(p, refusal, cycle_index)
        result = await self._execute_step(tool, p, arguments, cycle_index)
        if len(result.content) > MAX_TOOL_OUTPUT_CHARS:  # the bound step, for oversized output
            result = await self._bound_step(p.call, result)
        return self._completed(p.call, result, cycle_index, p.started, executed=True)

    def _stop_cause(self) -> StopCause:
        """Why the run is stopping: the wall-time budget's deadline passed, else a cancel."""
        deadline = self._budget.deadline if self._budget is not None else None
        past = deadline is not None and asyncio.get_running_loop().time() >= deadline
        return "budget_exhausted" if past and not self._cancelled.is_set() else "cancelled"

    def _policy_step(self, tool: Tool, policy: ToolPolicy) -> ToolResult | None:
        """``tool_not_allowed`` when an active skill or the policy's rules refuse the tool."""
        reason = skill_refusal(self._state, tool.name) or policy.refusal(tool)
        return (
            None
            if reason is None
            else ToolResult.error(TOOL_NOT_ALLOWED, f"Not allowed: {reason}.")
        )

    async def _predicates_step(
        self, tool: Tool, arguments: dict[str, Any], policy: ToolPolicy
    ) -> ToolResult | None:
        """``tool_not_allowed`` when a ``can_use_tool`` check refuses this call (awaited only
        when the policy has checks: most runs have none)."""
        reason = await policy.call_refusal(tool, arguments)
        return (
            None
            if reason is None
            else ToolResult.error(TOOL_NOT_ALLOWED, f"Not allowed: {reason}.")
        )

    def _budget_step(self, tool: Tool) -> None:
        """Raise ``BudgetExhaustedError`` when the call would cross the tool-call budget;
        checked before asking for approval: the call could not run anyway."""
        if self._budget is not None and (exhausted := self._budget.check_tool_call(tool.name)):
            raise exhausted

    async def _bound_step(self, call: ToolCall, result: ToolResult) -> ToolResult:
        """An oversized result becomes a preview; the whole text goes to an artifact."""
        return await bound_result(
            result, workspace=self._workspace, run_id=self._bus.run_id, tool_call_id=call.id
        )

    def _refused(
        self, p: _Planned, refusal: ToolResult | None, cycle_index: int
    ) -> ToolCallOutcome:
        result = refusal or ToolResult.error(TOOL_EXECUTION_FAILED, "not runnable")
        return self._completed(p.call, result, cycle_index, p.started, executed=False)

    async def _before_hooks(
        self, hooks: HookDispatcher, tool: Tool, info: ToolCallInfo, policy: ToolPolicy
    ) -> dict[str, Any] | ToolResult:
        """The arguments to run with after the ``before_tool_call`` hooks, or the error result
        of a veto, a failing hook, or rewritten arguments the schema or policy reject."""
        gate = await hooks.before_tool_call(info)
        if gate.refusal is not None:
            return gate.refusal
        if not gate.rewritten_by:
            return gate.arguments
        who = ", ".join(repr(name) for name in gate.rewritten_by)
        issues = validate_arguments(tool.parameters, gate.arguments)
        if issues:
            return ToolResult.error(
                HOOK_INVALID_ARGUMENTS,
                f"Arguments rewritten by hook {who} do not match the schema of {tool.name!r}; "
                "the call did not run.",
                details=[issue.to_dict() for issue in issues],
            )
        reason = await policy.call_refusal(tool, gate.arguments)
        if reason is not None:
            return ToolResult.error(
                HOOK_INVALID_ARGUMENTS,
                f"Arguments rewritten by hook {who} are not allowed: {reason}; the call did not "
                "run.",
            )
        return gate.arguments

    async def _execute_step(
        self, tool: Tool, p: _Planned, arguments: dict[str, Any], cycle_index: int
    ) -> ToolResult:
        """Count the call, emit ``tool_call_started``, run the tool (its timeout, its failures
        as error results), then the ``after_tool_call`` hooks."""
        call = p.call
        if self._budget is not None:
            self._budget.count_tool_call(tool.name)
        self._open[call.id] = (p.started, True)
        self._bus.publish(
            _tool_call_started(
                cycle_index=cycle_index,
                tool_call_id=call.id,
                tool_name=call.name,
                arguments=arguments,
                server=self._servers.get(call.id),
            )
        )
        ledger = self._ledger  # a durable run's: intent and result records around the call
        try:
            settled = (
                None if ledger is None else await ledger.before(tool, call, arguments, cycle_index)
            )
        except asyncio.CancelledError:
            # A cancel the store held, seen before the tool ran: the call closes as not run.
            self._open[call.id] = (p.started, False)
            raise
        if settled is not None:
            result = settled  # in the log already, or settled by the resume: not run again
        else:
            ctx = self._tool_context(call, cycle_index)
            timeout = tool.timeout_seconds
            try:
                if timeout is None:
                    result = await tool.invoke(ctx, arguments)
                else:
                    result = await asyncio.wait_for(tool.invoke(ctx, arguments), timeout)
            except asyncio.CancelledError:
                if not stray_cancel():
                    raise
                result = ToolResult.error(
                    TOOL_EXECUTION_FAILED,
                    f"Tool {call.name!r} raised CancelledError while the run was not being "
                    "cancelled.",
                )
            except Exception as exc:  # a tool's own failure is data for the model, not a crash
                result = _failure(call, timeout, exc)
            if not isinstance(result, ToolResult):
                result = ToolResult.error(
                    TOOL_EXECUTION_FAILED,
                    f"Tool {call.name!r} returned {type(result).__name__}, not a ToolResult.",
                )
            if ledger is not None:
                ledger.after(call, cycle_index, result)
        if self._hooks is not None:
            info = ToolCallInfo(call.id, call.name, arguments, cycle_index)
            result = await self._hooks.after_tool_call(info, result)
        return result

    def _tool_context(self, call: ToolCall, cycle_index: int) -> ToolContext:
        origin = self._bus.origin
        return _tool_context(
            run_id=origin.run_id,
            trace_id=origin.trace_id,
            agent_name=origin.agent_name or "",
            tool_call_id=call.id,
            cycle_index=cycle_index,
            state=self._state,
            workspace=self._workspace,
            context=self._context,
            cancelled=self._cancelled,
            scope=self._scope,
            children=self._children,
        )

    def _host_secrets(self) -> frozenset[str]:
        """The host's credentials, scrubbed from result previews (read once per run)."""
        secrets = self._secrets
        if secrets is None:
            secrets = self._secrets = run_host_secrets(self._scope)
        return secrets

    def _skip(self, p: _Planned, cycle_index: int, reason: str) -> ToolCallOutcome:
        return self._skipped_outcome(p.call, cycle_index, reason, p.started, planned=True)

    def _skipped_outcome(
        self,
        call: ToolCall,
        cycle_index: int,
        reason: str,
        started: float,
        *,
        planned: bool = False,
    ) -> ToolCallOutcome:
        if not planned:
            self._bus.emit(
                ToolCallPlanned,
                cycle_index=cycle_index,
                tool_call_id=call.id,
                tool_name=call.name,
                arguments=call.arguments,
            )
        result = ToolResult.error(TOOL_CALL_SKIPPED, f"Not run: {reason}.")
        return self._completed(call, result, cycle_index, started, executed=False)

    def _completed(
        self,
        call: ToolCall,
        result: ToolResult,
        cycle_index: int,
        started: float,
        *,
        executed: bool,
    ) -> ToolCallOutcome:
        self._open.pop(call.id, None)
        outcome = self._done[call.id] = _outcome(call=call, result=result, executed=executed)
        self._bus.publish(
            _tool_call_completed(
                cycle_index=cycle_index,
                tool_call_id=call.id,
                tool_name=call.name,
                status=_STATUS_VALUES[result.status],
                directive=_FLOW_VALUES[result.flow],
                error_code=result.error_code,
                execution_started=executed,
                duration_ms=round((time.perf_counter() - started) * 1000.0, 3),
                server=self._servers.pop(call.id, None),
                # Built once, from the result as bounded for the model.
                result_preview=result_preview(result.content, self._host_secrets()),
            )
        )
        return outcome


_STEERING_SKIP = (
    "skipped due to steering: the user sent a new message before this call started; read it, "
    "then call the tool again if it is still needed"
)
"""Why the calls a steering message overtook did not run (the model reads it next)."""

_BUDGET_STOP = "the run's tool-call budget is exhausted"
# Enum ``.value`` is a Python-level property: the event fields read these instead.
_STATUS_VALUES = {status: status.value for status in ToolResultStatus}
_FLOW_VALUES = {flow: flow.value for flow in Flow}


def _failure(call: ToolCall, timeout: float | None, exc: Exception) -> ToolResult:
    """The error result of a tool that raised: a timeout, a typed failure (its stable code is
    kept for the model), or anything else."""
    if isinstance(exc, TimeoutError):
        return ToolResult.error(TOOL_TIMEOUT, f"Tool {call.name!r} timed out after {timeout} s.")
    if isinstance(exc, AgentcycleError):
        return ToolResult.error(exc.code, exc.message, details=exc.details)
    return ToolResult.error(TOOL_EXECUTION_FAILED, f"{type(exc).__name__}: {exc}", details=None)


def _escalation(tool: Tool, arguments: dict[str, Any]) -> str | None:
    """What an ``EscalatingTool``'s call asks beyond its rights. Looked up as an attribute: an
    ``isinstance`` check against the runtime-checkable protocol re-derives the protocol's
    members on every call (Python 3.11), a cost paid by every tool call of every run."""
    escalate: Callable[[dict[str, Any]], str | None] | None = getattr(tool, "escalation", None)
    return escalate(arguments) if escalate is not None else None


def _directive_stop(flow: Flow) -> str:
    if flow is Flow.HANDOFF:
        return "control was handed off to another agent"
    return "the run is finishing" if flow is Flow.FINISH else "the run is waiting"


def _pending(
    call: ToolCall, request_id: str | None = None, message: str | None = None
) -> PendingToolCall:
    return PendingToolCall(
        tool_call_id=call.id,
        tool_name=call.name,
        arguments=call.arguments,
        request_id=request_id,
        message=message,
    )


def _parse(raw: str) -> tuple[dict[str, Any] | None, ToolResult | None]:
    try:
        return parse_arguments(raw), None
    except ToolArgumentsError as exc:
        return None, ToolResult.error(exc.code, exc.message)


def _validate(tool: Tool, arguments: dict[str, Any]) -> ToolResult | None:
    issues = validate_arguments(tool.parameters, arguments)
    if not issues:
        return None
    return ToolResult.error(
        INVALID_TOOL_ARGUMENTS,
        f"Arguments for {tool.name!r} do not match its schema.",
        details=[issue.to_dict() for issue in issues],
    )
