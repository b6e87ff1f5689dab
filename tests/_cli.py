"""The ``agentcycle`` command as a subprocess, run the way a user runs it, for the tests of the
CLI and of what it drives (durable runs, Celery workers, sessions, skills).

The child gets this process's environment without the user's own agentcycle and provider
variables (``AGENTCYCLE_*``, ``OPENAI_*``, ``ANTHROPIC_*``, ``OLLAMA_*``), so a settings file,
key, server address or crash point of the machine never reaches a test, and with this checkout
first on ``PYTHONPATH``: the CLI runs in a temporary folder, where a relative path to the
sources would not reach them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import agentcycle

SOURCES = str(Path(agentcycle.__file__).resolve().parents[1])
"""The folder ``agentcycle`` is imported from in this process."""

CLEARED = ("AGENTCYCLE_", "OPENAI_", "ANTHROPIC_", "OLLAMA_")
"""Prefixes of the variables the child does not inherit."""


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The child's environment: this one without ``CLEARED`` variables, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SOURCES, env.get("PYTHONPATH")) if p)
    return {**env, **(extra or {})}


def run_cli(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``agentcycle ARGS`` in ``cwd`` until it exits, its output captured as text; ``env``
    adds to (or overrides) the cleaned environment."""
    return subprocess.run(
        [sys.executable, "-m", "agentcycle", *args],
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_cli(
    *args: str, cwd: Path, stdout: int, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """``agentcycle ARGS`` started in ``cwd`` with stdout to ``stdout`` (``subprocess.PIPE`` or
    a file descriptor) and stderr piped, for a test that signals it or reads it as it runs.
    SIGINT has its default action, as in a terminal's foreground job (a shell's background
    job, as pytest may be, ignores it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "agentcycle", *args],
        cwd=cwd,
        env=cli_env(env),
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
