"""``agentcycle --mcp-config FILE``: the CLI's agent gets the servers' tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agentcycle.cli import main
from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer, ServerToolCall

from .conftest import SERVER


def test_the_cli_offers_and_calls_mcp_tools(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mcp_config = tmp_path / "mcp.json"
    mcp_config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "notes": {"command": sys.executable, "args": [str(SERVER)]},
                    "broken": {"command": sys.executable, "args": [str(SERVER), "--fail-start"]},
                }
            }
        )
    )
    workspace = tmp_path / "ws"
    workspace.mkdir()
    with OpenAICompatServer() as server:
        settings = tmp_path / "settings.json"
        settings.write_text(
            json.dumps(
                {
                    "VERSION": "2",
                    "endpoints": [{"id": "loop", "api_base": server.base_url, "api_key": "k"}],
                    "backends": {
                        "local": {
                            "default_model": "m",
                            "models": {"m": {"endpoints": [{"endpoint_id": "loop"}]}},
                        }
                    },
                }
            )
        )
        server.enqueue(
            ChatReply(tool_calls=[ServerToolCall("notes__echo", {"text": "from MCP"})]),
            ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": "done"})]),
        )
        code = main(
            [
                "--prompt", "hi", "--settings-file", str(settings), "--workspace",
                str(workspace), "--mcp-config", str(mcp_config), "--json",
            ]
        )  # fmt: skip
        first, second = (request.json for request in server.requests)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "notes__echo" in {tool["function"]["name"] for tool in first["tools"]}
    assert any(m.get("content") == "from MCP" for m in second["messages"])
    assert json.loads(out)["final_output"] == "done"


def test_a_bad_mcp_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "mcp.json"
    bad.write_text(json.dumps({"mcpServers": {"x": {"command": "y", "timeout_s": -1}}}))
    code = main(["--prompt", "hi", "--backend", "demo", "--mcp-config", str(bad)])
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"agentcycle: {bad}: mcpServers.x.timeout_s: expected a number of seconds > 0\n"
