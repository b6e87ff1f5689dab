"""The ``agentcycle`` command line: run an agent on a workspace from a terminal.

Only argument parsing lives here, so ``agentcycle --help`` stays fast; the runtime loads after.
Exit codes: 0 completed, 3 waiting for the user, 4 max cycles, 1 failure or bad configuration,
130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_WAIT_USER = 3
EXIT_MAX_CYCLES = 4
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    parser = argparse.ArgumentParser(
        prog="agentcycle",
        description=(
            "Run an agent on a workspace. Without a settings file the offline demo backend runs."
        ),
    )
    parser.add_argument("--prompt", "-p", required=True, help="the task for the agent")
    parser.add_argument("--backend", help="backend from the settings file, or 'demo' (offline)")
    parser.add_argument("--model", help="model name within the backend")
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
    parser.add_argument("--workspace", default=".", help="workspace directory (default: .)")
    parser.add_argument(
        "--session",
        metavar="ID",
        help="continue the conversation ID (kept in <workspace>/.agentcycle/sessions.sqlite3); "
        "answer a question the agent asked by running again with the same ID",
    )
    parser.add_argument("--max-cycles", type=int, default=80, help="cycle limit (default: 80)")
    parser.add_argument("--language", choices=("en-US", "zh-CN"), default="en-US")
    parser.add_argument(
        "--agent-type",
        choices=("default", "computer"),
        default="default",
        help="'computer' also offers the shell tools",
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
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--top-p", type=float)
    parser.add_argument("--max-tokens", type=int)
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--verbose", "-v", action="store_true", help="print every event")
    output.add_argument("--json", action="store_true", help="print one JSON result object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agentcycle`` command."""
    args = build_parser().parse_args(argv)
    from agentcycle.cli._run import run_cli

    return run_cli(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
