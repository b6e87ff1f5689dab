"""Compile one agent of a run: its model, tools, policy, system prompt and behaviour
(``AgentParts``), against what every agent of the run shares (``RunFrame``). The run's root
agent is compiled when the run is; a handoff target when control passes to it (``Switcher``)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from agentcycle.agent import Agent, InstructionsContext, StopAtTools
from agentcycle.assembly._outputs import output_policy, unresolved_model
from agentcycle.assembly._resolution import (
    first_set,
    layered_context_providers,
    model_price,
    resolve_model,
)
from agentcycle.assembly._tools import (
    assemble_tools,
    discover_agent_skills,
    mcp_events,
    sandbox_diagnostics,
    skill_diagnostics,
)
from agentcycle.context_providers import DEFAULT_CONTEXT_BUDGET_CHARS, ContextProvider
from agentcycle.errors import ConfigurationError
from agentcycle.handoffs import handoff_graph
from agentcycle.mcp import RunMCP
from agentcycle.messages import SystemMessage, UserMessage, content_text
from agentcycle.models.base import Model, ModelSettings, ToolSpec
from agentcycle.models.provider import ProvidedModel
from agentcycle.pricing import ModelPrice
from agentcycle.prompts import PromptBundle
from agentcycle.run_config import RunConfig
from agentcycle.runtime import prompts
from agentcycle.runtime._context import render_context as render_context_fragments
from agentcycle.runtime.environment import (
    NO_OUTPUT_CHECKS,
    AgentBehavior,
    AgentProfile,
    OutputPolicy,
    StartupReport,
)
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.skills import (
    DEFAULT_SKILLS_PROMPT_BUDGET,
    render_skills_section,
)
from agentcycle.state import NoToolPolicy
from agentcycle.tools.builtin.handoff import HandoffCounter
from agentcycle.tools.builtin.skills import ACTIVATE_SKILL
from agentcycle.tools.registry import ToolRegistry
from agentcycle.workspace.base import WorkspaceBackend


@dataclass(frozen=True, slots=True)
class RunFrame:
    """What every agent of one run is compiled against."""

    config: RunConfig
    run_id: str
    run_input: Any
    language: str
    workspace: WorkspaceBackend | None
    counter: HandoffCounter
    models: list[Model] = field(default_factory=list)
    """Every model the run tree resolved (shared with its child runs), to close at its end."""
    fragments: tuple[ContextProvider, ...] = ()
    """Run-level prompt fragments (session notes, memory recall) after each agent's own."""
    mcp: RunMCP = field(default_factory=RunMCP)
    """The run's MCP servers: those it starts are shared by its agents and closed with it."""


@dataclass(slots=True)
class AgentParts:
    """One agent of a run, resolved: model, tools, policy, system prompt, behaviour."""

    provided: ProvidedModel
    price: ModelPrice | None
    registry: ToolRegistry
    policy: ToolPolicy
    tool_specs: tuple[ToolSpec, ...]
    """The tools offered to the model (the policy lets them through)."""
    system: SystemMessage
    behavior: AgentBehavior
    diagnostics: tuple[StartupReport, ...]
    output: OutputPolicy = NO_OUTPUT_CHECKS


def blocked_parts(agent: Agent, config: RunConfig) -> AgentParts:
    """The parts of an agent whose run an input guardrail blocked: no model resolved, no
    tools, no prompt (the run makes no model call)."""
    no_settings = ModelSettings()
    return AgentParts(
        provided=unresolved_model(agent, config),
        price=None,
        registry=ToolRegistry(),
        policy=ToolPolicy(),
        tool_specs=(),
        system=_NO_PROMPT,
        behavior=AgentBehavior(
            settings=no_settings,
            no_tool_policy=NoToolPolicy.CONTINUE,
            tool_use_behavior="run_llm_again",
        ),
        diagnostics=(),
    )


class Switcher:
    """Resolves a handoff target of the run by name (the run's ``AgentSwitcher``)."""

    __slots__ = ("_frame", "_root")

    def __init__(self, root: Agent, frame: RunFrame) -> None:
        self._root = root
        self._frame = frame

    async def __call__(self, name: str) -> AgentProfile:
        target = handoff_graph(self._root).get(name)
        if target is None:
            raise ConfigurationError(f"no agent named {name!r} in this run's handoff graph")
        parts = await compile_agent(target, self._frame, render_context=True)
        return agent_profile(target.name, parts)


def agent_profile(name: str, parts: AgentParts) -> AgentProfile:
    return AgentProfile(
        name=name,
        model=parts.provided.model,
        model_info=parts.provided.info,
        endpoint=parts.provided.endpoint,
        price=parts.price,
        tools={tool.name: tool for tool in parts.registry},
        tool_specs=parts.tool_specs,
        policy=parts.policy,
        system=parts.system,
        behavior=parts.behavior,
        output=parts.output,
    )


async def compile_agent(agent: Agent, frame: RunFrame, *, render_context: bool) -> AgentParts:
    """Resolve one agent of a run. ``render_context`` asks the context providers for the
    system prompt (a resumed run keeps the prompt it has)."""
    config = frame.config
    language = frame.language
    provided = resolve_model(agent, config)
    if not any(model is provided.model for model in frame.models):
        frame.models.append(provided.model)
    price = model_price(config, provided)
    settings = provided.settings.merge(agent.model_settings).merge(config.model_settings)
    skills = await discover_agent_skills(agent, config)
    mcp = await frame.mcp.tools(agent.mcp_servers, config.mcp_servers)
    registry = assemble_tools(
        agent,
        skills,
        workspace=frame.workspace is not None,
        multimodal=provided.info.native_multimodal,
        counter=frame.counter,
        config=config,
        mcp_tools=mcp.tools,
    )
    policy = (agent.policy or ToolPolicy()).then(config.policy)
    diagnostics: tuple[StartupReport, ...] = (
        *skill_diagnostics(skills),
        *mcp_events(mcp),
        *sandbox_diagnostics(agent, config),
    )
    system = _NO_PROMPT
    if render_context:
        ctx = InstructionsContext(
            run_id=frame.run_id,
            agent=agent,
            input=frame.run_input,
            context=config.context,
            language=language,
        )
        bundle = prompts.agent_bundle(await _instructions(agent, ctx))
        skills_text = None
        if ACTIVATE_SKILL in registry and policy.offers(registry[ACTIVATE_SKILL]):
            budget = first_set(config.skills_prompt_budget, DEFAULT_SKILLS_PROMPT_BUDGET)
            skills_text = render_skills_section(
                skills.skills,
                request=request_text(frame.run_input),
                budget=budget,
                language=language,
            )
        context_budget = first_set(
            config.context_budget_chars, agent.context_budget_chars, DEFAULT_CONTEXT_BUDGET_CHARS
        )
        if not isinstance(context_budget, int) or context_budget < 0:
            raise ConfigurationError(
                f"context_budget_chars must be an integer >= 0, got {context_budget!r}"
            )
        context = await render_context_fragments(
            (*layered_context_providers(agent, config), *frame.fragments), ctx, context_budget
        )
        # Last and volatile: the constant part of the prompt stays a cacheable prefix.
        system = prompts.run_system_message(
            bundle, skills=skills_text, context=context.text or None, language=language
        )
        diagnostics = (*diagnostics, *context.diagnostics)
    behavior = agent.tool_use_behavior
    return AgentParts(
        provided=provided,
        price=price,
        registry=registry,
        policy=policy,
        tool_specs=tuple(s for s in registry.specs() if policy.offers(registry[s.name])),
        system=system,
        behavior=AgentBehavior(
            settings=settings,
            no_tool_policy=NoToolPolicy(
                first_set(config.no_tool_policy, agent.no_tool_policy, NoToolPolicy.CONTINUE)
            ),
            tool_use_behavior="stop_at_tool_names"
            if isinstance(behavior, StopAtTools)
            else behavior,
            stop_at_tool_names=behavior.tool_names if isinstance(behavior, StopAtTools) else (),
        ),
        diagnostics=diagnostics,
        output=output_policy(agent, config, frame.models),
    )


_NO_PROMPT = SystemMessage(content="")
"""The system prompt slot of an agent compiled for a resumed run (which keeps its own)."""


def request_text(run_input: Any) -> str:
    """The user's words in the run input (what skill relevance is judged against)."""
    if isinstance(run_input, str):
        return run_input
    messages = run_input if isinstance(run_input, list | tuple) else ()
    return "\n".join(content_text(m.content) for m in messages if isinstance(m, UserMessage))


async def _instructions(agent: Agent, ctx: InstructionsContext) -> str | PromptBundle | None:
    instructions = agent.instructions
    if instructions is None or isinstance(instructions, str | PromptBundle):
        return instructions
    if not callable(instructions):
        raise ConfigurationError(
            "instructions must be a string, a PromptBundle or a callable returning one, "
            f"got {type(instructions).__name__}"
        )
    value = instructions(ctx)
    if inspect.isawaitable(value):
        value = await value
    if not isinstance(value, str | PromptBundle):
        raise ConfigurationError(
            f"instructions callable returned {type(value).__name__}, not str or PromptBundle"
        )
    return value
