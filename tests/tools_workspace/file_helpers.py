"""Helpers for the file tool tests: a run's tool context over a backend, and a call shortcut."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agentcycle.messages import ToolResult, ToolResultStatus
from agentcycle.runtime.output_bounds import MAX_TOOL_OUTPUT_CHARS
from agentcycle.runtime.state import RunToolState
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._tool import BuiltinTool


def tool_context(workspace: Any) -> ToolContext:
    """A tool context on ``workspace`` with a fresh run state, as the orchestrator builds one."""
    return ToolContext(
        run_id="run_test",
        trace_id="trace_test",
        agent_name="tester",
        tool_call_id="call_test",
        cycle_index=1,
        state=RunToolState(),
        workspace=workspace,
    )


async def call(tool: BuiltinTool, ctx: ToolContext, **args: Any) -> dict[str, Any]:
    """Invoke ``tool`` and return its parsed JSON content (errors included).

    Every file tool result fits a tool message as is: the orchestrator never has to cut it.
    """
    result = await tool.invoke(ctx, args)
    return parse(result)


def parse(result: ToolResult) -> dict[str, Any]:
    """A result's JSON content, checked against its status."""
    assert len(result.content) <= MAX_TOOL_OUTPUT_CHARS, len(result.content)
    body: dict[str, Any] = json.loads(result.content)
    assert body["ok"] is (result.status is ToolResultStatus.SUCCESS)
    if not body["ok"]:
        assert body["error_code"] == result.error_code
    return body


def sha256(data: bytes | str) -> str:
    """The hex digest of ``data`` (text as UTF-8)."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()
