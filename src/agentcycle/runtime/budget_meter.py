"""The counters behind a ``RunBudget``: what one execution of a run has used, and the checks
the loop and the orchestrator make at their decision points (see ``agentcycle.budget``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agentcycle.budget import BudgetLimit, BudgetUsage, RunBudget
from agentcycle.errors import BudgetExhaustedError
from agentcycle.messages import TokenUsage
from agentcycle.runtime.policy import UNRESTRICTED_TOOLS


class BudgetMeter:
    """Counts one execution's usage against ``budget``. ``clock`` is the event loop's clock,
    so ``deadline`` can be handed to ``asyncio.timeout_at``."""

    __slots__ = (
        "_clock",
        "_started",
        "budget",
        "cost_usd",
        "model_calls",
        "tool_calls",
        "tool_calls_per_tool",
        "total_tokens",
        "without_cost",
        "without_tokens",
    )

    def __init__(self, budget: RunBudget, clock: Callable[[], float]) -> None:
        self.budget = budget
        self._clock = clock
        self._started = clock()
        self.total_tokens = 0
        self.cost_usd: float | None = None
        self.tool_calls = 0
        self.tool_calls_per_tool: dict[str, int] = {}
        self.model_calls = 0
        self.without_tokens = 0
        self.without_cost = 0

    @property
    def deadline(self) -> float | None:
        """When the wall-time budget runs out, on ``clock``; ``None`` without one."""
        limit = self.budget.max_wall_seconds
        return None if limit is None else self._started + limit

    def record_model_call(self, usage: TokenUsage) -> None:
        """Count a completed model call."""
        self.model_calls += 1
        total = usage.total_tokens
        if total is None and usage.input_tokens is not None and usage.output_tokens is not None:
            total = usage.input_tokens + usage.output_tokens
        if total is None:
            self.without_tokens += 1
        else:
            self.total_tokens += total
        if usage.cost_usd is None:
            self.without_cost += 1
        else:
            self.cost_usd = (self.cost_usd or 0.0) + usage.cost_usd

    def check_model_call(self) -> BudgetExhaustedError | None:
        """The limit another model call would break (wall time, tokens, cost), if any."""
        budget = self.budget
        if budget.max_wall_seconds is not None and self.elapsed() >= budget.max_wall_seconds:
            return self.wall_time_exhausted()
        if budget.max_total_tokens is not None and self.total_tokens >= budget.max_total_tokens:
            return self._exhausted(
                "max_total_tokens",
                budget.max_total_tokens,
                f"{self.total_tokens} tokens used",
            )
        if (
            budget.max_cost_usd is not None
            and self.cost_usd is not None
            and self.cost_usd >= budget.max_cost_usd
        ):
            return self._exhausted(
                "max_cost_usd", budget.max_cost_usd, f"${self.cost_usd:.6f} spent"
            )
        return None

    def check_tool_call(self, name: str) -> BudgetExhaustedError | None:
        """The limit running a call to ``name`` would break, if any (nothing is counted)."""
        if name in UNRESTRICTED_TOOLS:
            return None
        budget = self.budget
        if budget.max_tool_calls is not None and self.tool_calls >= budget.max_tool_calls:
            return self._exhausted(
                "max_tool_calls",
                budget.max_tool_calls,
                f"{self.tool_calls} tool calls made; the call to {name!r} did not run",
            )
        limit = budget.max_tool_calls_per_tool.get(name)
        used = self.tool_calls_per_tool.get(name, 0)
        if limit is not None and used >= limit:
            return self._exhausted(
                "max_tool_calls_per_tool",
                limit,
                f"{used} calls to {name!r} made; this one did not run",
                tool=name,
            )
        return None

    def admits(self, names: Sequence[str]) -> bool:
        """True when every call of a batch to ``names`` fits the tool-call limits together."""
        budget = self.budget
        counted = [n for n in names if n not in UNRESTRICTED_TOOLS]
        if budget.max_tool_calls is not None and (
            self.tool_calls + len(counted) > budget.max_tool_calls
        ):
            return False
        for name in set(counted):
            limit = budget.max_tool_calls_per_tool.get(name)
            if limit is not None and (
                self.tool_calls_per_tool.get(name, 0) + counted.count(name) > limit
            ):
                return False
        return True

    def count_tool_call(self, name: str) -> None:
        """Count a call that is about to run."""
        if name in UNRESTRICTED_TOOLS:
            return
        self.tool_calls += 1
        self.tool_calls_per_tool[name] = self.tool_calls_per_tool.get(name, 0) + 1

    def elapsed(self) -> float:
        """Seconds since the execution started."""
        return self._clock() - self._started

    def wall_time_exhausted(self) -> BudgetExhaustedError:
        """The failure for a run out of wall time."""
        limit = self.budget.max_wall_seconds
        assert limit is not None
        return self._exhausted("max_wall_seconds", limit, f"{self.elapsed():.2f} s elapsed")

    def usage(self) -> BudgetUsage:
        """Every counter now."""
        return BudgetUsage(
            total_tokens=self.total_tokens,
            cost_usd=self.cost_usd,
            tool_calls=self.tool_calls,
            tool_calls_per_tool=dict(self.tool_calls_per_tool),
            wall_seconds=round(self.elapsed(), 6),
            model_calls=self.model_calls,
            model_calls_without_tokens=self.without_tokens,
            model_calls_without_cost=self.without_cost,
        )

    def _exhausted(
        self, limit: BudgetLimit, value: float, what: str, *, tool: str | None = None
    ) -> BudgetExhaustedError:
        shown = f"{limit}[{tool!r}]" if tool is not None else limit
        return BudgetExhaustedError(
            f"Budget exhausted ({shown}={value}): {what}.",
            limit=limit,
            limit_value=value,
            used=self.usage().to_dict(),
            tool=tool,
        )
