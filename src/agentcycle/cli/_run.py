"""The CLI's run: pick the model, build the agent, stream events to the terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
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
    interrupted,
)
from agentcycle.cli._agents_file import (
    AgentDefaults,
    build_team,
    load_agents_file,
    parse_agents_file,
)
from agentcycle.cli._approval import TerminalApprovalProvider
from agentcycle.cli._durable import durable_config_fields, prepare_store
from agentcycle.cli._models import ModelChoice
from agentcycle.cli._previews import summary_line
from agentcycle.cli._render import HumanRenderer, JsonLinesRenderer, Renderer
from agentcycle.cli._terminal import Terminal
from agentcycle.errors import AgentcycleError, ConfigurationError
from agentcycle.events import RunStatus
from agentcycle.handoffs import agent_in_control
from agentcycle.mcp import MCPServerConfig, load_mcp_config
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.models.base import ModelSettings
from agentcycle.models.demo import DEMO_BACKEND, DemoModel
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
    prepare_store(args.store, Path(args.workspace), err)
    if args.execution == "celery":
        from agentcycle.cli._durable import submit_to_celery

        return submit_to_celery(args, out)
    started = time.monotonic()
    terminal = Terminal(err)
    try:
        agent, config = _build(args, terminal)
    except AgentcycleError as exc:
        return _failed(args, out, err, exc)
    except KeyboardInterrupt:  # set-up (reading files, importing a provider) takes a moment
        return interrupted(out, err, json_output=args.json, run_id=None)
    renderer: Renderer = (
        JsonLinesRenderer(out) if args.events else HumanRenderer(terminal, quiet=args.json)
    )
    started_run: dict[str, str] = {}
    try:
        result = asyncio.run(_run(agent, args.prompt, config, renderer, err, started_run))
    except KeyboardInterrupt:
        renderer.close()
        return interrupted(out, err, json_output=args.json, run_id=started_run.get("run_id"))
    except AgentcycleError as exc:
        renderer.close()
        return _failed(args, out, err, exc)
    renderer.close()
    _report(result, args, out, terminal, time.monotonic() - started)
    return _EXIT_BY_STATUS[result.status]


async def _run(
    agent: Agent,
    prompt: str,
    config: RunConfig,
    renderer: Renderer,
    err: TextIO,
    started: dict[str, str],
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
    started["run_id"] = handle.run_id
    seen: int | None = None
    if config.checkpoint_store is not None:  # the id `agentcycle resume` needs, printed first
        print(f"agentcycle: run {handle.run_id}", file=err, flush=True)
    try:
        async for event in handle.events():
            renderer.render(event)
            if event.run_id == handle.run_id:
                seen = event.seq
        return await handle.result()
    except asyncio.CancelledError:
        await handle.cancel("interrupted from the terminal")
        # Show how it ended (run_cancelled last), from where the view stopped.
        async for event in handle.events(since_seq=seen):
            renderer.render(event)
        raise
    finally:
        await handle.release_model_clients()  # child runs' and handoff targets' models too
        if isinstance(session, SQLiteSession):
            session.close()


def _build(args: argparse.Namespace, terminal: Terminal) -> tuple[Agent, RunConfig]:
    err = terminal.stream
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
    # Resolved before the team is built, so its errors carry no agents-file context.
    chosen = models.default() if args.agents is None else None
    agent = build_team(team, defaults, models.for_agent)
    session = _session(args.session, workspace) if args.session is not None else None
    budget = None
    if args.max_total_tokens is not None or args.max_cost is not None:
        budget = RunBudget(max_total_tokens=args.max_total_tokens, max_cost_usd=args.max_cost)
    interactive = sys.stdin is not None and sys.stdin.isatty() and args.approval != "never"
    # The demo's token counts mean nothing: the estimate needs no BPE vocabulary (0.1-1 s).
    demo = isinstance(chosen, DemoModel) or args.backend == DEMO_BACKEND
    config = RunConfig(
        memory=MemoryPolicy(tokenizer="chars") if demo else None,
        policy=ToolPolicy.of(approval_mode=args.approval),
        sandbox=args.sandbox,
        approval_provider=(
            TerminalApprovalProvider(terminal, after_tool_line=not args.events)
            if interactive
            else None
        ),
        # Nobody holds the handle to approve with: an undecided call ends the run (exit 3).
        live_approvals=False,
        model_provider=models.provider,
        workspace=workspace.resolve(),
        session=session,
        budget=budget,
        language=args.language,
        # Kept with a durable run, so that ``resume`` goes on in the same workspace and builds
        # every agent of the team with the same sampling flags.
        metadata={
            "agent_type": args.agent_type,
            "workspace": str(workspace.resolve()),
            **({"sampling": sampling} if sampling else {}),
        },
        **durable_config_fields(args),  # type: ignore[arg-type]
        mcp_servers=_mcp_servers(args.mcp_config),
    )
    return agent, config


def _mcp_servers(path: str | None) -> tuple[MCPServerConfig, ...] | None:
    """The servers of ``--mcp-config``, read now so a bad file fails before the run."""
    if path is None:
        return None
    return load_mcp_config(Path(path).expanduser())


def _session(session_id: str, workspace: Path) -> SQLiteSession:
    """The conversation ``session_id`` in the workspace's session store."""
    if not session_id.strip():
        raise ConfigurationError("--session needs a non-empty id")
    store = workspace.resolve() / SESSION_STORE
    store.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteSession(session_id, store)


def _report(
    result: RunResult, args: argparse.Namespace, out: TextIO, terminal: Terminal, seconds: float
) -> None:
    if args.json:
        print(json.dumps(_json_result(result), ensure_ascii=False), file=out)
        return
    if args.events:
        return  # the events said it all, run_completed / run_failed last
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
        cycles = f"{result.cycles} cycle{'' if result.cycles == 1 else 's'}"
        terminal.line(f"agentcycle: stopped after {cycles} without finishing")
        if result.partial_output:
            print(result.partial_output, file=out)
    elif result.error is None:  # cancelled: asked to stop, nothing went wrong
        terminal.line(f"agentcycle: run {status.value}", "red")
    else:
        error = result.error
        terminal.line(
            f"agentcycle: run {status.value}: {error.get('code', '')}: "
            f"{_cli_words(str(error.get('message', '')))}{_hint(error)}",
            "red",
        )
    style = {RunStatus.COMPLETED: "green", RunStatus.WAIT_USER: "yellow"}.get(status, "red")
    terminal.line(summary_line(result, seconds), f"dim {style}" if terminal.colour else None)


def _json_result(result: RunResult) -> dict[str, Any]:
    """``RunResult.summary()`` with what a script needs to act on the outcome: the run id, the
    approvals waiting (their ids resume the run) and the error."""
    data = result.summary()
    pending = (result.wait or {}).get("pending") or []
    data["run_id"] = result.run_id
    data["pending_approvals"] = [
        {"request_id": p["request_id"], "tool_name": p["tool_name"], "message": p.get("message")}
        for p in pending
        if p.get("request_id")
    ]
    error = result.error
    data["error"] = (
        {"code": error.get("code"), "message": _cli_words(str(error.get("message", "")))}
        if error
        else None
    )
    return data


def _failed(args: argparse.Namespace, out: TextIO, err: TextIO, exc: AgentcycleError) -> int:
    """A run that could not start (bad flags, settings, model): one line, or one JSON object."""
    message = _cli_words(exc.message)
    if args.json:
        body = {"status": "failed", "run_id": None, "error": {"code": exc.code, "message": message}}
        print(json.dumps(body, ensure_ascii=False), file=out)
    else:
        print(f"agentcycle: {message}", file=err)
    return EXIT_FAILED


def _hint(error: dict[str, Any]) -> str:
    """What to try when a local server is not there."""
    details = error.get("details")
    endpoint = details.get("endpoint") if isinstance(details, dict) else None
    if error.get("code") == "connection_error" and endpoint == "ollama":
        return " (is Ollama running? start it with `ollama serve`, or set OLLAMA_HOST)"
    return ""


_FLAG_WORDS = (
    (" to RunConfig.price_table or give the model", " to the model"),
    ("add it to the model", "give the model"),
    ("max_cost_usd", "--max-cost"),
    ("max_total_tokens", "--max-total-tokens"),
)


def _cli_words(message: str) -> str:
    """An SDK message in the CLI's words: flags, not the ``RunBudget`` / ``RunConfig`` fields
    behind them."""
    for sdk, flag in _FLAG_WORDS:
        message = message.replace(sdk, flag)
    return message


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    dump = getattr(value, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    return json.dumps(value, ensure_ascii=False)
