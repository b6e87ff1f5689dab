"""The CLI's run: pick the model, build the agent, stream events to the terminal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from agentcycle.agent import Agent
from agentcycle.cli import (
    EXIT_COMPLETED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_MAX_CYCLES,
    EXIT_WAIT_USER,
)
from agentcycle.cli._approval import TerminalApprovalProvider
from agentcycle.cli._render import HumanRenderer, JsonLinesRenderer, Renderer
from agentcycle.errors import AgentcycleError, ConfigurationError
from agentcycle.events import RunStatus
from agentcycle.models.base import Model, ModelRef, ModelSettings
from agentcycle.models.demo import DEMO_BACKEND, DemoModel
from agentcycle.models.provider import ModelProvider, SettingsModelProvider
from agentcycle.result import RunResult
from agentcycle.run_config import RunConfig
from agentcycle.runner import Runner
from agentcycle.runtime.policy import ToolPolicy

CLI_INSTRUCTIONS = (
    "You are agentcycle, a careful assistant working in the user's workspace. Plan multi-step "
    "work with todo_write, use the tools to inspect and change files, and report what you did."
)

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
        result = asyncio.run(_run(agent, args.prompt, config, renderer))
    except KeyboardInterrupt:
        print("\nagentcycle: interrupted", file=err)
        return EXIT_INTERRUPTED
    except AgentcycleError as exc:
        print(f"agentcycle: {exc.message}", file=err)
        return EXIT_FAILED
    _report(result, args.json, out, err)
    return _EXIT_BY_STATUS[result.status]


async def _run(agent: Agent, prompt: str, config: RunConfig, renderer: Renderer) -> RunResult:
    handle = await Runner.start(agent, prompt, config=config)
    try:
        async for event in handle.events():
            renderer.render(event)
        return await handle.result()
    except asyncio.CancelledError:
        await handle.cancel("interrupted from the terminal")
        raise
    finally:
        await handle.release_model_clients()


def _build(args: argparse.Namespace, err: TextIO) -> tuple[Agent, RunConfig]:
    workspace = Path(args.workspace).expanduser()
    if not workspace.is_dir():
        raise ConfigurationError(f"workspace {str(workspace)!r} is not a directory")
    if args.max_cycles < 1:
        raise ConfigurationError("--max-cycles must be at least 1")
    model, provider = _select_model(args, err)
    settings = ModelSettings(
        **{
            key: value
            for key, value in (
                ("temperature", args.temperature),
                ("top_p", args.top_p),
                ("max_tokens", args.max_tokens),
            )
            if value is not None
        }
    )
    agent = Agent(
        name="agentcycle",
        instructions=CLI_INSTRUCTIONS,
        model=model,
        shell_tools=args.agent_type == "computer",
    )
    interactive = sys.stdin is not None and sys.stdin.isatty() and args.approval != "never"
    config = RunConfig(
        policy=ToolPolicy.of(approval_mode=args.approval),
        approval_provider=TerminalApprovalProvider(err) if interactive else None,
        model_provider=provider,
        model_settings=settings,
        workspace=workspace.resolve(),
        max_cycles=args.max_cycles,
        language=args.language,
        metadata={"agent_type": args.agent_type},
        skills_dirs=tuple(Path(d).expanduser() for d in args.skills_dir or ()),
    )
    return agent, config


def _select_model(
    args: argparse.Namespace, err: TextIO
) -> tuple[Model | ModelRef, ModelProvider | None]:
    if args.backend == DEMO_BACKEND:
        return DemoModel(), None
    from agentcycle.models.settings import find_settings_file

    if args.settings_file is not None and not Path(args.settings_file).is_file():
        raise ConfigurationError(f"settings file {args.settings_file!r} does not exist")
    path = find_settings_file(args.settings_file)
    if path is None:
        if args.backend or args.model:
            raise ConfigurationError(
                "no settings file found (--settings-file, $AGENTCYCLE_SETTINGS or "
                "./local_settings.json); use --backend demo for the offline demo"
            )
        print(
            "agentcycle: no settings file found; running the offline demo backend "
            "(see local_settings.example.json to use a real model)",
            file=err,
        )
        return DemoModel(), None
    provider = SettingsModelProvider(path, default_backend=args.backend)
    from agentcycle.models.settings import default_model_ref

    ref = (
        ModelRef(model=args.model, backend_name=args.backend)
        if args.model
        else default_model_ref(provider.settings, args.backend)
    )
    return ref, provider


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
