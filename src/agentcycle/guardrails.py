"""Guardrails: typed checks that may stop a run, on its input and on its final answer.

    def no_secrets(ctx: GuardrailContext, value: Any) -> Tripwire | None:
        if "password" in str(value).lower():
            return Tripwire("Passwords are not handled here.", code="secret_in_input")
        return None

    agent = Agent(..., input_guardrails=[no_secrets], output_guardrails=[Guardrail(check)])

A guardrail is a function ``(ctx, value) -> Tripwire | None`` (sync or async), given as is or
wrapped in ``Guardrail`` to name it. ``None`` lets the run go on; a ``Tripwire`` stops it: the
run ends ``failed`` with completion reason ``guardrail_tripped`` and the tripwire's code
(``guardrail_tripped`` unless it chose another).

- **Input guardrails** (``Agent.input_guardrails``, then ``RunConfig.input_guardrails``) see
  the run's input as given (a string or a list of messages). They run when the run is
  compiled, before its model is resolved: a blocked input never needs a model, a settings file
  or an API key. Their events follow ``agent_started``. A resumed run's new input (the
  user's answer) is checked by the guardrails of the agent in control.
- **Output guardrails** (``Agent.output_guardrails``, then ``RunConfig.output_guardrails``) see
  the final output of a run that completed, first in the output handling order (see
  ``agentcycle.outputs``). A tripped output guardrail withholds the answer: the run's
  ``partial_output`` is ``None``.

Guardrails of one stage run in order and stop at the first that trips. Each check is one
``guardrail_checked`` event (``outcome`` passed, tripped or failed); the one that stops the run
adds ``guardrail_tripped``. A guardrail that raises (or returns anything else) fails closed: the
run fails with ``guardrail_failed``. Runtime hooks (``agentcycle.hooks``) remain the way to
steer everything else (tool calls, model requests, cycles).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from agentcycle.errors import ConfigurationError

GUARDRAIL_TRIPPED = "guardrail_tripped"
"""Default error code of a run a guardrail stopped (and the completion reason of every one)."""
GUARDRAIL_FAILED = "guardrail_failed"
"""Error code of a run whose guardrail raised or returned something it may not."""

GuardrailStage = Literal["input", "output"]
"""Where a guardrail runs: on the run's input, or on its final output."""


@dataclass(frozen=True, slots=True)
class GuardrailContext:
    """What a guardrail receives besides the value it checks."""

    run_id: str
    agent_name: str
    stage: GuardrailStage
    context: Any
    """``RunConfig.context``: the host's own object, passed through untouched."""
    language: str


@dataclass(frozen=True, slots=True)
class Tripwire:
    """A guardrail's verdict that stops the run, as a typed failure with this code."""

    message: str
    code: str = GUARDRAIL_TRIPPED
    details: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code:
            raise ConfigurationError(f"Tripwire.code must be a non-empty string, got {self.code!r}")


GuardrailVerdict = Tripwire | None
"""What a guardrail returns: ``None`` to let the run go on, a ``Tripwire`` to stop it."""

GuardrailFunction = Callable[
    [GuardrailContext, Any], GuardrailVerdict | Awaitable[GuardrailVerdict]
]
"""A guardrail check: ``(ctx, value)``, sync or async."""


@dataclass(frozen=True, slots=True)
class Guardrail:
    """A named guardrail check. ``name`` (default: the function's name) identifies it in
    events and errors."""

    check: GuardrailFunction
    name: str = ""

    def __post_init__(self) -> None:
        if not callable(self.check):
            raise ConfigurationError(
                f"a guardrail needs a callable check, got {type(self.check).__name__}"
            )
        if not self.name:
            name = getattr(self.check, "__name__", None) or type(self.check).__name__
            object.__setattr__(self, "name", name)


GuardrailOption = Guardrail | GuardrailFunction
"""What ``input_guardrails`` and ``output_guardrails`` take: a ``Guardrail`` or a bare check."""


def as_guardrail(option: GuardrailOption) -> Guardrail:
    """``option`` as a ``Guardrail`` (a bare function is named after itself); anything that
    cannot check is a ``ConfigurationError``."""
    if isinstance(option, Guardrail):
        return option
    if not callable(option):
        raise ConfigurationError(
            "guardrails must be Guardrail objects or functions (ctx, value) -> Tripwire | None, "
            f"got {type(option).__name__}"
        )
    return Guardrail(option)
