"""``Agent``: what an agent is (instructions, model, tools, run limits), not how it runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agentcycle.context_providers import ContextProvider, InstructionsContext
from agentcycle.errors import ConfigurationError
from agentcycle.guardrails import GuardrailOption
from agentcycle.handoffs import Handoff, agent_slug
from agentcycle.hooks import RuntimeHook
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.memory.provider import MemoryProvider
from agentcycle.models.base import Model, ModelRef, ModelSettings
from agentcycle.outputs import OutputRepair, OutputValidator
from agentcycle.prompts import PromptBundle
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.state import NoToolPolicy
from agentcycle.tools.base import Tool
from agentcycle.tools.sandbox import SandboxMode, SandboxPolicy

if TYPE_CHECKING:
    from agentcycle.mcp import MCPServersOption
    from agentcycle.sub_agents import SubAgent


@dataclass(frozen=True, slots=True)
class StopAtTools:
    """Tool-use behaviour: end the run with the output of the first of these tools to succeed."""

    tool_names: tuple[str, ...]


ToolUseBehavior = Literal["run_llm_again", "stop_on_first_tool"] | StopAtTools

_BEHAVIOR_NAMES = ("run_llm_again", "stop_on_first_tool")


def _check_tool_use_behavior(behavior: object) -> None:
    """Reject a malformed ``tool_use_behavior`` when the agent is built, not when it runs."""
    if isinstance(behavior, StopAtTools):
        names = behavior.tool_names
        if isinstance(names, tuple | list) and all(isinstance(n, str) and n for n in names):
            return
        raise ConfigurationError(
            f"StopAtTools.tool_names must be a tuple of tool names, got {names!r}"
        )
    if isinstance(behavior, str) and behavior in _BEHAVIOR_NAMES:
        return
    raise ConfigurationError(
        "tool_use_behavior must be 'run_llm_again', 'stop_on_first_tool' or "
        f"StopAtTools((...)), got {behavior!r}"
    )


Instructions = (
    str
    | PromptBundle
    | Callable[[InstructionsContext], str | PromptBundle | Awaitable[str | PromptBundle]]
)
"""A system prompt as text, a prompt bundle of named sections (``agentcycle.prompts``), or a
callable (sync or async) building either when a run starts."""


@dataclass(slots=True)
class Agent:
    """An agent definition. Unset limits and policies defer to the runner and run config.

    ``tools`` takes ``Tool`` objects or plain functions (wrapped with ``function_tool``).
    ``output_type`` makes ``task_finish`` require a structured ``output`` validated into that
    type, which becomes ``RunResult.final_output``.
    """

    name: str = "agent"
    instructions: Instructions | None = None
    model: Model | ModelRef | str | None = None
    model_settings: ModelSettings | None = None
    tools: Sequence[Tool | Callable[..., Any]] = field(default_factory=tuple)
    max_cycles: int | None = None
    no_tool_policy: NoToolPolicy | str | None = None
    tool_use_behavior: ToolUseBehavior = "run_llm_again"
    output_type: type[Any] | None = None
    allow_ask_user: bool = True
    max_invalid_tool_calls: int | None = None
    policy: ToolPolicy | None = None
    """The agent's own tool policy (the innermost layer; runner and run narrow it)."""
    shell_tools: bool = False
    """Offer ``bash`` and ``check_background_command`` (needs a local workspace)."""
    sandbox: SandboxPolicy | SandboxMode | str | None = None
    """Where ``bash`` commands run (``agentcycle.tools.sandbox``): a policy or a mode name
    (``"read-only"``, ``"workspace-write"``, ``"off"``); ``RunConfig.sandbox`` wins. ``None``:
    ``workspace-write`` where this host can sandbox, else ``off``."""
    hooks: Sequence[RuntimeHook] = ()
    """Runtime hooks; they run before the runner's and the run's (``agentcycle.hooks``)."""
    context_providers: Sequence[ContextProvider] = ()
    """Prompt fragment providers, asked once per run (``agentcycle.context_providers``)."""
    context_budget_chars: int | None = None
    """Characters of provider fragments the system prompt takes at most (the run's setting
    wins; default ``DEFAULT_CONTEXT_BUDGET_CHARS``)."""
    memory: MemoryPolicy | None = None
    """Context budgeting and compaction (``None``: the runner's or run's, else the defaults)."""
    memory_providers: Sequence[MemoryProvider] = ()
    """External memory (``agentcycle.memory.provider``); the runner's and the run's come
    after these."""
    skills_dirs: Sequence[str | Path] = field(default_factory=tuple)
    """Directories of skills (``agentcycle.skills``) this agent can activate; a run adds
    ``RunConfig.skills_dirs`` after these."""
    handoffs: Sequence[Agent | Handoff] = field(default_factory=tuple)
    """Agents this one can hand the conversation to, each offered as a ``transfer_to_<slug>``
    tool (``agentcycle.handoffs``)."""
    max_handoffs: int | None = None
    """Handoffs a run started with this agent may make (``RunConfig.max_handoffs`` wins;
    default 10)."""
    sub_agents: Mapping[str, SubAgent] = field(default_factory=dict)
    """Agents this one can delegate tasks to, by id: they add the ``create_sub_task`` and
    ``sub_task_status`` tools (``agentcycle.sub_agents``)."""
    mcp_servers: MCPServersOption = ()
    """MCP servers whose tools this agent offers, as ``<server>__<tool>`` after its handoff
    tools (``agentcycle.mcp``): configurations (each run starts and stops them) or a host's
    open ``MCPServers`` (shared across runs)."""

    input_guardrails: Sequence[GuardrailOption] = ()
    """Checks of the run's input, before its model is resolved; one that trips stops the run
    (``agentcycle.guardrails``). ``RunConfig.input_guardrails`` run after these."""
    output_guardrails: Sequence[GuardrailOption] = ()
    """Checks of the final answer of a run this agent completes, first in the output
    handling order (``agentcycle.outputs``)."""
    output_validator: OutputValidator | None = None
    """Accepts (``None``) or rejects (``Reject``) the final output, after ``output_type``
    coercion (``agentcycle.outputs``). Off by default."""
    output_repair: OutputRepair | None = None
    """At most one tools-free model call that fixes a rejected final output
    (``agentcycle.outputs``). Off by default."""

    def __post_init__(self) -> None:
        _check_tool_use_behavior(self.tool_use_behavior)
        if self.output_validator is not None and not callable(self.output_validator):
            raise ConfigurationError(
                "output_validator must be a function (ctx, output) -> Reject | None, got "
                f"{type(self.output_validator).__name__}"
            )
        repair = self.output_repair
        if repair is not None and not isinstance(repair, OutputRepair):
            raise ConfigurationError(
                f"output_repair must be an OutputRepair, got {type(repair).__name__}"
            )
        if repair is not None and self.output_validator is None and self.output_type in (None, str):
            # Nothing could ever reject the output, so the repair would never run.
            raise ConfigurationError(
                "output_repair needs something that can reject the output: an output_validator "
                "or an output_type"
            )
        if self.sandbox is not None:
            SandboxPolicy.of(self.sandbox)  # an unknown mode fails here, not in a run

    def as_tool(self, name: str | None = None, description: str | None = None) -> Tool:
        """This agent as a tool another agent can call: it takes ``task_description``
        (required) and ``output_requirements``, runs this agent as a child run of the calling
        run, and returns the child's final output (see ``tools/builtin/agent_tool.py``).
        ``name`` defaults to the agent's name as a slug."""
        from agentcycle.tools.builtin.agent_tool import agent_tool

        return agent_tool(self, name=name or agent_slug(self.name), description=description)
