"""Compile Agent + input + RunConfig into what the loop runs: a frozen ``RunSpec``, the resolved
model, the tool table and the initial history. The same compiled run executes inline, in a
thread or on a Celery worker. One agent's compilation lives in ``_agent_parts``, settings
resolution in ``_resolution``, the tool table in ``_tools``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agentcycle.agent import Agent
from agentcycle.assembly._agent_parts import (
    AgentParts,
    RunFrame,
    Switcher,
    agent_profile,
    blocked_parts,
    compile_agent,
    request_text,
)
from agentcycle.assembly._outputs import check_input
from agentcycle.assembly._resolution import (
    first_set,
    layered_hooks,
    layered_memory_providers,
    positive,
    resolve_workspace,
    run_language,
    session_memory_store,
)
from agentcycle.budget import RunBudget
from agentcycle.context_providers import ContextProvider
from agentcycle.errors import ConfigurationError
from agentcycle.events import RunStatus
from agentcycle.handoffs import DEFAULT_MAX_HANDOFFS, handoff_graph
from agentcycle.hooks import RuntimeHook
from agentcycle.mcp import RunMCP
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.memory.provider import MemoryProvider
from agentcycle.memory.session_store import SessionMemoryStore
from agentcycle.messages import Message, SystemMessage, UserMessage
from agentcycle.models.base import Model
from agentcycle.run_config import RunConfig
from agentcycle.runtime._guardrails import GuardrailCheck, stopped_by
from agentcycle.runtime._memory_providers import (
    MEMORY_PROVIDER_FAILED,
    RecallFragment,
    SessionNotesFragment,
)
from agentcycle.runtime._session_turns import check_resume_session
from agentcycle.runtime.approvals import ApprovalDecision, ApprovalProvider, as_decision
from agentcycle.runtime.environment import (
    AgentBehavior,
    AgentProfile,
    AgentSwitcher,
    StartupDiagnostic,
    StartupReport,
)
from agentcycle.runtime.event_bus import new_id
from agentcycle.runtime.loop import ResumeWork
from agentcycle.state import RunSpec, RunState, RunToolState
from agentcycle.tools.builtin.handoff import HandoffCounter
from agentcycle.workspace.base import WorkspaceBackend

DEFAULT_MAX_CYCLES = 10
DEFAULT_MAX_INVALID_TOOL_CALLS = 5
_T = TypeVar("_T")
_DEFAULT_MEMORY = MemoryPolicy()  # immutable: shared by every run without a memory policy


@dataclass(slots=True)
class CompiledRun:
    """A run ready for the loop. ``agent`` is the agent in control (the root agent, or the
    last handoff's target for a resumed run); ``switch_agent`` resolves the other agents of
    the handoff graph."""

    state: RunState
    agent: AgentProfile
    history: list[Message]
    tool_state: RunToolState
    workspace: WorkspaceBackend | None
    context: Any
    language: str
    approvals: ApprovalProvider | None
    memory: MemoryPolicy
    switch_agent: AgentSwitcher | None
    hooks: tuple[RuntimeHook, ...] = ()
    budget: RunBudget | None = None
    diagnostics: tuple[StartupReport, ...] = ()
    memory_providers: tuple[MemoryProvider, ...] = ()
    session_memory_store: SessionMemoryStore | None = None
    models: list[Model] = field(default_factory=list)
    """Every model the run, its handoffs and its child runs resolved (grows as they do):
    ``RunHandle.release_model_clients`` closes their clients."""
    mcp: RunMCP = field(default_factory=RunMCP)
    """The MCP servers the run started (closed with the run's scope)."""
    input_checks: tuple[GuardrailCheck, ...] = ()
    """The input guardrails' verdicts (they ran before the model was resolved)."""


async def compile_run(
    agent: Agent,
    run_input: Any,
    config: RunConfig,
    *,
    parent_run_id: str | None = None,
    models: list[Model] | None = None,
    tool_state: RunToolState | None = None,
) -> CompiledRun:
    """Resolve everything a run needs (see ``_compile_run``); the MCP servers it started are
    stopped again when it fails, since no run will close them."""
    mcp = RunMCP()
    compiling = _compile_run(
        agent,
        run_input,
        config,
        parent_run_id=parent_run_id,
        models=models,
        tool_state=tool_state,
        mcp=mcp,
    )
    return await _closing_on_failure(mcp, compiling)


async def _compile_run(
    agent: Agent,
    run_input: Any,
    config: RunConfig,
    *,
    parent_run_id: str | None,
    models: list[Model] | None,
    tool_state: RunToolState | None,
    mcp: RunMCP,
) -> CompiledRun:
    """Resolve everything a run needs; configuration errors surface here, before any event.
    With a session, its messages come between the system prompt and the new input.
    ``parent_run_id`` makes it a child run of that run; ``models`` is then the parent's
    ``CompiledRun.models``, so the models the child resolves are closed with the parent's.
    ``tool_state`` is the tools' state to start from (a sub-task's follow-up continues its
    last turn's todos, files seen and active skills), else a fresh one."""
    check_execution(config)
    run_id = config.run_id or new_id("run")
    trace_id = config.trace_id or new_id("trace")
    language = run_language(config)
    if agent.handoffs:
        handoff_graph(agent)  # refuse an ambiguous graph before the run starts
    max_handoffs = positive(
        "max_handoffs", first_set(config.max_handoffs, agent.max_handoffs, DEFAULT_MAX_HANDOFFS)
    )
    workspace = resolve_workspace(config.workspace)
    memory = first_set(config.memory, agent.memory, _DEFAULT_MEMORY)
    memory_providers = layered_memory_providers(agent, config)
    session = config.session
    notes_store = session_memory_store(memory, session, workspace)
    notes = memory.session_memory
    fragments: list[ContextProvider] = []
    if notes_store is not None and session is not None and notes is not None:
        fragments.append(SessionNotesFragment(notes_store, session.session_id, notes.prompt_chars))
    query = request_text(run_input)
    fragments.extend(
        RecallFragment(p, query, memory.recall_limit, memory.recall_chars) for p in memory_providers
    )
    frame = RunFrame(
        config=config,
        run_id=run_id,
        run_input=run_input,
        language=language,
        workspace=workspace,
        counter=HandoffCounter(limit=max_handoffs),
        models=[] if models is None else models,
        fragments=tuple(fragments),
        mcp=mcp,
    )
    input_checks = await check_input(agent, config, run_id, run_input, language)
    if stopped_by(input_checks) is None:
        parts = await compile_agent(agent, frame, render_context=True)
    else:
        parts = blocked_parts(agent, config)
    memory_diagnostics = [
        StartupDiagnostic(MEMORY_PROVIDER_FAILED, r.failure)
        for r in frame.fragments
        if isinstance(r, RecallFragment) and r.failure
    ]
    if notes is not None and session is None:
        memory_diagnostics.append(
            StartupDiagnostic(
                "session_memory_inactive",
                {"reason": "the run has no session (RunConfig.session)"},
                level="info",
            )
        )
    history: list[Message] = [parts.system]
    if session is not None:
        history.extend(await session.get_items())
    session_cursor = len(history) if session is not None else None
    history.extend(_input_messages(run_input))
    behavior = parts.behavior
    spec = RunSpec(
        run_id=run_id,
        trace_id=trace_id,
        agent_name=agent.name,
        backend=parts.provided.model.backend,
        model=parts.provided.model.name,
        model_settings=behavior.settings,
        tool_names=tuple(s.name for s in parts.tool_specs),
        max_cycles=positive(
            "max_cycles", first_set(config.max_cycles, agent.max_cycles, DEFAULT_MAX_CYCLES)
        ),
        no_tool_policy=behavior.no_tool_policy,
        tool_use_behavior=behavior.tool_use_behavior,
        stop_at_tool_names=behavior.stop_at_tool_names,
        max_invalid_tool_calls=positive(
            "max_invalid_tool_calls",
            first_set(
                config.max_invalid_tool_calls,
                agent.max_invalid_tool_calls,
                DEFAULT_MAX_INVALID_TOOL_CALLS,
            ),
        ),
        input=run_input if isinstance(run_input, str) else None,
        initial_messages=tuple(history),
        session_id=session.session_id if session is not None else None,
        parent_run_id=parent_run_id,
        max_handoffs=max_handoffs,
        metadata=dict(config.metadata),
    )
    return _compiled(
        RunState(spec=spec, session_cursor=session_cursor),
        parts,
        frame,
        agent,
        history=history,
        tool_state=tool_state if tool_state is not None else RunToolState(),
        memory=memory,
        memory_providers=memory_providers,
        session_memory_store=notes_store,
        diagnostics=memory_diagnostics,
        input_checks=input_checks,
    )


async def compile_resume(
    agent: Agent,
    state: RunState,
    config: RunConfig,
    *,
    run_input: Any = None,
    approvals: Mapping[str, ApprovalDecision | str] | None = None,
) -> tuple[CompiledRun, ResumeWork]:
    """Prepare a stopped run to continue (see ``_compile_resume``); the MCP servers it started
    are stopped again when it fails."""
    mcp = RunMCP()
    compiling = _compile_resume(
        agent, state, config, run_input=run_input, approvals=approvals, mcp=mcp
    )
    return await _closing_on_failure(mcp, compiling)


async def _closing_on_failure(mcp: RunMCP, compiling: Awaitable[_T]) -> _T:
    """``compiling``'s result; when it fails, the MCP servers it started are stopped (no run
    will close them)."""
    try:
        return await compiling
    except BaseException:
        await asyncio.shield(mcp.aclose())
        raise


async def _compile_resume(
    agent: Agent,
    state: RunState,
    config: RunConfig,
    *,
    run_input: Any,
    approvals: Mapping[str, ApprovalDecision | str] | None,
    mcp: RunMCP,
) -> tuple[CompiledRun, ResumeWork]:
    """Prepare a stopped run to continue: the same spec and history (context providers are not
    asked again), a freshly resolved model and tool table (tools are code, so the agent must
    still offer every tool the run had), the pending calls with the host's decisions, the
    user's new input, and the agent's and config's hooks. ``agent`` is the agent the run
    started with; a run that stopped after a handoff continues with the agent in control,
    found by name in ``agent``'s handoff graph."""
    check_execution(config)
    state = RunState.from_json(state.to_json())  # never mutate the caller's copy
    spec = state.spec
    graph = handoff_graph(agent)
    current = state.current_agent()
    active = agent if current == spec.agent_name else graph.get(current)
    if active is None:
        raise ConfigurationError(
            f"cannot resume run {spec.run_id}: agent {current!r} has control, and the handoff "
            f"graph of {agent.name!r} does not reach it"
        )
    frame = RunFrame(
        config=config,
        run_id=spec.run_id,
        run_input=spec.input,
        language=run_language(config),
        workspace=resolve_workspace(config.workspace),
        counter=HandoffCounter(limit=spec.max_handoffs, used=state.handoff_count()),
        mcp=mcp,
    )
    input_checks: tuple[GuardrailCheck, ...] = ()
    if run_input is not None:  # the user's new words pass the input guardrails too
        input_checks = await check_input(active, config, spec.run_id, run_input, frame.language)
    if stopped_by(input_checks) is not None:
        parts = blocked_parts(active, config)
    else:
        parts = await compile_agent(active, frame, render_context=False)
        offered = state.offered_tool_names()
        missing = [name for name in offered if name not in parts.registry]
        if missing:
            raise ConfigurationError(
                f"cannot resume run {spec.run_id}: agent {current!r} no longer offers "
                f"{', '.join(missing)}"
            )
        parts.tool_specs = tuple(s for s in parts.registry.specs() if s.name in offered)
        if current == spec.agent_name:
            parts.behavior = AgentBehavior.of(spec)  # the run keeps what it started with
    check_resume_session(state, config.session)
    memory = first_set(config.memory, agent.memory, _DEFAULT_MEMORY)
    decisions = {key: as_decision(value) for key, value in (approvals or {}).items()}
    inputs = list(_input_messages(run_input)) if run_input is not None else []
    if state.status is RunStatus.WAIT_USER and not state.pending_tool_calls and not inputs:
        raise ConfigurationError(f"run {spec.run_id} is waiting for the user: pass input=...")
    work = ResumeWork(pending=list(state.pending_tool_calls), decisions=decisions, inputs=inputs)
    state.resume_count += 1
    state.status = None
    state.completion_reason = None
    compiled = _compiled(
        state,
        parts,
        frame,
        agent,
        history=state.messages(),
        tool_state=state.tool_state.model_copy(deep=True) if state.tool_state else RunToolState(),
        memory=memory,
        memory_providers=layered_memory_providers(agent, config),
        session_memory_store=session_memory_store(memory, config.session, frame.workspace),
        input_checks=input_checks,
    )
    return compiled, work


EXECUTION_MODES = ("inline", "thread", "celery")
"""The values ``RunConfig.execution`` accepts."""


def check_execution(config: RunConfig) -> None:
    """Refuse an execution mode this build does not run (before any event)."""
    mode = config.execution
    if mode in EXECUTION_MODES:
        return
    raise ConfigurationError(
        f"RunConfig.execution={mode!r} is not supported; use one of {', '.join(EXECUTION_MODES)}",
        details={"execution": mode},
    )


def _compiled(
    state: RunState,
    parts: AgentParts,
    frame: RunFrame,
    root: Agent,
    *,
    history: list[Message],
    tool_state: RunToolState,
    memory: MemoryPolicy,
    memory_providers: tuple[MemoryProvider, ...],
    session_memory_store: SessionMemoryStore | None,
    diagnostics: Sequence[StartupReport] = (),
    input_checks: tuple[GuardrailCheck, ...] = (),
) -> CompiledRun:
    config = frame.config
    return CompiledRun(
        state=state,
        agent=agent_profile(state.current_agent(), parts),
        history=history,
        tool_state=tool_state,
        workspace=frame.workspace,
        context=config.context,
        language=frame.language,
        approvals=config.approval_provider,
        memory=memory,
        # Without handoffs the root is the run's only agent: nothing to switch to.
        switch_agent=Switcher(root, frame) if root.handoffs else None,
        hooks=layered_hooks(root, config),
        budget=config.budget,
        diagnostics=(*parts.diagnostics, *diagnostics),
        memory_providers=memory_providers,
        session_memory_store=session_memory_store,
        models=frame.models,
        mcp=frame.mcp,
        input_checks=input_checks,
    )


def _input_messages(run_input: Any) -> Sequence[Message]:
    if isinstance(run_input, str):
        return [UserMessage(content=run_input)]
    if isinstance(run_input, list | tuple) and all(
        isinstance(m, SystemMessage | UserMessage) or hasattr(m, "role") for m in run_input
    ):
        return list(run_input)
    raise ConfigurationError(
        f"input must be a string or a list of messages, got {type(run_input).__name__}"
    )
