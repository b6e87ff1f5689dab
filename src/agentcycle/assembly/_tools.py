"""The tools a run offers, in TOOLS.md order, and the skills they draw on."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agentcycle.agent import Agent
from agentcycle.errors import ConfigurationError
from agentcycle.events import MCPServerFailed, MCPServerStarted, MCPToolsListed
from agentcycle.handoffs import DEFAULT_MAX_HANDOFFS, Handoff
from agentcycle.mcp import MCPReport, MCPTool
from agentcycle.run_config import RunConfig
from agentcycle.runtime.environment import StartupDiagnostic, StartupEvent
from agentcycle.skills import SkillCatalog, discover_skills
from agentcycle.sub_agents import check_sub_agents
from agentcycle.tools.builtin._secrets import SecretFiles, provider_secrets
from agentcycle.tools.builtin.control import ask_user_tool, task_finish_tool
from agentcycle.tools.builtin.handoff import HandoffCounter, transfer_tool
from agentcycle.tools.builtin.skills import activate_skill_tool
from agentcycle.tools.builtin.todo import todo_write_tool
from agentcycle.tools.registry import ToolRegistry
from agentcycle.tools.sandbox import (
    SANDBOX_UNAVAILABLE,
    SandboxPolicy,
    resolve_policy,
    sandbox_support,
)


def assemble_tools(
    agent: Agent,
    skills: SkillCatalog | None = None,
    *,
    workspace: bool = False,
    multimodal: bool = False,
    counter: HandoffCounter | None = None,
    config: RunConfig | None = None,
    mcp_tools: Sequence[MCPTool] = (),
) -> ToolRegistry:
    """Built-ins first, then the agent's own tools, then its handoff tools; the order is stable
    (prompt caching, see TOOLS.md). Plain functions are wrapped with ``function_tool``;
    duplicate names are an error. With a ``workspace`` the file tools come after ``ask_user``
    (and ``read_image`` after the shell, sub-task and skill tools when the model is
    ``multimodal``); ``create_sub_task`` and ``sub_task_status`` come after the shell tools
    when the agent has ``sub_agents`` (and its ``task_finish`` then minds running sub-tasks);
    ``activate_skill`` is offered when ``skills`` holds at least one skill. The transfer tools
    share the run's handoff ``counter``. ``config`` supplies the secret-file policy and the
    shell's extra environment names; ``mcp_tools`` come last, and one whose name another
    tool of the run already has is a configuration error, never a silent shadow."""
    finish = task_finish_tool(output_type=agent.output_type)
    sub_agents = check_sub_agents(agent.sub_agents) if agent.sub_agents else None
    if sub_agents:
        from agentcycle.multiagent._sub_task_tools import guard_finish

        finish = guard_finish(finish)
    registry = ToolRegistry([finish])
    if agent.allow_ask_user:
        registry.add(ask_user_tool())
    if workspace:
        from agentcycle.tools.builtin.workspace import workspace_tools

        registry.extend(workspace_tools(secret_files(config)))
    registry.add(todo_write_tool())
    if agent.shell_tools:
        from agentcycle.tools.builtin.shell import shell_tools

        registry.extend(
            shell_tools(
                tuple(config.shell_env or ()) if config else (),
                secret_files(config),
                sandbox_policy(agent, config),
            )
        )
    if sub_agents:
        from agentcycle.multiagent._sub_task_tools import sub_task_tools

        registry.extend(sub_task_tools(sub_agents))
    if skills is not None and skills.skills:
        registry.add(activate_skill_tool(skills))
    if workspace and multimodal:
        from agentcycle.tools.builtin.workspace import image_tool

        registry.add(image_tool())
    registry.extend(agent.tools)
    if agent.handoffs:
        counter = counter or HandoffCounter(limit=DEFAULT_MAX_HANDOFFS)
        for item in agent.handoffs:
            target = item if isinstance(item, Handoff) else Handoff(item)
            registry.add(
                transfer_tool(target.tool_name, target.agent.name, target.description, counter)
            )
    for tool in mcp_tools:
        if tool.name in registry:
            raise ConfigurationError(
                f"MCP tool {tool.server}/{tool.mcp_name} is exposed as {tool.name!r}, a name "
                f"another tool of the run already has: block it (blocked_tools) or rename the "
                f"server"
            )
        registry.add(tool)
    return registry


def secret_files(config: RunConfig | None) -> SecretFiles:
    """The secret-file policy of a run: ``read_sensitive_files``, the settings file in use
    (named by the run or read by its model provider) and the provider's literal keys."""
    if config is None:
        return SecretFiles()
    named = (str(config.settings_file),) if config.settings_file is not None else ()
    read, keys = provider_secrets(config.model_provider)
    return SecretFiles(
        allow=bool(config.read_sensitive_files), settings_files=(*named, *read), keys=keys
    )


def sandbox_policy(agent: Agent, config: RunConfig | None) -> SandboxPolicy:
    """The sandbox ``bash`` commands get: the run's setting, else the agent's, else
    ``workspace-write`` where this host can sandbox (``off`` where it cannot)."""
    chosen = config.sandbox if config is not None and config.sandbox is not None else None
    return resolve_policy(chosen if chosen is not None else agent.sandbox)


def sandbox_diagnostics(agent: Agent, config: RunConfig) -> tuple[StartupDiagnostic, ...]:
    """A ``sandbox_unavailable`` diagnostic when the agent's shell commands cannot be
    sandboxed here: an error when a policy asks for a sandbox (every command then fails
    closed), a warning when none was asked for and commands run unconfined."""
    if not agent.shell_tools:
        return ()
    policy = sandbox_policy(agent, config)
    support = sandbox_support(policy.backend)
    if support.available:
        return ()
    asked = (config.sandbox if config.sandbox is not None else agent.sandbox) is not None
    if not policy.enabled and asked:
        return ()  # "off" on purpose
    return (
        StartupDiagnostic(
            code=SANDBOX_UNAVAILABLE,
            details={"mode": str(policy.mode), "reason": support.reason},
            level="error" if policy.enabled else "warning",
        ),
    )


def mcp_events(report: MCPReport) -> tuple[StartupEvent, ...]:
    """The run's MCP start-up as typed events: ``mcp_server_started`` for each server that
    started for it, ``mcp_server_failed`` (with the stderr tail) for each that did not start
    or list, ``mcp_tools_listed`` for each tool list."""
    started = [
        StartupEvent(
            MCPServerStarted,
            {"server": s.server, "transport": s.transport, "duration_ms": s.duration_ms},
        )
        for s in report.started
    ]
    failed = [
        StartupEvent(
            MCPServerFailed, {"server": f.server, "message": f.message, "stderr": f.stderr}
        )
        for f in report.failures
    ]
    listed = [
        StartupEvent(
            MCPToolsListed, {"server": t.server, "tools": list(t.tools), "cached": t.cached}
        )
        for t in report.listed
    ]
    return (*started, *failed, *listed)


async def discover_agent_skills(agent: Agent, config: RunConfig) -> SkillCatalog:
    """The skills under the agent's and then the run's skill directories, read off the event
    loop."""
    roots = [*agent.skills_dirs, *(config.skills_dirs or ())]
    if not roots:
        return SkillCatalog()
    return await asyncio.to_thread(discover_skills, roots)


def skill_diagnostics(skills: SkillCatalog) -> tuple[StartupDiagnostic, ...]:
    """One ``skill_invalid`` startup diagnostic per skill that failed to load."""
    return tuple(
        StartupDiagnostic(
            code="skill_invalid",
            details={
                "path": issue.path,
                "error_code": issue.code,
                "message": issue.message,
                "name": issue.name,
            },
        )
        for issue in skills.issues
    )
