"""Output validation and repair: what a run does with its final answer before it returns it.

    def cites_a_source(ctx: OutputContext, output: Any) -> Reject | None:
        if "source:" not in str(output):
            return Reject("Name the source.", code="missing_source")
        return None

    agent = Agent(..., output_validator=cites_a_source, output_repair=OutputRepair())

Both are off by default. When a run completes, its final output goes through a fixed order:

1. output guardrails (``agentcycle.guardrails``): a trip ends the run ``failed``;
2. ``output_type`` coercion: a final output that is not yet of the agent's ``output_type``
   (a plain-text answer, a tool's result) is parsed as JSON into it; when that fails the
   output is rejected with ``invalid_final_output``;
3. the output validator: ``None`` accepts, ``Reject(message, code=...)`` rejects;
4. at most one repair (when ``output_repair`` is set and the output was rejected): one model
   call with no tools, ``operation="output_repair"``, which gets the request, the rejected
   output and the reason, and answers with the corrected output;
5. re-coercion and re-validation of the repaired answer;
6. the session write, then the terminal event.

Each rejection is an ``output_rejected`` event. A run whose output is still rejected ends
``failed`` with ``output_validation_failed`` and the rejected candidate (as text) in
``partial_output``; a validator that raises (or returns anything but ``None`` or ``Reject``)
ends it with ``output_validator_failed``. The repair call is a model call like the cycles':
``model_call_*`` events, usage and cost in ``RunResult``, and the run's budget (a budget already
spent ends the run ``budget_exhausted`` instead of repairing; a repair call that fails leaves
the output rejected). The repair changes the final output only: the conversation history (and
the session turn) keep the answer as the model first gave it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agentcycle.errors import ConfigurationError
from agentcycle.models.base import Model, ModelRef, ModelSettings

OUTPUT_REJECTED = "output_rejected"
"""Default code of a ``Reject``."""
INVALID_FINAL_OUTPUT = "invalid_final_output"
"""Code of the rejection of an output that does not coerce into the agent's ``output_type``."""
DEFAULT_REPAIR_MAX_TOKENS = 4000
"""Output tokens a repair call may use unless ``OutputRepair.max_tokens`` says otherwise."""


@dataclass(frozen=True, slots=True)
class OutputContext:
    """What an output validator receives besides the output. ``repaired`` is ``True`` when it
    judges the answer of the repair call."""

    run_id: str
    agent_name: str
    context: Any
    """``RunConfig.context``: the host's own object, passed through untouched."""
    language: str
    repaired: bool = False


@dataclass(frozen=True, slots=True)
class Reject:
    """An output validator's verdict against the final output: ``message`` says why (the
    repair call is shown it), ``code`` is stable for hosts."""

    message: str
    code: str = OUTPUT_REJECTED
    details: Any = None

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code:
            raise ConfigurationError(f"Reject.code must be a non-empty string, got {self.code!r}")


OutputVerdict = Reject | None
"""What an output validator returns: ``None`` accepts."""

OutputValidator = Callable[[OutputContext, Any], OutputVerdict | Awaitable[OutputVerdict]]
"""Judges a run's final output (after ``output_type`` coercion): sync or async."""


@dataclass(frozen=True, slots=True)
class OutputRepair:
    """One tools-free model call that fixes a rejected final output.

    ``model`` (a ``Model``, a ``ModelRef`` or a name, resolved like ``Agent.model``; ``None``:
    the model of the agent that ended the run) and ``model_settings`` (over that model's) are
    the repair call's own. ``instructions`` replace the default system prompt of the call.
    """

    model: Model | ModelRef | str | None = None
    model_settings: ModelSettings | None = None
    instructions: str | None = None
    max_tokens: int = DEFAULT_REPAIR_MAX_TOKENS

    def __post_init__(self) -> None:
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int):
            raise ConfigurationError(
                f"OutputRepair.max_tokens must be a positive integer, got {self.max_tokens!r}"
            )
        if self.max_tokens < 1:
            raise ConfigurationError(
                f"OutputRepair.max_tokens must be a positive integer, got {self.max_tokens!r}"
            )
