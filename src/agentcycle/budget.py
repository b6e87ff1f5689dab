"""Run budgets: limits on tokens, tool calls, wall time and cost.

    Runner.run(agent, "...", config=RunConfig(budget=RunBudget(max_total_tokens=200_000,
                                                               max_wall_seconds=600)))

A run that reaches a limit ends as a typed failure: status ``failed``, completion reason
``budget_exhausted``, a ``budget_exhausted`` event before ``run_failed``, and
``RunResult.error`` with code ``budget_exhausted`` whose details name the limit, its value and
what the run had used (``BudgetUsage``). Where each limit is checked:

- tokens and cost: before each model call, so the call that crosses a limit completes and the
  next one does not start (a run may overshoot by at most one call);
- tool calls: before each call would run. The call over the limit and the rest of its batch get
  a ``tool_call_skipped`` result (history stays paired), then the run ends. ``task_finish`` is
  never counted or refused: a run must be able to finish;
- wall time: before each model call, and as a deadline while a model call or a tool is in
  flight; the work in flight is cancelled, a tool call that was running gets a
  ``tool_call_interrupted`` result and calls not yet started a ``tool_call_skipped`` one.

A budget bounds one execution (``Runner.run``/``start``, or one resume): a resumed run counts
from zero. ``max_cost_usd`` needs a price for the run's model (``agentcycle.pricing``); a run
without one fails at start with a ``ConfigurationError``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from agentcycle.errors import ConfigurationError

BudgetLimit = Literal[
    "max_total_tokens",
    "max_tool_calls",
    "max_tool_calls_per_tool",
    "max_wall_seconds",
    "max_cost_usd",
]
"""The name of a limit, as reported when it is hit."""


@dataclass(frozen=True, slots=True)
class RunBudget:
    """Limits for one run; ``None`` (or a tool missing from the per-tool map) is unlimited.

    In ``RunConfig`` layering a budget merges field by field with the layer below (per-tool
    limits key by key), so a runner can cap cost while a run caps tokens.
    """

    max_total_tokens: int | None = None
    """Total tokens (prompt plus output) over all model calls."""
    max_tool_calls: int | None = None
    """Tool calls that run, over all tools."""
    max_tool_calls_per_tool: dict[str, int] = field(default_factory=dict)
    """Tool calls that run, per tool name."""
    max_wall_seconds: float | None = None
    """Seconds from the start of the run (or of the resume)."""
    max_cost_usd: float | None = None
    """US dollars over all model calls; needs a price for the model."""

    def __post_init__(self) -> None:
        for name in ("max_total_tokens", "max_tool_calls"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
        for name in ("max_wall_seconds", "max_cost_usd"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool) or value <= 0
            ):
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        for tool, limit in self.max_tool_calls_per_tool.items():
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise ConfigurationError(
                    f"max_tool_calls_per_tool[{tool!r}] must be a positive integer, got {limit!r}"
                )
        # A private copy: the caller's dict may change later, the budget must not.
        object.__setattr__(self, "max_tool_calls_per_tool", dict(self.max_tool_calls_per_tool))

    @property
    def limits_anything(self) -> bool:
        """True when at least one limit is set."""
        return any(getattr(self, f.name) for f in fields(self))

    def merge(self, later: RunBudget | None) -> RunBudget:
        """This budget with every limit ``later`` sets taken from ``later``."""
        if later is None:
            return self
        updates: dict[str, Any] = {
            f.name: getattr(later, f.name)
            for f in fields(self)
            if f.name != "max_tool_calls_per_tool" and getattr(later, f.name) is not None
        }
        updates["max_tool_calls_per_tool"] = {
            **self.max_tool_calls_per_tool,
            **later.max_tool_calls_per_tool,
        }
        return replace(self, **updates)


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """What a run had used when it was measured (the ``used`` of a budget failure)."""

    total_tokens: int
    """Tokens of the model calls that reported them."""
    cost_usd: float | None
    """Cost of the calls whose cost is known; ``None`` when no call's cost is known."""
    tool_calls: int
    tool_calls_per_tool: dict[str, int]
    wall_seconds: float
    model_calls: int
    model_calls_without_tokens: int
    """Calls whose usage did not say how many tokens they used (not in ``total_tokens``)."""
    model_calls_without_cost: int
    """Calls whose cost is unknown (not in ``cost_usd``)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the counters."""
        return asdict(self)
