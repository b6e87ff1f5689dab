"""The CLI's durable runs: ``--execution``/``--store`` on a run, ``runs ...`` and ``resume``.

    agentcycle --execution inline|thread --store URL -p "..."   a run kept in the store
    agentcycle --execution celery --store URL -p "..."          queued for `agentcycle worker`
    agentcycle runs list --store URL [--limit N] [--json]       the store's runs, newest first
    agentcycle runs status RUN_ID --store URL                   its status as JSON
    agentcycle runs watch RUN_ID --store URL [--events]         follow it until it stops
    agentcycle runs cancel RUN_ID --store URL [--reason TEXT]   ask it to stop
    agentcycle resume RUN_ID --store URL [-p ANSWER] [...]      continue it in this process

Store URLs as ``open_checkpoint_store`` takes them: ``memory:``, ``sqlite:///path``
(``sqlite:////abs/path``), ``redis://host:port/db``. ``resume`` builds the agent the way a run
does, from the same flags (``--agents``, ``--workspace``, ``--settings-file`` and
``AGENTCYCLE_SETTINGS`` ...); without ``--backend``/``--model`` it takes the model the run was
started with, and always its session. The flags only a new run uses (``--session``,
``--max-cycles``, sampling, ``--execution``) are not resume's: passing one is a usage error.
Only ``argparse`` is imported at module level, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from agentcycle.stores.checkpoints import RunHead

COMMANDS = ("runs", "resume")
"""First arguments that select a durable subcommand instead of a run."""


def add_durable_flags(parser: argparse.ArgumentParser, *, resume: bool = False) -> None:
    """The run flags for durable runs (``--execution``, ``--broker``, ``--store``,
    ``--lease-ttl``); for ``resume``, which goes on in this process, a required ``--store``
    and ``--lease-ttl``."""
    if resume:
        parser.add_argument(
            "--store",
            metavar="URL",
            required=True,
            help="the checkpoint store the run is kept in (sqlite:///path, redis://...)",
        )
    else:
        parser.add_argument(
            "--execution",
            choices=("inline", "thread", "celery"),
            default="inline",
            help="where the loop runs: inline (default), on its own event loop in a thread, or "
            "on Celery workers (`agentcycle worker`; needs --store; prints the run id and "
            "returns)",
        )
        parser.add_argument(
            "--broker",
            metavar="URL",
            help="the Celery broker of --execution celery (default: $AGENTCYCLE_BROKER_URL, "
            "else redis://127.0.0.1:6379/0)",
        )
        parser.add_argument(
            "--store",
            metavar="URL",
            help="keep the run in this checkpoint store (memory:, sqlite:///path, "
            "redis://host:port/db) and print its run id; continue it with `agentcycle resume`",
        )
    parser.add_argument(
        "--lease-ttl",
        type=_seconds,
        metavar="SECONDS",
        help="how long a durable run's lease outlives its process (default: 15)",
    )


def _seconds(text: str) -> float:
    """A positive number of seconds (``--lease-ttl``), else a usage error that says so."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not seconds > 0:  # NaN included
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, not {text}")
    return seconds


def durable_config_fields(args: argparse.Namespace) -> dict[str, object]:
    """``RunConfig`` fields for the durable flags of ``args``."""
    fields: dict[str, object] = {"execution": args.execution, "broker": args.broker}
    if args.store is not None:
        fields["checkpoint_store"] = args.store
    if args.lease_ttl is not None:
        from agentcycle.runtime.durable import Durability

        fields["durability"] = Durability(lease_ttl=args.lease_ttl)
    return fields


def missing_store(url: str) -> str | None:
    """What to say when ``url`` names a SQLite file that does not exist: the commands that
    read a store (``runs ...``, ``resume``) must not create one at a mistyped path."""
    from agentcycle.stores.checkpoint_urls import sqlite_path

    path = sqlite_path(url)
    if path is None or path.exists():
        return None
    return f"agentcycle: no checkpoint store at {path.resolve()} (the file does not exist)"


def prepare_store(url: str | None, workspace: Path, err: TextIO) -> None:
    """Before a new run kept in a SQLite file (``--store sqlite:///...``): create the file's
    folder if it is missing, as the session store's is, and say so when the file lies in the
    workspace in plain sight, where the agent's file tools list it and could change it. A run
    kept in ``memory:`` is told that nothing outlives this process."""
    if url == "memory:":
        print(
            "agentcycle: note: a memory: store lives as long as this process: the run cannot "
            "be resumed or watched from another one (sqlite:///.agentcycle/runs.db keeps it)",
            file=err,
        )
        return
    from agentcycle.stores.checkpoint_urls import sqlite_path

    named = None if url is None else sqlite_path(url)
    if named is None:
        return  # another store, or a URL the store itself refuses with a clear error
    path = named.resolve()
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True)
        except OSError:
            return  # the store reports the missing folder when it opens the file
        print(f"agentcycle: created the folder {path.parent} for the store", file=err)
    try:
        inside = path.relative_to(workspace.expanduser().resolve())
    except ValueError:
        return
    if not any(part.startswith(".") for part in inside.parts):
        print(
            f"agentcycle: note: the store {inside} is in the workspace, where the agent's file "
            "tools list it and can change it; --store sqlite:///.agentcycle/runs.db keeps it "
            "out of their listings (as the session store is), or put it outside the workspace",
            file=err,
        )


CLI_FACTORY = "agentcycle.cli._durable:cli_agent"
"""The agent factory of runs the CLI submits to Celery: workers rebuild the CLI's agent."""

CLI_ARGS_KEY = "agentcycle.cli"
"""The run metadata key holding the CLI flags a worker rebuilds the agent from."""

_PATH_FLAGS = ("workspace", "agents", "settings_file", "mcp_config")
_SAMPLING_FLAGS = ("temperature", "top_p", "max_tokens")
"""The run flags a CLI run keeps in its metadata (``sampling``) for ``resume``."""


def cli_args(args: argparse.Namespace) -> dict[str, Any]:
    """The flags of ``args`` a worker needs to build the same agent, paths made absolute (the
    worker runs elsewhere)."""
    flags: dict[str, Any] = {
        k: v for k, v in vars(args).items() if v is None or isinstance(v, str | int | float)
    }
    for name in _PATH_FLAGS:
        if isinstance(flags.get(name), str):
            flags[name] = str(Path(flags[name]).expanduser().resolve())
    if args.skills_dir:
        flags["skills_dir"] = [str(Path(d).expanduser().resolve()) for d in args.skills_dir]
    return flags


def cli_agent(metadata: dict[str, Any]) -> tuple[Any, Any]:
    """The agent factory of CLI runs on Celery workers: the agent and run config the CLI would
    build from the flags kept in the run's metadata."""
    from agentcycle.cli import build_parser
    from agentcycle.cli._run import _build
    from agentcycle.cli._terminal import Terminal

    args = build_parser().parse_args(["--prompt", "-"])
    for name, value in metadata.get(CLI_ARGS_KEY, {}).items():
        setattr(args, name, value)
    agent, config = _build(args, Terminal(sys.stderr))
    return agent, config


def submit_to_celery(args: argparse.Namespace, out: TextIO) -> int:
    """``agentcycle --execution celery``: queue the run for the workers, print its id."""
    from agentcycle.cli._run import _failed
    from agentcycle.errors import AgentcycleError
    from agentcycle.run_config import RunConfig
    from agentcycle.runner import Runner

    if args.store is None:
        print("agentcycle: --execution celery needs --store URL", file=sys.stderr)
        return 1
    # The rest of the run's config comes from the factory, here as on the workers.
    config = RunConfig(
        metadata={CLI_ARGS_KEY: cli_args(args)},
        **durable_config_fields(args),  # type: ignore[arg-type]
    )
    try:
        submitted = Runner.submit_sync(CLI_FACTORY, args.prompt, config=config)
    except AgentcycleError as exc:
        return _failed(args, out, sys.stderr, exc)
    submitted.close()
    if args.json:
        print(json.dumps({"status": "submitted", "run_id": submitted.run_id}), file=out)
    else:
        print(submitted.run_id, file=out)
        from agentcycle.stores.checkpoint_urls import shown_url

        print(
            f"agentcycle: queued for the workers; follow it with: agentcycle runs watch "
            f"{submitted.run_id} --store {shown_url(args.store)}",
            file=sys.stderr,
        )
    return 0


def durable_main(argv: Sequence[str], stdout: TextIO | None = None) -> int:
    """``agentcycle runs list|status|watch|cancel ...`` and ``agentcycle resume ...``."""
    out = stdout or sys.stdout
    if argv[0] != "runs":
        return _resume(argv[1:], out)
    parser, commands = _runs_parser()
    args, extra = parser.parse_known_args(argv[1:])
    if extra:  # the subcommand's usage, not that of `runs`
        commands[args.action].error(f"unrecognized arguments: {' '.join(extra)}")
    if args.action == "cancel" and not args.reason.strip():
        commands["cancel"].error("--reason must not be empty")
    if (missing := missing_store(args.store)) is not None:
        print(missing, file=sys.stderr)
        return 1
    from agentcycle.cli import _runs

    if args.action == "list":
        return _runs.list_runs(args.store, args.limit, args.json, out)
    if args.action == "cancel":
        return _runs.cancel_run(args.run_id, args.store, args.reason)
    if args.action == "watch":
        return _watch(args.run_id, args.store, args.events, out)
    return _status(args.run_id, args.store, out)


def _runs_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser of ``agentcycle runs``, and each subcommand's by name."""
    from agentcycle.cli import at_least_one
    from agentcycle.cli._runs import DEFAULT_LIMIT, DEFAULT_REASON

    parser = argparse.ArgumentParser(
        prog="agentcycle runs",
        description="The durable runs kept in a checkpoint store (runs started with --store): "
        "list them, print one's status, follow one, or ask one to stop.",
    )
    sub = parser.add_subparsers(dest="action", required=True, metavar="COMMAND")
    helps = {
        "list": "list the store's runs, newest first: id, state, when it was created (local "
        "time), cycles committed, agent and the start of its input",
        "status": "print a durable run's status as JSON",
        "watch": "follow a durable run's events (a run on Celery workers, say) until it stops; "
        "Ctrl+C stops the watching, not the run",
        "cancel": "ask a durable run to stop, wherever it runs: the process that holds it "
        "stops before its next model or tool call, or at its next heartbeat; a run no process "
        "holds (waiting, or its process gone) ends as cancelled when it is resumed",
    }
    commands = {
        name: sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        for name, text in helps.items()
    }
    for name, command in commands.items():
        if name != "list":
            command.add_argument("run_id", help="the id the run printed when it started")
        command.add_argument(
            "--store",
            metavar="URL",
            required=True,
            help="the checkpoint store the run"
            + ("s are" if name == "list" else " is")
            + " kept in (sqlite:///path, redis://...)",
        )
    commands["list"].add_argument(
        "--limit",
        type=at_least_one,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show the N newest runs (default: {DEFAULT_LIMIT})",
    )
    commands["list"].add_argument(
        "--json",
        action="store_true",
        help="print a JSON array of the runs' summaries instead (run_id, state, log_status, "
        "run_status, waiting_for, lease, cancel_requested, created_ms, cycles_committed, "
        "agent, input)",
    )
    commands["watch"].add_argument(
        "--events", action="store_true", help="print every event as JSONL"
    )
    commands["cancel"].add_argument(
        "--reason",
        metavar="TEXT",
        default=DEFAULT_REASON,
        help=f"why, as the run's cancellation reports it (default: {DEFAULT_REASON!r})",
    )
    return parser, commands


def _watch(run_id: str, url: str, events: bool, out: TextIO) -> int:
    """Render the run's durable events as they are appended, from its first, then its outcome
    (the answer, or the question it waits on) as a run in this process would print it."""
    from agentcycle.cli import EXIT_INTERRUPTED
    from agentcycle.cli._render import HumanRenderer, JsonLinesRenderer, Renderer
    from agentcycle.cli._run import _EXIT_BY_STATUS
    from agentcycle.cli._runs import for_run
    from agentcycle.cli._terminal import Terminal
    from agentcycle.errors import AgentcycleError
    from agentcycle.events import RunStatus
    from agentcycle.submitted import SubmittedRun

    if for_run(url, run_id, lambda store: store.head(run_id)) is None:
        return 1  # said: the store failed, or has no such run
    terminal = Terminal(sys.stderr)
    renderer: Renderer = JsonLinesRenderer(out) if events else HumanRenderer(terminal)
    try:
        with SubmittedRun(run_id, url) as run:
            for event in run.events():
                renderer.render(event)
            status = run.status()
    except KeyboardInterrupt:
        renderer.close()
        print(f"\nagentcycle: stopped watching; run {run_id} goes on", file=sys.stderr)
        return EXIT_INTERRUPTED
    except AgentcycleError as exc:
        renderer.close()
        print(f"agentcycle: {exc.message}", file=sys.stderr)
        return 1
    renderer.close()
    if status["run_status"] is None:  # stopped without an ending (cannot happen: the log says)
        print(f"agentcycle: run {run_id} stopped without a status", file=sys.stderr)
        return 1
    run_status = RunStatus(status["run_status"])
    if not events:
        answer = status["final_output"] or status["partial_output"]
        if answer is not None:
            print(answer if isinstance(answer, str) else json.dumps(answer), file=out)
        waiting_for, cycles = status["waiting_for"], status["cycles_committed"]
        state = f"waiting for {waiting_for}" if waiting_for else run_status.value
        terminal.line(f"{state} · {cycles} cycle{'' if cycles == 1 else 's'}")
    return _EXIT_BY_STATUS[run_status]


def _status(run_id: str, url: str, out: TextIO) -> int:
    from agentcycle.cli._runs import for_run
    from agentcycle.runtime.durable import run_status

    status = for_run(url, run_id, lambda store: run_status(store, run_id))
    if status is None:
        return 1
    print(json.dumps(status, ensure_ascii=False), file=out)
    return 0


def _resume(argv: Sequence[str], out: TextIO) -> int:
    from agentcycle.cli import build_parser, build_resume_parser

    parser = build_resume_parser()
    parser.json_errors = "--json" in argv
    args, extra = parser.parse_known_args(argv)
    if extra:
        resume_flags = {flag for action in parser._actions for flag in action.option_strings}
        run_flags = {flag for action in build_parser()._actions for flag in action.option_strings}
        run_only = [
            flag
            for flag in (arg.split("=", 1)[0] for arg in extra)
            if flag in run_flags - resume_flags
        ]
        if run_only:  # say why, not just "unrecognized"
            what = "is a flag" if len(run_only) == 1 else "are flags"
            parser.error(
                f"{', '.join(run_only)} {what} of a new run, not of resume: a resumed run keeps "
                "its session, cycle limit and model settings, and goes on in this process "
                "(`agentcycle resume --help` lists resume's flags)"
            )
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return _resume_run(args, out)


def _resume_run(args: argparse.Namespace, out: TextIO) -> int:
    import asyncio
    import time

    from agentcycle.cli import interrupted
    from agentcycle.cli._render import HumanRenderer, JsonLinesRenderer, Renderer
    from agentcycle.cli._run import _EXIT_BY_STATUS, _build, _failed, _report
    from agentcycle.cli._terminal import Terminal
    from agentcycle.errors import AgentcycleError
    from agentcycle.result import RunResult

    err = sys.stderr
    if (missing := missing_store(args.store)) is not None:
        print(missing, file=err)
        return 1
    started = time.monotonic()
    terminal = Terminal(err)
    try:
        held = _started_with(args)
        if held is not None:
            print(held, file=err, flush=True)
        agent, config = _build(args, terminal)
    except AgentcycleError as exc:
        return _failed(args, out, err, exc)
    except KeyboardInterrupt:
        return interrupted(out, err, json_output=args.json, run_id=args.run_id)
    renderer: Renderer = (
        JsonLinesRenderer(out) if args.events else HumanRenderer(terminal, quiet=args.json)
    )

    async def resume() -> RunResult:
        from agentcycle.runner import Runner

        handle = await Runner.start_resumed_run(
            agent, args.run_id, input=args.prompt, config=config
        )
        print(f"agentcycle: resuming run {handle.run_id}", file=err, flush=True)
        try:
            async for event in handle.events():
                renderer.render(event)
            return await handle.result()
        except asyncio.CancelledError:
            await handle.cancel("interrupted from the terminal")
            raise
        finally:
            await handle.release_model_clients()

    try:
        result = asyncio.run(resume())
    except KeyboardInterrupt:
        renderer.close()
        return interrupted(out, err, json_output=args.json, run_id=args.run_id)
    except AgentcycleError as exc:
        renderer.close()
        return _failed(args, out, err, exc)
    renderer.close()
    _report(result, args, out, terminal, time.monotonic() - started)
    return _EXIT_BY_STATUS[result.status]


def _started_with(args: argparse.Namespace) -> str | None:
    """Default the model and agent type to what the run was started with, and take its
    session and sampling flags (a run keeps the session and model settings it started
    with). Returns what to tell the user when another process holds the run's lease (the
    resume waits it out before it can start)."""
    from agentcycle.errors import RunNotFound, RunTerminated
    from agentcycle.runtime.durable import run_status
    from agentcycle.state import RunState
    from agentcycle.stores.checkpoint_urls import open_checkpoint_store, shown_url
    from agentcycle.stores.checkpoints import LogStatus

    store = open_checkpoint_store(args.store)
    try:
        head = store.head(args.run_id)
        records = store.read(args.run_id, limit=1) if head else []
        ended = (
            run_status(store, args.run_id) if head and head.status is LogStatus.TERMINAL else None
        )
    finally:
        store.close()
    if not records:
        raise RunNotFound(f"no run {args.run_id!r} in {shown_url(args.store)}")
    if ended is not None:
        raise RunTerminated(
            f"run {args.run_id!r} already ended ({ended['run_status']}): there is nothing to "
            "resume; `agentcycle runs watch` shows how it went",
            details={"run_id": args.run_id},
        )
    spec = RunState.model_validate(records[0].payload["state"]).spec
    if args.backend is None and args.model is None:
        args.backend, args.model = spec.backend, spec.model
    if args.agent_type == "default" and spec.metadata.get("agent_type") == "computer":
        args.agent_type = "computer"
    queued = spec.metadata.get(CLI_ARGS_KEY) or {}  # the flags of a run queued for Celery
    if args.workspace is None:  # the run goes on where it started, not where resume is typed
        args.workspace = spec.metadata.get("workspace") or queued.get("workspace") or "."
    # The sampling flags the run was started with: the spec keeps the first agent's settings,
    # these give an agent that took over by a handoff the ones it ran with.
    sampling = spec.metadata.get("sampling") or queued
    for name in _SAMPLING_FLAGS:
        if sampling.get(name) is not None:
            setattr(args, name, sampling[name])
    args.session = spec.session_id
    return _lease_note(head) if head is not None else None


def _lease_note(head: RunHead) -> str | None:
    """Why the resume of a run another process holds waits, and for how long: the lease's
    owner is ``host:pid:…``; on this machine, whether that process is still running."""
    import socket

    if head.lease is None or not head.lease_live:
        return None
    owner = head.lease.owner
    seconds = max(1, round((head.lease.expires_ms - head.now_ms) / 1000))
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    holder = f"process {owner}"
    if host == socket.gethostname() and pid.isdigit():
        holder = f"process {pid} on this machine, " + (
            "which is still running: if it is still running the run, this resume stops when "
            "it renews the lease"
            if _running(int(pid))
            else "which has exited"
        )
    return (
        f"agentcycle: run {head.run_id} is leased to another process ({holder}); waiting up "
        f"to {seconds} s for the lease to expire before taking the run over (Ctrl+C to stop)"
    )


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists (a zombie counts: it has not been reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
