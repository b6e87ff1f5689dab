"""``RunConfig``: per-run settings that override the runner's and the agent's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentcycle.budget import RunBudget
from agentcycle.context_providers import ContextProvider
from agentcycle.guardrails import GuardrailOption
from agentcycle.hooks import RuntimeHook
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.memory.provider import MemoryProvider
from agentcycle.models.base import Model, ModelRef, ModelSettings
from agentcycle.models.provider import ModelProvider
from agentcycle.pricing import PriceTable
from agentcycle.runtime.approvals import ApprovalProvider
from agentcycle.runtime.durable import Durability
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.sessions.base import Session
from agentcycle.state import NoToolPolicy
from agentcycle.tools.sandbox import SandboxMode, SandboxPolicy
from agentcycle.workspace.base import WorkspaceBackend

if TYPE_CHECKING:
    from agentcycle.mcp import MCPServersOption
    from agentcycle.stores.checkpoints import CheckpointStore
    from agentcycle.stores.events import RunEventStore
    from agentcycle.tracing.spans import TraceProcessor


_ADDING_UP = (
    "hooks",
    "context_providers",
    "memory_providers",
    "input_guardrails",
    "output_guardrails",
)
"""The fields whose layers add up (base first) rather than replace each other."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """How to run an agent. ``None`` means "not set here": the layer below decides.

    Model selection: ``model`` (a ``Model`` instance, a ``ModelRef`` or a model name) beats the
    agent's; names resolve through ``model_provider``, or else through the settings file
    (``settings_file``, ``AGENTCYCLE_SETTINGS``, ``./local_settings.*``) and ``default_backend``.
    """

    model: Model | ModelRef | str | None = None
    model_provider: ModelProvider | None = None
    settings_file: str | Path | None = None
    default_backend: str | None = None
    model_settings: ModelSettings | None = None
    """Sampling and request settings over the model's and the agent's (set fields win)."""
    workspace: str | Path | WorkspaceBackend | None = None
    """The files the run's tools work on: a directory path (a local workspace) or a backend;
    ``None``: no workspace, so no file tools."""
    max_cycles: int | None = None
    """Cycles the run may take (``None``: the agent's setting)."""
    no_tool_policy: NoToolPolicy | str | None = None
    """What a model answer without a tool call does (``None``: the agent's setting)."""
    max_invalid_tool_calls: int | None = None
    """Malformed tool calls in a row that fail the run (``None``: the agent's setting)."""
    max_handoffs: int | None = None
    """Handoffs a run may make in all (``None``: the agent's setting, else 10)."""
    language: str | None = None
    """The language of the runtime's own texts to the model (its system prompt sections,
    reminders and notices): ``"en-US"`` (``None``: the default) or ``"zh-CN"``; another is a
    ``ConfigurationError``."""
    policy: ToolPolicy | None = None
    """Narrows the agent's (and the runner's) tool policy for this run."""
    approval_provider: ApprovalProvider | None = None
    """Decides approval requests first. Without a decision, a run started with
    ``Runner.start`` waits for ``RunHandle.approve``; ``Runner.run`` and ``stream`` end in
    ``wait_user`` with the call pending."""
    live_approvals: bool | None = None
    """Runs started with ``Runner.start`` / ``start_sync`` / ``start_resumed`` wait for
    ``RunHandle.approve`` (up to ``approval_timeout``) unless this is ``False``, which ends
    them in ``wait_user`` instead. ``Runner.run``, ``run_sync``, ``stream`` and ``resume``
    give no handle to approve with, so they always end in ``wait_user``."""
    approval_timeout: float | None = None
    """Seconds a live run waits for ``RunHandle.approve`` before the decision is ``timeout``
    (``None``: 300)."""
    hooks: Sequence[RuntimeHook] = ()
    """Runtime hooks. Layers add up: the agent's run first, then the runner's, then the
    run's (``agentcycle.hooks``)."""
    context_providers: Sequence[ContextProvider] = ()
    """Prompt fragment providers, after the agent's (and the runner's) ones."""
    input_guardrails: Sequence[GuardrailOption] = ()
    """Checks of the run's input, after the agent's (and the runner's); they run before the
    model is resolved (``agentcycle.guardrails``)."""
    output_guardrails: Sequence[GuardrailOption] = ()
    """Checks of the final answer, after the agent's (and the runner's)."""
    context_budget_chars: int | None = None
    """Characters of provider fragments the system prompt takes at most (``None``: the
    agent's setting, else ``DEFAULT_CONTEXT_BUDGET_CHARS``)."""
    budget: RunBudget | None = None
    """Limits on tokens, tool calls, wall time and cost (``agentcycle.budget``); merges limit by
    limit with the layer below."""
    price_table: PriceTable | None = None
    """Model prices; a price found here beats the settings file's ``pricing`` for the model.
    With a price every model call's usage carries ``cost_usd``."""
    memory: MemoryPolicy | None = None
    """Context budgeting, compaction and session memory; replaces the agent's policy as a
    whole."""
    memory_providers: Sequence[MemoryProvider] = ()
    """External memory (``agentcycle.memory.provider``), after the agent's (and the
    runner's)."""
    event_store: RunEventStore | None = None
    """Persists every event of the run (``agentcycle.stores``), written in batches off the
    loop. ``RunHandle.result()`` returns once all of them are stored and raises
    ``EventStoreWriteError`` if a write failed."""
    trace_processors: Sequence[TraceProcessor] | None = None
    """Receive the run's spans (``agentcycle.tracing``), derived from its events. Set here, it
    replaces the runner's list."""
    session: Session | None = None
    """Conversation history across runs: the run starts from the session's messages and,
    when it ends completed, waiting for the user or out of cycles, appends its turn once
    (keyed by the run id). Resume a run with the session it started with."""
    mcp_servers: MCPServersOption | None = None
    """MCP servers whose tools every agent of the run offers, after the agent's own MCP
    servers (``agentcycle.mcp``); configurations are started and stopped by the run, a host's
    ``MCPServers`` is shared and left open."""
    context: Any = None
    """The host's own object, handed to tools (``ToolContext.context``), hooks and
    instruction functions as is."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Kept with the run (its spec, checkpoints, a Celery agent factory's argument)."""
    skills_dirs: Sequence[str | Path] | None = None
    """More skill directories for this run, after the agent's ``skills_dirs``."""
    skills_prompt_budget: int | None = None
    """Characters the skills section of the system prompt may take (``None``: 4,000)."""
    shell_env: Sequence[str] | None = None
    """Host environment variables ``bash`` commands get beyond the base allow-list (``PATH``,
    ``HOME``, ``LANG``, ``LC_*``, ``TMPDIR`` ...): exact names, or patterns such as ``MYAPP_*``.
    A credential-looking name (``*KEY*``, ``*TOKEN*``, ``*SECRET*`` ...) passes only when named
    exactly."""
    sandbox: SandboxPolicy | SandboxMode | str | None = None
    """Where ``bash`` commands run (``agentcycle.tools.sandbox``), over the agent's setting:
    a policy or a mode name (``"read-only"``, ``"workspace-write"``, ``"off"``). Unset on both:
    ``workspace-write`` where this host can sandbox, else ``off``."""
    read_sensitive_files: bool | None = None
    """Let ``read_file``, ``edit_file`` and ``search_files`` read files that may hold secrets
    (``.env*``, keys, credentials, ``local_settings.*``); by default they refuse with
    ``sensitive_path``. The settings file in use is refused either way."""
    checkpoint_store: CheckpointStore | str | None = None
    """Makes the run durable: its log (events and per-cycle checkpoints, the same records) goes
    to this store, or to the store this URL names (``open_checkpoint_store``), and
    ``Runner.resume_run`` continues it from there, in this process or another."""
    durability: Durability | None = None
    """Lease TTL and the policy for unverifiable effects of a durable run (``None``: the
    defaults of ``Durability``)."""
    execution: Literal["inline", "thread", "celery"] = "inline"
    """Where the loop runs: ``"inline"`` (on the caller's event loop), ``"thread"`` (on an
    event loop of its own in a worker thread; events reach the handle the same way; a call
    that needs an approval nobody decides ends the run waiting, as ``live_approvals=False``:
    ``live_approvals=True`` is refused) or ``"celery"`` (on Celery workers, extra ``celery``:
    submitted with ``Runner.submit`` and followed through the checkpoint store, see
    ``agentcycle.workers``). Anything else is a ``ConfigurationError`` when the run is
    compiled."""
    broker: str | None = None
    """The Celery broker URL of ``execution="celery"`` (``None``: ``AGENTCYCLE_BROKER_URL``,
    else the local Redis, ``redis://127.0.0.1:6379/0``)."""
    run_id: str | None = None
    """The run's id (``None``: a new ``run_…`` id); one a store holds already is refused."""
    trace_id: str | None = None
    """The trace the run's spans join (``None``: a new one)."""

    def over(self, base: RunConfig | None) -> RunConfig:
        """This config layered over ``base``: fields set here win; model settings and budgets
        merge field by field; metadata merges key by key; hooks, context providers, memory
        providers and guardrails add up (base first)."""
        if base is None:
            return self
        updates: dict[str, Any] = {}
        for f in fields(self):
            mine = getattr(self, f.name)
            if f.name == "model_settings":
                theirs = base.model_settings
                updates[f.name] = theirs.merge(mine) if theirs is not None else mine
            elif f.name == "metadata":
                updates[f.name] = {**base.metadata, **self.metadata}
            elif f.name == "policy":
                updates[f.name] = base.policy.then(mine) if base.policy is not None else mine
            elif f.name in _ADDING_UP:
                updates[f.name] = (*getattr(base, f.name), *mine)
            elif f.name == "budget":
                updates[f.name] = base.budget.merge(mine) if base.budget is not None else mine
            elif f.name == "execution":
                updates[f.name] = mine
            else:
                updates[f.name] = mine if mine is not None else getattr(base, f.name)
        return replace(self, **updates)
