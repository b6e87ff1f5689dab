"""Fixtures shared by the tool tests."""

from __future__ import annotations

import pytest

from agentcycle.state import RunToolState
from agentcycle.tools.base import ToolContext


@pytest.fixture
def ctx() -> ToolContext:
    """A tool context as the orchestrator builds it for one call."""
    return ToolContext(
        run_id="run_1",
        trace_id="trace_1",
        agent_name="tester",
        tool_call_id="call_1",
        cycle_index=1,
        state=RunToolState(),
    )
