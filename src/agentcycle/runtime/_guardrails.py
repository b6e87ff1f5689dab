"""Running guardrails (``agentcycle.guardrails``): the checks of one stage in order, each a
``GuardrailCheck`` record that becomes its events, stopping at the first that trips or fails.

Input guardrails run while the run is compiled, before its model is resolved (so their records
wait in ``RunEnvironment.input_checks`` until the loop emits them after ``agent_started``); a
run they block gets an ``UnresolvedModel`` in place of the model it never needed."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from agentcycle.errors import AgentcycleError, ConfigurationError, GuardrailFailed, GuardrailTripped
from agentcycle.events import CompletionReason, GuardrailChecked, RunStatus
from agentcycle.events import GuardrailTripped as GuardrailTrippedEvent
from agentcycle.guardrails import Guardrail, GuardrailContext, GuardrailStage, Tripwire
from agentcycle.models.base import ModelRequest, ModelStreamItem
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.outcome import LoopOutcome


@dataclass(frozen=True, slots=True)
class GuardrailCheck:
    """One guardrail's verdict. ``error`` is set when it stopped the run: a
    ``GuardrailTripped`` (tripped) or a ``GuardrailFailed`` (it raised)."""

    guardrail: str
    stage: GuardrailStage
    duration_ms: float
    error: AgentcycleError | None = None

    @property
    def outcome(self) -> str:
        """``passed``, ``tripped`` or ``failed``, as ``guardrail_checked`` reports it."""
        if self.error is None:
            return "passed"
        return "failed" if isinstance(self.error, GuardrailFailed) else "tripped"


async def run_guardrails(
    guardrails: Sequence[Guardrail], ctx: GuardrailContext, value: Any
) -> tuple[GuardrailCheck, ...]:
    """Check ``value`` with each guardrail in order, up to the first that stops the run."""
    checks: list[GuardrailCheck] = []
    for guardrail in guardrails:
        started = time.perf_counter()
        error = await _verdict(guardrail, ctx, value)
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        checks.append(GuardrailCheck(guardrail.name, ctx.stage, elapsed, error))
        if error is not None:
            break
    return tuple(checks)


async def _verdict(
    guardrail: Guardrail, ctx: GuardrailContext, value: Any
) -> AgentcycleError | None:
    where = {"guardrail": guardrail.name, "stage": ctx.stage}
    try:
        verdict = guardrail.check(ctx, value)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is not None and not isinstance(verdict, Tripwire):
            raise TypeError(f"returned {type(verdict).__name__}, not Tripwire or None")
    except Exception as exc:  # a guardrail that breaks fails closed, as a typed failure
        return GuardrailFailed(
            f"{ctx.stage} guardrail {guardrail.name!r} failed: {type(exc).__name__}: {exc}",
            details={**where, "error_type": type(exc).__name__, "error": str(exc)},
        )
    if verdict is None:
        return None
    return GuardrailTripped(
        verdict.message, code=verdict.code, details={**where, "details": verdict.details}
    )


def emit_checks(bus: EventBus, checks: Sequence[GuardrailCheck], index: int | None) -> None:
    """``guardrail_checked`` for each check, and ``guardrail_tripped`` after one that tripped."""
    for check in checks:
        bus.emit(
            GuardrailChecked,
            cycle_index=index,
            stage=check.stage,
            guardrail=check.guardrail,
            outcome=check.outcome,
            duration_ms=check.duration_ms,
        )
        error = check.error
        if isinstance(error, GuardrailTripped):
            bus.emit(
                GuardrailTrippedEvent,
                cycle_index=index,
                stage=check.stage,
                guardrail=check.guardrail,
                error_code=error.code,
                message=error.message,
                details=error.details["details"],
            )


def stopped_by(checks: Sequence[GuardrailCheck]) -> LoopOutcome | None:
    """The ending of a run one of ``checks`` stopped (no partial output: a blocked answer is
    withheld), or ``None`` when all passed."""
    error = checks[-1].error if checks else None
    if error is None:
        return None
    reason = (
        CompletionReason.GUARDRAIL_TRIPPED
        if isinstance(error, GuardrailTripped)
        else CompletionReason.FAILED
    )
    return LoopOutcome(status=RunStatus.FAILED, completion_reason=reason, error=error)


class UnresolvedModel:
    """The model of a run an input guardrail blocked: it was never resolved (no settings file,
    no key needed) and is never called. ``name`` and ``backend`` repeat the agent's reference
    where it names them, for the result and the events."""

    __slots__ = ("_backend", "_name")

    def __init__(self, name: str, backend: str | None) -> None:
        self._name = name
        self._backend = backend

    @property
    def name(self) -> str:
        """The model the agent named (``unresolved`` when it named none)."""
        return self._name

    @property
    def backend(self) -> str | None:
        """The backend the agent named, if any."""
        return self._backend

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamItem]:
        """Never called: a blocked run makes no model call."""
        raise ConfigurationError("an input guardrail blocked this run: its model is not resolved")
        yield  # pragma: no cover - makes this an async generator like every model's stream
