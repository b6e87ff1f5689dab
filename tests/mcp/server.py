"""An MCP server for the tests, on the official SDK's ``MCPServer``: every result type, both
failure styles, a slow tool, a crash, and a tool that changes the tool list.

``python server.py`` serves stdio; ``python server.py --http PORT`` serves streamable HTTP on
127.0.0.1 (``--http 0`` picks a free port and prints ``PORT <n>`` on stdout once listening).
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from typing import Any

from mcp import MCPError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from mcp.types import (
    BlobResourceContents,
    EmbeddedResource,
    ResourceLink,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from pydantic import BaseModel

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg=="
)

server = MCPServer("test-server")


class Sum(BaseModel):
    total: int
    terms: list[int]


@server.tool(
    annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True), structured_output=False
)
def echo(text: str) -> str:
    """Return the text."""
    return text


@server.tool()
def add(a: int, b: int) -> Sum:
    """Add two numbers (structured result)."""
    return Sum(total=a + b, terms=[a, b])


@server.tool(structured_output=False)
def picture() -> list[Any]:
    """A caption and a one-pixel PNG."""
    return ["one pixel", Image(data=PNG, format="png")]


@server.tool(structured_output=False)
def resources() -> list[Any]:
    """A resource link and two embedded resources."""
    return [
        ResourceLink(name="notes", uri="file:///notes.txt", mime_type="text/plain"),
        EmbeddedResource(
            resource=TextResourceContents(uri="mem://readme", mime_type="text/plain", text="hi")
        ),
        EmbeddedResource(
            resource=BlobResourceContents(uri="mem://blob", mime_type="image/png", blob="AAAA")
        ),
        TextContent(text="done"),
    ]


@server.tool(annotations=ToolAnnotations(destructive_hint=True))
def remove(path: str) -> str:
    """Pretend to delete a file (destructive)."""
    return f"removed {path}"


@server.tool()
def fail(reason: str) -> str:
    """Fail as a tool (isError)."""
    raise ToolError(reason)


@server.tool()
def protocol_error() -> str:
    """Fail as a protocol (JSON-RPC error)."""
    raise MCPError(code=-32602, message="bad request from the tool")


@server.tool()
async def slow(seconds: float) -> str:
    """Answer after ``seconds``."""
    await asyncio.sleep(seconds)
    return "slow done"


@server.tool()
def crash() -> str:
    """Exit the server process mid-call."""
    os._exit(3)


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called ``name`` and announce that the tool list changed."""
    server.add_tool(lambda: f"I am {name}", name=name, description=f"added at run time: {name}")
    await ctx.notify_tools_changed()
    return f"added {name}"


@server.tool(structured_output=False)
def header(name: str, ctx: Context) -> str:
    """The value of the HTTP request header ``name`` (empty over stdio)."""
    headers = ctx.headers or {}
    return {k.lower(): v for k, v in headers.items()}.get(name.lower(), "")


@server.tool(structured_output=False)
def env(name: str) -> str:
    """The server's environment variable ``name`` (empty when unset)."""
    return os.environ.get(name, "")


def main() -> None:
    if "--fail-start" in sys.argv:
        print("cannot start: missing configuration", file=sys.stderr, flush=True)
        sys.exit(2)
    if "--http" in sys.argv:
        port = int(sys.argv[sys.argv.index("--http") + 1])
        asyncio.run(server.run_streamable_http_async(host="127.0.0.1", port=port))
    else:
        asyncio.run(server.run_stdio_async())


if __name__ == "__main__":
    main()
