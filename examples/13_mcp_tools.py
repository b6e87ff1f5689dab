"""Tools from an MCP server: the agent calls ``notes__lookup`` like any other tool.

MCP tools go through the same orchestrator as built-ins (schema validation, policy, approvals,
hooks, bounded output, events); a read-only server tool (``readOnlyHint``) counts as a read.
This file is also the MCP server (``--serve``, on the official SDK), so it runs offline.
Needs the ``mcp`` extra: ``pip install "agentcycle[mcp]"``.

Run: python examples/13_mcp_tools.py
"""

from __future__ import annotations

import sys

from agentcycle import Agent, Runner
from agentcycle.mcp import StdioServerConfig
from agentcycle.messages import ToolMessage
from agentcycle.testing import ScriptedModel, call_tool

NOTES = {"deploys": "Deploys go out on Tuesdays after the 10:00 stand-up."}


def serve() -> None:
    """The MCP server: one read-only tool over stdio."""
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    server = MCPServer("notes")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True), structured_output=False)
    def lookup(topic: str) -> str:
        """Read the team's note on a topic."""
        return NOTES.get(topic, f"no note on {topic!r}")

    server.run()


def main() -> None:
    notes = StdioServerConfig(
        name="notes", command=sys.executable, args=(__file__, "--serve"), timeout_s=10
    )
    model = ScriptedModel(
        [
            call_tool("notes__lookup", {"topic": "deploys"}),
            call_tool("task_finish", {"message": "Deploys go out on Tuesdays."}),
        ]
    )
    agent = Agent(name="helper", model=model, mcp_servers=[notes])
    result = Runner.run_sync(agent, "When do deploys go out?")
    print("tools offered:", ", ".join(t for t in model.requests[0].tools if "__" in t))
    note = next(m.content for m in result.messages if isinstance(m, ToolMessage))
    print("notes__lookup ->", note)
    print(f"{result.status.value} - {result.final_output}")


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve()
    else:
        main()
