"""Fixtures for the shell tool tests: a real workspace directory and a run's tool context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agentcycle.state import RunToolState
from agentcycle.tools.base import ToolContext
from agentcycle.workspace.local import LocalWorkspaceBackend


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """The workspace root the commands run in (a fresh directory, symlinks resolved)."""
    root = tmp_path / "ws"
    root.mkdir()
    return root.resolve()


@pytest.fixture
async def ctx(workspace: Path) -> AsyncIterator[ToolContext]:
    """A tool context on ``workspace``; its run scope is closed afterwards, as the loop does,
    so no test leaves processes behind."""
    context = ToolContext(
        run_id="r",
        trace_id="t",
        agent_name="a",
        tool_call_id="c",
        cycle_index=1,
        state=RunToolState(),
        workspace=LocalWorkspaceBackend(workspace),
    )
    yield context
    await context.scope.aclose()
