"""The run environment: what one run of the loop works with, and the agent in control.

Assembly (``agentcycle.assembly``) builds one ``RunEnvironment`` per run. The run-wide parts
(state, event bus, history, tool state, workspace, scope, session, budget meter, child runs,
approvals, hooks, memory) stay for the whole run; ``agent`` is the agent in control, an
``AgentProfile`` swapped whole when a handoff gives control to another agent. Each loop part
takes only the pieces it uses; the parts that depend on the agent in control hold the
environment as an ``AgentSeat`` and read ``agent`` at each step, so a handoff needs no
callbacks to reach them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from agentcycle.events import RunEvent
from agentcycle.guardrails import Guardrail
from agentcycle.hooks import RuntimeHook
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.memory.provider import MemoryProvider
from agentcycle.memory.session_store import SessionMemoryStore
from agentcycle.messages import Message, SystemMessage
from agentcycle.models.base import Model, ModelInfo, ModelSettings, ToolSpec
from agentcycle.outputs import OutputValidator
from agentcycle.pricing import ModelPrice
from agentcycle.runtime.approvals import ApprovalProvider
from agentcycle.runtime.budget_meter import BudgetMeter
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.sessions.base import Session
from agentcycle.state import NoToolPolicy, RunSpec, RunState, RunToolState
from agentcycle.tools.base import ChildRunner, RunScope, Tool
from agentcycle.workspace.base import WorkspaceBackend

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from agentcycle.runtime._durable_log import DurableLog
    from agentcycle.runtime._guardrails import GuardrailCheck


@dataclass(frozen=True, slots=True)
class AgentBehavior:
    """The per-agent settings the loop consults every cycle."""

    settings: ModelSettings
    no_tool_policy: NoToolPolicy
    tool_use_behavior: str
    stop_at_tool_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, spec: RunSpec) -> AgentBehavior:
        """The behaviour of the agent a run started with, as its spec fixed it."""
        return cls(
            settings=spec.model_settings,
            no_tool_policy=spec.no_tool_policy,
            tool_use_behavior=spec.tool_use_behavior,
            stop_at_tool_names=spec.stop_at_tool_names,
        )


@dataclass(frozen=True, slots=True)
class RepairCall:
    """An agent's output repair, resolved: ``model`` ``None`` repairs with the agent's own
    model (and its settings under ``settings``); otherwise ``settings`` are the repair model's
    own, complete."""

    model: Model | None
    settings: ModelSettings
    price: ModelPrice | None
    instructions: str | None
    max_tokens: int


@dataclass(frozen=True, slots=True)
class OutputPolicy:
    """What an agent does with its final output (``runtime/_output_checks.py``): output
    guardrails, ``output_type`` coercion (``adapter``), the validator, the repair. The empty
    policy (every agent without them) costs the run nothing."""

    guardrails: tuple[Guardrail, ...] = ()
    adapter: TypeAdapter[Any] | None = None
    """Validates outputs into the agent's ``output_type`` (``None`` without one, or for
    ``str``)."""
    validator: OutputValidator | None = None
    repair: RepairCall | None = None

    @property
    def active(self) -> bool:
        """True when a completed run's output has anything to go through."""
        return bool(self.guardrails) or self.adapter is not None or self.validator is not None


NO_OUTPUT_CHECKS = OutputPolicy()
"""The policy of an agent without output guardrails, output type, validator or repair."""


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """An agent resolved for the loop: everything that changes when another agent takes
    control (its model and price, its tools and their policy, its prompt and behaviour)."""

    name: str
    model: Model
    model_info: ModelInfo
    endpoint: str | None
    """The settings-file endpoint ``model`` was resolved to (its first), if any."""
    price: ModelPrice | None
    """The model's price: every model call's usage carries its cost."""
    tools: Mapping[str, Tool]
    tool_specs: tuple[ToolSpec, ...]
    policy: ToolPolicy
    system: SystemMessage
    """Its system prompt (with its prompt bundle's sections)."""
    behavior: AgentBehavior
    output: OutputPolicy = NO_OUTPUT_CHECKS
    """Output guardrails, coercion, validation and repair of this agent's final output."""


AgentSwitcher = Callable[[str], Awaitable[AgentProfile]]
"""Resolves an agent of the run's handoff graph by name (raises a typed error if it cannot)."""


class AgentSeat(Protocol):
    """Where a loop part reads the agent in control; a handoff replaces it between cycles."""

    @property
    def agent(self) -> AgentProfile:
        """The agent in control now."""
        ...


@dataclass(frozen=True, slots=True)
class StartupDiagnostic:
    """Something found while compiling the run (a skill that failed to load ...), emitted as a
    ``diagnostic`` event right after ``agent_started``."""

    code: str
    details: dict[str, Any]
    level: Literal["debug", "info", "warning", "error"] = "warning"


@dataclass(frozen=True, slots=True)
class StartupEvent:
    """A typed event found while compiling the run (an MCP server that started ...), emitted
    with the diagnostics right after ``agent_started``."""

    event_type: type[RunEvent]
    payload: dict[str, Any]


StartupReport = StartupDiagnostic | StartupEvent
"""What compiling a run reports at its start."""


@dataclass(slots=True)
class RunEnvironment:
    """What one run of the loop works with. ``history`` starts with the initial messages and
    is appended to in place; ``agent`` is the agent in control (a handoff replaces it)."""

    state: RunState
    bus: EventBus
    history: list[Message]
    tool_state: RunToolState
    agent: AgentProfile
    workspace: WorkspaceBackend | None = None
    context: Any = None
    """The host's own object (``RunConfig.context``), passed to tools and hooks as is."""
    language: str = "en-US"
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    scope: RunScope = field(default_factory=RunScope)
    session: Session | None = None
    meter: BudgetMeter | None = None
    """The run's budget meter (a child run shares its parent's); ``None`` without a budget."""
    children: ChildRunner | None = None
    """Starts child runs for the run's tools (``ToolContext.children``)."""
    approvals: ApprovalProvider | None = None
    hooks: Sequence[RuntimeHook] = ()
    """In call order: the agent's, the runner's, the run's."""
    memory: MemoryPolicy = field(default_factory=MemoryPolicy)
    memory_providers: tuple[MemoryProvider, ...] = ()
    """In call order: the agent's, the runner's, the run's."""
    session_memory_store: SessionMemoryStore | None = None
    """Where session memory keeps notes; set only when session memory is on and the run has a
    session."""
    switch_agent: AgentSwitcher | None = None
    diagnostics: tuple[StartupReport, ...] = ()
    input_checks: tuple[GuardrailCheck, ...] = ()
    """The verdicts of the input guardrails, which ran while the run was compiled (the loop
    emits them after ``agent_started``; a run one of them stopped makes no cycle)."""
    durable: DurableLog | None = None
    """The run's log writer when it has a checkpoint store (``runtime/durable.py``); ``None``
    keeps the loop free of any durable work."""
