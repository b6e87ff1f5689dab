"""The ``agentcycle`` command line: run an agent on a workspace from a terminal.

Only argument parsing lives here, so ``agentcycle --help`` stays fast; the runtime loads after.
Exit codes: 0 completed, 3 waiting for the user, 4 max cycles, 1 failure or bad configuration,
130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_WAIT_USER = 3
EXIT_MAX_CYCLES = 4
EXIT_INTERRUPTED = 130


class _Version(argparse.Action):
    """``--version``: the package version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        from importlib.metadata import version

        python = ".".join(str(part) for part in sys.version_info[:3])
        print(f"agentcycle {version('agentcycle')} (Python {python})")
        parser.exit()


def _prompt(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the prompt is empty: say what the agent should do")
    return text


DEFAULT_MAX_CYCLES = 80
"""The CLI's cycle limit without ``--max-cycles``."""

_RESUME_DEFAULTS: dict[str, object] = {
    "session": None,
    "max_cycles": DEFAULT_MAX_CYCLES,
    "temperature": None,
    "top_p": None,
    "max_tokens": None,
    "execution": "inline",
    "broker": None,
}
"""The run flags ``resume`` does not offer, as the agent is built without them: the run keeps
its session, cycle limit and model settings from its start, and goes on in this process."""


class RunParser(argparse.ArgumentParser):
    """The parser of a run's flags. With ``json_errors`` (the command line has ``--json``), a
    usage error also prints the one JSON object ``--json`` promises on stdout
    (``usage_error``) before argparse's usage and error on stderr (exit 2)."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        """Report a usage error (see the class docstring) and exit 2."""
        if self.json_errors:
            error = {"code": "usage_error", "message": message}
            body = {"status": "failed", "run_id": None, "error": error}
            print(json.dumps(body, ensure_ascii=False), file=sys.stdout, flush=True)
        super().error(message)


def at_least_one(text: str) -> int:
    """An ``argparse`` type (``--max-cycles``, ``runs list --limit``): a whole number of 1 or
    more, else a usage error that says so."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, not {text!r}")
    return value


def build_parser() -> RunParser:
    """The CLI's argument parser."""
    parser = RunParser(
        prog="agentcycle",
        description=(
            "Run an agent on a workspace. Without a model the offline demo runs: it follows a "
            "fixed plan. Real models by name: --model openai:gpt-4.1-mini (OPENAI_API_KEY), "
            "anthropic:claude-sonnet-4-5 (ANTHROPIC_API_KEY), ollama:qwen2.5."
        ),
        epilog=(
            "other commands (each with --help): 'agentcycle resume RUN_ID --store URL' "
            "continues a durable run, 'agentcycle runs list --store URL' lists a store's runs, "
            "'agentcycle runs status|watch|cancel RUN_ID --store URL' shows, follows or stops "
            "one, 'agentcycle worker' runs Celery workers for --execution celery, "
            "'agentcycle app-server' serves the JSON-RPC protocol for UI hosts"
        ),
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--prompt", "-p", required=True, type=_prompt, help="the task")
    _add_flags(parser, resume=False)
    return parser


def build_resume_parser() -> RunParser:
    """The parser of ``agentcycle resume``: the run flags that build the agent and show the
    outcome, and none that only a new run uses (an unknown flag is a usage error)."""
    parser = RunParser(
        prog="agentcycle resume",
        description=(
            "Continue a durable run kept in --store, in this process, from its last committed "
            "cycle. The flags build the agent as a run does; without --backend/--model it "
            "takes the model the run was started with. The run keeps its session, cycle limit "
            "and model settings from its start."
        ),
    )
    parser.add_argument("run_id", help="the run to continue")
    parser.add_argument(
        "--prompt",
        "-p",
        type=_prompt,
        help="the answer, for a run waiting for the user",
    )
    _add_flags(parser, resume=True)
    parser.set_defaults(**_RESUME_DEFAULTS)
    return parser


def _add_flags(parser: argparse.ArgumentParser, *, resume: bool) -> None:
    """The flags after ``--prompt``; with ``resume``, only those a resumed run uses."""
    parser.add_argument("--backend", help="backend from the settings file, or 'demo' (offline)")
    parser.add_argument(
        "--model",
        help="provider:model (openai:gpt-4.1-mini, anthropic:..., ollama:qwen2.5, "
        "openai:NAME@BASE_URL), or a model name from the settings file",
    )
    parser.add_argument(
        "--settings-file",
        help="LLM settings (.json/.toml/.py); default: $AGENTCYCLE_SETTINGS, ./local_settings.*",
    )
    parser.add_argument(
        "--agents",
        metavar="FILE",
        help="a team of agents (.yaml/.yml/.json): which one gets the prompt, who hands off to "
        "whom, who calls whom as a tool; the other flags are the defaults of its agents",
    )
    parser.add_argument(
        "--workspace",
        default=None if resume else ".",
        help="the workspace the run goes on in (default: the one it started in)"
        if resume
        else "workspace directory, created if missing (default: .)",
    )
    if not resume:
        parser.add_argument(
            "--session",
            metavar="ID",
            help="continue the conversation ID (kept in "
            "<workspace>/.agentcycle/sessions.sqlite3); answer a question the agent asked by "
            "running again with the same ID",
        )
        parser.add_argument(
            "--max-cycles",
            type=at_least_one,
            default=DEFAULT_MAX_CYCLES,
            help=f"cycle limit (default: {DEFAULT_MAX_CYCLES})",
        )
    parser.add_argument(
        "--language",
        choices=("en-US", "zh-CN"),
        default="en-US",
        help="the language of agentcycle's own texts to the model (its system prompt "
        "sections, reminders): en-US (default) or zh-CN",
    )
    parser.add_argument(
        "--agent-type",
        choices=("default", "computer"),
        default="default",
        help="'computer' also offers the shell tools",
    )
    parser.add_argument(
        "--sandbox",
        choices=("read-only", "workspace-write", "off"),
        default=None,
        help="where shell commands run (default: workspace-write where bubblewrap works, "
        "else off): see docs/sandbox.md",
    )
    parser.add_argument(
        "--approval",
        choices=("default", "always", "never", "on_request"),
        default="default",
        help="when tool calls ask first (default: shell commands); asks on the terminal when "
        "stdin is a TTY, otherwise the run stops waiting for approval (exit 3)",
    )
    parser.add_argument(
        "--max-total-tokens",
        type=int,
        help="token budget of the run (all model calls); reaching it ends the run (exit 1)",
    )
    parser.add_argument(
        "--max-cost",
        type=float,
        help="cost budget of the run in US dollars; reaching it ends the run (exit 1); needs a "
        "`pricing` object for the model in the settings file",
    )
    parser.add_argument(
        "--skills-dir",
        action="append",
        metavar="DIR",
        help="a directory of skills (subdirectories with a SKILL.md) or one skill directory; "
        "repeatable",
    )
    parser.add_argument(
        "--mcp-config",
        metavar="FILE",
        help='MCP servers whose tools the agent gets: a JSON file {"mcpServers": {name: '
        "{command, args, env, cwd} or {url, headers}}}",
    )
    if not resume:
        parser.add_argument(
            "--temperature",
            type=float,
            help="sampling temperature for every agent's model calls (default: the model's)",
        )
        parser.add_argument(
            "--top-p", type=float, help="nucleus sampling: the top_p of every model call"
        )
        parser.add_argument(
            "--max-tokens", type=int, help="the most tokens a model call may answer with"
        )
    from agentcycle.cli._durable import add_durable_flags

    add_durable_flags(parser, resume=resume)
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--events", action="store_true", help="write every event as a JSON line to stdout"
    )
    output.add_argument(
        "--verbose", "-v", dest="events", action="store_true", help="same as --events"
    )
    output.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on stdout (also for errors): status, run_id, final_output, "
        "pending approvals, error",
    )


def interrupted(out: TextIO, err: TextIO, *, json_output: bool, run_id: str | None) -> int:
    """Ctrl+C: say so on stderr and, with ``--json``, still print the one object stdout
    promises (``"status": "cancelled"``); returns the exit code."""
    print("\nagentcycle: interrupted", file=err)
    if json_output:
        error = {"code": "interrupted", "message": "interrupted from the terminal (Ctrl+C)"}
        body = {"status": "cancelled", "run_id": run_id, "error": error}
        print(json.dumps(body, ensure_ascii=False), file=out)
    return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agentcycle`` command."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    args: argparse.Namespace | None = None
    try:
        if arguments[:1] == ["app-server"]:
            from agentcycle.app_server.cli import main as app_server_main

            return app_server_main(arguments[1:])
        if arguments[:1] == ["worker"]:  # a Celery worker for durable runs (cli/_worker.py)
            from agentcycle.cli._worker import worker_main

            return worker_main(arguments[1:])
        if arguments[:1] in (["runs"], ["resume"]):  # durable runs (cli/_durable.py)
            from agentcycle.cli._durable import durable_main

            return durable_main(arguments)
        parser = build_parser()
        parser.json_errors = "--json" in arguments
        args = parser.parse_args(arguments)
        from agentcycle.cli._run import run_cli

        return run_cli(args)
    except KeyboardInterrupt:  # before the run took over Ctrl+C (imports, set-up)
        json_output = bool(args is not None and args.json)
        return interrupted(sys.stdout, sys.stderr, json_output=json_output, run_id=None)
    except BrokenPipeError:
        # The reader of our output went away (`agentcycle ... | head`): stop quietly. Output
        # still buffered would fail again at exit, so stdout now goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
