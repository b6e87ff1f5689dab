"""``agentcycle --mcp-config FILE``: the CLI's agent gets the servers' tools."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agentcycle.cli import main
from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer, ServerToolCall
from tests._cli import run_cli

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


def _demo_with_servers(tmp_path: Path, servers: dict[str, object], env: dict[str, str]) -> str:
    """The demo run's stderr with ``servers`` in its ``--mcp-config``."""
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": servers}))
    (tmp_path / "README.md").write_text("# Sample\n")
    proc = run_cli("--backend", "demo", "-p", "Summarise", "--mcp-config", "mcp.json",
                   cwd=tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr  # the run goes on without the server's tools
    return proc.stderr


def test_a_server_that_does_not_start_is_said_in_the_terminal(tmp_path: Path) -> None:
    broken = {"command": sys.executable, "args": [str(SERVER), "--fail-start"]}
    err = _demo_with_servers(tmp_path, {"broken": broken}, {})
    assert "MCP server broken is not running (" in err and "its tools are not offered" in err


def test_a_missing_mcp_package_says_which_extra_to_install(tmp_path: Path) -> None:
    # A Python where the SDK is not installed: a package of that name that cannot be imported.
    shadow = tmp_path / "no-mcp"
    (shadow / "mcp").mkdir(parents=True)
    (shadow / "mcp" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'mcp'\", name='mcp')\n"
    )
    notes = {"command": sys.executable, "args": [str(SERVER)]}
    err = _demo_with_servers(tmp_path, {"notes": notes}, {"PYTHONPATH": str(shadow)})
    assert (
        "MCP server notes is not running (the mcp package is missing: pip install 'agentcycle[mcp]'"
    ) in err, err
