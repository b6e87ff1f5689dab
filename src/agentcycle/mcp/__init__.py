"""Tools from MCP servers (the ``mcp`` extra: the official ``mcp`` SDK, imported lazily).

Layer: above ``tools`` (an MCP tool is a ``Tool``), below the runtime and the SDK front door
(``Agent`` and ``RunConfig`` name these types; ``assembly`` offers the tools to a run). Servers
are configured with ``StdioServerConfig`` / ``HttpServerConfig`` or read from the common
``{"mcpServers": {...}}`` file (``load_mcp_config``); a host shares live servers across runs
with an ``MCPServers`` it opens and closes itself.
"""

from __future__ import annotations

from agentcycle.mcp._tools import (
    MCP_PROTOCOL_ERROR,
    MCP_SERVER_UNAVAILABLE,
    MCP_TIMEOUT,
    MCP_TOOL_ERROR,
    MCPTool,
    exposed_name,
)
from agentcycle.mcp.config import (
    HttpServerConfig,
    MCPServerConfig,
    StdioServerConfig,
    load_mcp_config,
    parse_mcp_config,
)
from agentcycle.mcp.servers import (
    MCPReport,
    MCPServerFailure,
    MCPServers,
    MCPServersOption,
    MCPServerStart,
    MCPToolList,
    RunMCP,
)

__all__ = [
    "MCP_PROTOCOL_ERROR",
    "MCP_SERVER_UNAVAILABLE",
    "MCP_TIMEOUT",
    "MCP_TOOL_ERROR",
    "HttpServerConfig",
    "MCPReport",
    "MCPServerConfig",
    "MCPServerFailure",
    "MCPServerStart",
    "MCPServers",
    "MCPServersOption",
    "MCPTool",
    "MCPToolList",
    "RunMCP",
    "StdioServerConfig",
    "exposed_name",
    "load_mcp_config",
    "parse_mcp_config",
]
