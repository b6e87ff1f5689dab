"""The CLI's run: pick the model, build the agent, stream events to the terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from agentcycle.agent import Agent
from agentcycle.budget import RunBudget
from agentcycle.cli import (
    EXIT_COMPLETED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_MAX_CYCLES,
    EXIT_WAIT_USER,
)
from agentcycle.cli._agents_file import (
    AgentDefaults,
    build_team,
    load_agents_file,
    parse_agents_file,
)
from agentcycle.cli._approval import TerminalApprovalProvider
from agentcycle.cli._models import ModelChoice
from agentcycle.cli._render import HumanRenderer, JsonLinesRenderer, Renderer
from agentcycle.errors import AgentcycleError, ConfigurationError
from agentcycle.events import RunStatus
from agentcycle.handoffs import agent_in_control
from agentcycle.models.base import ModelSettings
from agentcycle.result import RunResult
from agentcycle.run_config import RunConfig
from agentcycle.runner import Runner
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.sessions.sqlite import SQLiteSession

CLI_INSTRUCTIONS = (
    "You are agentcycle, a careful assistant working in the user's workspace. Plan multi-step "
    "work with todo_write, use the tools to inspect and change files, and report what you did."
)

CLI_AGENT = "agentcycle"
"""The name of the agent the CLI runs without ``--agents``."""

SESSION_STORE = Path(".agentcycle") / "sessions.sqlite3"
"""Where ``--session`` keeps conversations, relative to the workspace."""

_EXIT_BY_STATUS = {
    RunStatus.COMPLETED: EXIT_COMPLETED,
    RunStatus.WAIT_USER: EXIT_WAIT_USER,
    RunStatus.MAX_CYCLES: EXIT_MAX_CYCLES,
    RunStatus.FAILED: EXIT_FAILED,
    RunStatus.CANCELLED: EXIT_INTERRUPTED,
}


def run_cli(
    args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run the CLI for parsed ``args``; returns the exit code."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    try:
        agent, config = _build(args, err)
    except AgentcycleError as exc:
        print(f"agentcycle: {exc.message}", file=err)
        return EXIT_FAILED
    renderer: Renderer = (
        JsonLinesRenderer(err) if args.verbose else HumanRenderer(err, quiet=args.json)
    )
    try:
        result = asyncio.run(_run(agent, args.prompt, config, renderer, err))
    except KeyboardInterrupt:
        print("\nagentcycle: interrupted", file=err)
        return EXIT_INTERRUPTED
    except AgentcycleError as exc:
        print(f"agentcycle: {exc.message}", file=err)
        return EXIT_FAILED
    _report(result, args.json, out, err)
    return _EXIT_BY_STATUS[result.status]


async def _run(
    agent: Agent, prompt: str, config: RunConfig, renderer: Renderer, err: TextIO
) -> RunResult:
    session = config.session
    if session is not None:
        earlier = await session.get_items()
        if earlier:
            # The conversation goes on with the agent a handoff last gave it to.
            agent = agent_in_control(agent, earlier)
            print(
                f"agentcycle: continuing session {session.session_id} ({len(earlier)} earlier "
                f"messages) with {agent.name}",
                file=err,
            )
    handle = await Runner.start(agent, prompt, config=config)
    try:
        async for event in handle.events():
            renderer.render(event)
        return await handle.result()
    except asyncio.CancelledError:
        await handle.cancel("interrupted from the terminal")
        raise
    finally:
        await handle.release_model_clients()  # child runs' and handoff targets' models too
        if isinstance(session, SQLiteSession):
            session.close()


def _build(args: argparse.Namespace, err: TextIO) -> tuple[Agent, RunConfig]:
    workspace = Path(args.workspace).expanduser()
    if not workspace.exists():
        # The quickstart shape (`--workspace ./workspace`) works on a fresh checkout.
        try:
            workspace.mkdir(parents=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the workspace folder {str(workspace)!r}: {exc.strerror}"
            ) from None
        print(f"agentcycle: created the workspace folder {workspace}", file=err)
    if not workspace.is_dir():
        raise ConfigurationError(f"workspace {str(workspace)!r} is not a directory")
    if args.max_cycles < 1:
        raise ConfigurationError("--max-cycles must be at least 1")
    team = (
        load_agents_file(Path(args.agents).expanduser())
        if args.agents is not None
        else parse_agents_file({"agents": {CLI_AGENT: {}}}, source="the built-in agent")
    )
    sampling = {
        key: value
        for key, value in (
            ("temperature", args.temperature),
            ("top_p", args.top_p),
            ("max_tokens", args.max_tokens),
        )
        if value is not None
    }
    defaults = AgentDefaults(
        instructions=CLI_INSTRUCTIONS,
        max_cycles=args.max_cycles,
        agent_type=args.agent_type,
        model_settings=ModelSettings(**sampling) if sampling else None,
        skills_dirs=tuple(Path(d).expanduser() for d in args.skills_dir or ()),
    )
    models = ModelChoice(args, err)
    if args.agents is None:
        # Resolved before the team is built, so its errors carry no agents-file context.
        models.default()
    agent = build_team(team, defaults, models.for_agent)
    session = _session(args.session, workspace) if args.session is not None else None
    budget = None
    if args.max_total_tokens is not None or args.max_cost is not None:
        budget = RunBudget(max_total_tokens=args.max_total_tokens, max_cost_usd=args.max_cost)
    interactive = sys.stdin is not None and sys.stdin.isatty() and args.approval != "never"
    config = RunConfig(
        policy=ToolPolicy.of(approval_mode=args.approval),
        approval_provider=TerminalApprovalProvider(err) if interactive else None,
        # Nobody holds the handle to approve with: an undecided call ends the run (exit 3).
        live_approvals=False,
        model_provider=models.provider,
        workspace=workspace.resolve(),
        session=session,
        budget=budget,
        language=args.language,
        metadata={"agent_type": args.agent_type},
    )
    return agent, config


def _session(session_id: str, workspace: Path) -> SQLiteSession:
    """The conversation ``session_id`` in the workspace's session store."""
    if not session_id.strip():
        raise ConfigurationError("--session needs a non-empty id")
    store = workspace.resolve() / SESSION_STORE
    store.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteSession(session_id, store)


def _report(result: RunResult, as_json: bool, out: TextIO, err: TextIO) -> None:
    if as_json:
        print(json.dumps(result.summary(), ensure_ascii=False), file=out)
        return
    status = result.status
    if status is RunStatus.COMPLETED:
        print(_text(result.final_output), file=out)
    elif status is RunStatus.WAIT_USER:
        print(_text(result.final_output), file=out)
        wait = result.wait or {}
        for option in wait.get("options") or []:
            print(f"  - {option}", file=out)
        for pending in wait.get("pending") or []:
            if pending.get("message"):
                print(f"  - {pending['message']}", file=out)
    elif status is RunStatus.MAX_CYCLES:
        print(f"agentcycle: stopped after {result.cycles} cycles without finishing", file=err)
        if result.partial_output:
            print(result.partial_output, file=out)
    else:
        error = result.error or {}
        print(
            f"agentcycle: run {status.value}: {error.get('code', '')}: {error.get('message', '')}",
            file=err,
        )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    dump = getattr(value, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    return json.dumps(value, ensure_ascii=False)
