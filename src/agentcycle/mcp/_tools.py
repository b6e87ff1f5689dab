"""MCP tools as ordinary ``Tool``s: exposed names, side effects from annotations, results."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agentcycle._json import dumps
from agentcycle.messages import AttachImage, ToolResult
from agentcycle.tools.base import SideEffect, ToolContext

MCP_TOOL_ERROR = "mcp_tool_error"
"""The server ran the tool and reported a failure (``isError``)."""
MCP_PROTOCOL_ERROR = "mcp_protocol_error"
"""The server answered with a JSON-RPC error or a malformed result."""
MCP_TIMEOUT = "mcp_timeout"
"""The call took longer than the server's ``timeout_s``; the next call reconnects."""
MCP_SERVER_UNAVAILABLE = "mcp_server_unavailable"
"""The server is not running (failed to start, died, or could not be restarted)."""

_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
MAX_NAME = 64
MAX_IMAGE_BYTES = 5 * 1024 * 1024
"""The largest image shown to the model (``read_image``'s limit too)."""

Caller = Callable[[str, dict[str, Any]], Awaitable[ToolResult]]
"""Calls a tool of one server by its MCP name and returns the converted result."""


def exposed_name(server: str, tool: str) -> str:
    """``<server>__<tool>`` in the charset model APIs accept, at most 64 characters. Invalid
    characters become ``_``; a longer name keeps its head and ends with a hash of the whole,
    so two long names do not collapse into one."""
    name = _INVALID.sub("_", f"{server}__{tool}")
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(f"{server}__{tool}".encode()).hexdigest()[:8]
    return f"{name[: MAX_NAME - 9]}_{digest}"


@dataclass(frozen=True, slots=True)
class MCPTool:
    """One tool of an MCP server, offered to the model as ``name`` (``<server>__<tool>``).

    It goes through the orchestrator like any tool (schema validation, policy, approval,
    hooks, bounded output, events); the call's own time limit is the server's ``timeout_s``
    (``mcp_timeout``), so ``timeout_seconds`` is ``None`` here.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    server: str
    mcp_name: str
    call: Caller = field(repr=False, compare=False)
    side_effect: SideEffect = SideEffect.EXTERNAL
    read_only: bool = False
    needs_approval: bool = False
    annotations: dict[str, Any] = field(default_factory=dict)
    """The server's annotations (``readOnlyHint`` ...), as the server sent them."""
    timeout_seconds: float | None = None

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        """Call the tool on its server."""
        return await self.call(self.mcp_name, arguments)


def tool_traits(annotations: Any, require_approval: bool) -> tuple[SideEffect, bool, bool]:
    """``(side_effect, read_only, needs_approval)`` from MCP annotations. Annotations are the
    server's hints, so they only ever tighten what the configuration asks: a read-only hint
    makes the tool a ``read`` (run concurrently with other reads), anything else acts outside
    the workspace (``external``); an explicit ``destructiveHint`` asks for approval."""
    read_only = bool(annotations is not None and annotations.read_only_hint)
    destructive = bool(annotations is not None and annotations.destructive_hint is True)
    side_effect = SideEffect.READ if read_only else SideEffect.EXTERNAL
    return side_effect, read_only, require_approval or (destructive and not read_only)


def parameters_of(schema: Any) -> dict[str, Any]:
    """The tool's input schema as an object schema (some servers omit ``type`` or
    ``properties`` for a tool without arguments)."""
    params = dict(schema) if isinstance(schema, dict) else {}
    params.setdefault("type", "object")
    params.setdefault("properties", {})
    return params


def convert_result(result: Any, server: str, tool: str) -> ToolResult:
    """A ``CallToolResult`` as a ``ToolResult``: structured content when present (as JSON),
    else the text, resource links and embedded resources in order; the first image (up to
    5 MiB) is shown to the model (``AttachImage``), others are named; ``isError`` is
    ``mcp_tool_error``."""
    parts: list[str] = []
    image: AttachImage | None = None
    for index, block in enumerate(result.content or ()):
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(block.text)
        elif kind == "image":
            label = f"{server}__{tool} image {index + 1} ({block.mime_type})"
            if len(block.data) * 3 // 4 > MAX_IMAGE_BYTES:
                parts.append(f"[image: {label}, not attached: over 5 MiB]")
            elif image is None:
                image = AttachImage(label=label, data=block.data, media_type=block.mime_type)
                parts.append(f"[image: {label}, attached]")
            else:
                parts.append(f"[image: {label}, not attached: one image per result]")
        elif kind == "audio":
            parts.append(f"[audio ({block.mime_type}) not shown]")
        elif kind == "resource_link":
            mime = f" ({block.mime_type})" if block.mime_type else ""
            about = f": {block.description}" if block.description else ""
            parts.append(f"[resource link {block.name} {block.uri}{mime}{about}]")
        elif kind == "resource":
            parts.append(_embedded(block.resource))
        else:
            parts.append(f"[unsupported content {kind!r}]")
    text = "\n".join(parts)
    metadata = {"mcp_server": server, "mcp_tool": tool}
    if result.is_error:
        return ToolResult.error(
            MCP_TOOL_ERROR,
            text or f"MCP tool {tool!r} failed",
            metadata=metadata,
            directive=image,
        )
    if result.structured_content is not None:
        text = dumps(result.structured_content)
    return ToolResult.success(text, metadata=metadata, directive=image)


def _embedded(resource: Any) -> str:
    mime = f" ({resource.mime_type})" if resource.mime_type else ""
    text = getattr(resource, "text", None)
    if text is not None:
        return f"[resource {resource.uri}{mime}]\n{text}"
    return f"[resource {resource.uri}{mime}: {len(resource.blob)} characters of base64 not shown]"


def error_result(
    error_code: str, message: str, server: str, tool: str, details: Any = None
) -> ToolResult:
    """An MCP failure as an error result with a stable ``error_code``."""
    return ToolResult.error(
        error_code,
        message,
        details=details,
        metadata={"mcp_server": server, "mcp_tool": tool},
    )
