"""How a run of the loop ended (``LoopOutcome``) and the usage of each model call it made
(``ModelCallRecord``): what the SDK turns into a ``RunResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentcycle.errors import AgentcycleError
from agentcycle.events import CompletionReason, ModelOperation, RunStatus
from agentcycle.messages import TokenUsage


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
