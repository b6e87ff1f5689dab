"""A completed run's final output, checked before the run ends (``agentcycle.outputs``): output
guardrails, ``output_type`` coercion, the validator, at most one repair call, re-coercion and
re-validation. The loop runs this right after its cycles, so the session write and the
terminal event see the output as it ends up; the repair call counts against the run's budget
(wall time included) like a cycle's."""

from __future__ import annotations

import inspect
import json
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from agentcycle._json import dumps
from agentcycle.errors import (
    AgentcycleError,
    ModelError,
    OutputValidationFailed,
    OutputValidatorFailed,
)
from agentcycle.events import CompletionReason, OutputRejected, RunStatus
from agentcycle.guardrails import GuardrailContext
from agentcycle.messages import SystemMessage, UserMessage
from agentcycle.outputs import INVALID_FINAL_OUTPUT, OutputContext, Reject
from agentcycle.runtime._guardrails import emit_checks, run_guardrails, stopped_by
from agentcycle.runtime._side_call import CallRecorder, side_call, side_settings
from agentcycle.runtime.outcome import LoopOutcome

if TYPE_CHECKING:
    from agentcycle.runtime.budget_meter import BudgetMeter
    from agentcycle.runtime.environment import AgentSeat, OutputPolicy, RepairCall
    from agentcycle.runtime.event_bus import EventBus
    from agentcycle.state import RunState

REPAIR_INSTRUCTIONS = (
    "You repair the final answer of an assistant. The answer below was rejected, for the "
    "reason given. Reply with the corrected answer only: no preamble, no commentary."
)


class OutputChecker:
    """Checks the final output of a run that completed, with the policy of the agent in
    control at the end (``seat``)."""

    __slots__ = ("_bus", "_context", "_language", "_meter", "_record", "_seat", "_state")

    def __init__(
        self,
        seat: AgentSeat,
        bus: EventBus,
        state: RunState,
        record: CallRecorder,
        meter: BudgetMeter | None,
        context: Any,
        language: str,
    ) -> None:
        self._seat = seat
        self._bus = bus
        self._state = state
        self._record = record
        self._meter = meter
        self._context = context
        self._language = language

    async def check(self, outcome: LoopOutcome) -> LoopOutcome:
        """``outcome`` with its final output coerced, validated and perhaps repaired; or the
        failure that replaces it (a guardrail, a rejection that stands). Raises
        ``BudgetExhaustedError`` when a repair is due and the budget is spent."""
        if outcome.status is not RunStatus.COMPLETED:
            return outcome
        agent = self._seat.agent
        policy = agent.output
        if not policy.active:
            return outcome
        index = self._state.last_cycle_index
        candidate = outcome.final_output
        if policy.guardrails:
            ctx = GuardrailContext(
                run_id=self._state.spec.run_id,
                agent_name=agent.name,
                stage="output",
                context=self._context,
                language=self._language,
            )
            checks = await run_guardrails(policy.guardrails, ctx, candidate)
            emit_checks(self._bus, checks, index)
            stopped = stopped_by(checks)
            if stopped is not None:
                return stopped
        value, verdict = await self._judge(policy, candidate, repaired=False)
        if verdict is None:
            outcome.final_output = value
            return outcome
        if isinstance(verdict, AgentcycleError):
            return _failed(verdict, candidate)
        self._rejected(verdict, index, repaired=False)
        if policy.repair is None:
            return _failed(_still_rejected(verdict), candidate)
        if self._meter is not None and (exhausted := self._meter.check_model_call()):
            raise exhausted
        try:
            answer = await self._repair(policy, policy.repair, candidate, verdict, index)
        except ModelError as exc:
            return _failed(_still_rejected(verdict, repair_error=exc.to_dict()), candidate)
        value, verdict = await self._judge(policy, answer, repaired=True)
        if verdict is None:
            outcome.final_output = value
            return outcome
        if isinstance(verdict, AgentcycleError):
            return _failed(verdict, answer)
        self._rejected(verdict, index, repaired=True)
        return _failed(_still_rejected(verdict), answer)

    async def _judge(
        self, policy: OutputPolicy, candidate: Any, *, repaired: bool
    ) -> tuple[Any, Reject | AgentcycleError | None]:
        """Coerce ``candidate`` into the output type, then ask the validator: the value, and
        ``None`` (accepted), a ``Reject``, or the failure of a validator that broke."""
        value = candidate
        if policy.adapter is not None:
            value, rejection = _coerce(policy.adapter, candidate)
            if rejection is not None:
                return candidate, rejection
        validator = policy.validator
        if validator is None:
            return value, None
        ctx = OutputContext(
            run_id=self._state.spec.run_id,
            agent_name=self._seat.agent.name,
            context=self._context,
            language=self._language,
            repaired=repaired,
        )
        try:
            verdict = validator(ctx, value)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if verdict is not None and not isinstance(verdict, Reject):
                raise TypeError(f"returned {type(verdict).__name__}, not Reject or None")
        except Exception as exc:  # a broken validator is a typed failure, not a crash
            name = getattr(validator, "__name__", type(validator).__name__)
            return value, OutputValidatorFailed(
                f"output validator {name!r} failed: {type(exc).__name__}: {exc}",
                details={"validator": name, "error_type": type(exc).__name__, "error": str(exc)},
            )
        return value, verdict

    def _rejected(self, verdict: Reject, index: int, *, repaired: bool) -> None:
        self._bus.emit(
            OutputRejected,
            cycle_index=index,
            error_code=verdict.code,
            message=verdict.message,
            details=verdict.details,
            repaired=repaired,
        )

    async def _repair(
        self,
        policy: OutputPolicy,
        repair: RepairCall,
        candidate: Any,
        verdict: Reject,
        index: int,
    ) -> str:
        """One tools-free call that answers with the corrected output (its text)."""
        agent = self._seat.agent
        if repair.model is None:
            model, price = agent.model, agent.price
            settings = agent.behavior.settings.merge(repair.settings)
        else:
            model, price, settings = repair.model, repair.price, repair.settings
        system = repair.instructions or REPAIR_INSTRUCTIONS
        if policy.adapter is not None:
            schema = dumps(policy.adapter.json_schema())
            system = f"{system}\nThe answer must be JSON matching this JSON Schema:\n{schema}"
        request = self._state.spec.input
        parts = [f"Request:\n{request}"] if isinstance(request, str) and request else []
        parts.append(f"Rejected answer:\n{_as_text(candidate)}")
        parts.append(f"Why it was rejected ({verdict.code}): {verdict.message}")
        return await side_call(
            model,
            [SystemMessage(content=system), UserMessage(content="\n\n".join(parts))],
            side_settings(settings, repair.max_tokens),
            operation="output_repair",
            index=index,
            bus=self._bus,
            record=self._record,
            price=price,
        )


def _coerce(adapter: TypeAdapter[Any], value: Any) -> tuple[Any, Reject | None]:
    """``value`` as the output type: validated as is, and a string also read as JSON (a
    plain-text answer; one code fence around it is tolerated)."""
    try:
        return adapter.validate_python(value), None
    except ValidationError as exc:
        error = exc
    if isinstance(value, str):
        try:
            return adapter.validate_json(_unfenced(value)), None
        except ValidationError as exc:
            error = exc
    return value, Reject(
        "The final output does not match the required output type.",
        code=INVALID_FINAL_OUTPUT,
        # As JSON: the details travel in events, which must read back equal.
        details=json.loads(
            error.json(include_url=False, include_context=False, include_input=False)
        ),
    )


def _unfenced(text: str) -> str:
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```") and stripped.count("```") == 2:
        body = stripped[3:-3]
        return body.split("\n", 1)[1] if "\n" in body else body
    return stripped


def _as_text(value: Any) -> str:
    """A candidate output as the text a repair call and ``partial_output`` show."""
    if isinstance(value, str):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(mode="json")
    try:
        return dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _still_rejected(verdict: Reject, *, repair_error: Any = None) -> OutputValidationFailed:
    details: dict[str, Any] = {
        "code": verdict.code,
        "message": verdict.message,
        "details": verdict.details,
    }
    if repair_error is not None:
        details["repair_error"] = repair_error
    return OutputValidationFailed(
        f"The final output was rejected: {verdict.message}", details=details
    )


def _failed(error: AgentcycleError, candidate: Any) -> LoopOutcome:
    return LoopOutcome(
        status=RunStatus.FAILED,
        completion_reason=CompletionReason.FAILED,
        partial_output=_as_text(candidate),
        error=error,
    )
