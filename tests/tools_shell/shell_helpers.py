"""Helpers for the shell tool tests: call the tools, wait for files and for processes to die.

Waiting here is polling with a bound, never a fixed sleep standing in for synchronisation.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from agentcycle.messages import ToolResult
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin.shell import bash_tool, check_background_command_tool

POLL_SECONDS = 0.02
WAIT_LIMIT_SECONDS = 10.0


async def bash(ctx: ToolContext, **args: Any) -> tuple[ToolResult, dict[str, Any]]:
    """Call ``bash`` and parse its JSON content."""
    result = await bash_tool().invoke(ctx, args)
    return result, json.loads(result.content)


async def check(ctx: ToolContext, session_id: str) -> dict[str, Any]:
    """Call ``check_background_command`` and parse its JSON content."""
    result = await check_background_command_tool().invoke(ctx, {"session_id": session_id})
    return json.loads(result.content)


async def wait_finished(ctx: ToolContext, session_id: str) -> dict[str, Any]:
    """Poll ``check_background_command`` until the command is no longer running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_SECONDS
    while True:
        report = await check(ctx, session_id)
        if report["status"] != "running" or loop.time() > deadline:
            return report
        await asyncio.sleep(POLL_SECONDS)


async def wait_for_output(ctx: ToolContext, session_id: str) -> dict[str, Any]:
    """Poll ``check_background_command`` until the command has printed something or ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_SECONDS
    while True:
        report = await check(ctx, session_id)
        if report["output"] or report["status"] != "running" or loop.time() > deadline:
            return report
        await asyncio.sleep(POLL_SECONDS)


def _complete_line(path: Path) -> str | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return text.strip() if text.endswith("\n") else None


async def wait_for_line(path: Path) -> str:
    """The first complete line of ``path``, waiting for a command to write it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_SECONDS
    while loop.time() < deadline:
        line = _complete_line(path)
        if line is not None:
            return line
        await asyncio.sleep(POLL_SECONDS)
    raise AssertionError(f"{path} was not written")


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


async def gone(pid: int) -> bool:
    """Whether ``pid`` dies within the wait limit (killing and reaping take a moment)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT_SECONDS
    while alive(pid):
        if loop.time() > deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)
    return True
