"""Helpers for the file tool tests: a tool context over a backend, calls, digests, a PNG."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from typing import Any

from agentcycle.messages import ToolResult, ToolResultStatus
from agentcycle.state import RunToolState
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._tool import BuiltinTool
from agentcycle.workspace.output_bounds import MAX_TOOL_OUTPUT_CHARS


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


def png() -> bytes:
    """A real 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
