"""MCP server configuration: the mcpServers file, its errors, the SDK and CLI entry points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig
from agentcycle.cli import build_parser
from agentcycle.cli._run import _mcp_servers
from agentcycle.errors import ConfigurationError
from agentcycle.mcp import (
    HttpServerConfig,
    StdioServerConfig,
    load_mcp_config,
    parse_mcp_config,
)


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps(data))
    return path


def test_a_file_with_both_transports_and_every_option(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "mcpServers": {
                "files": {
                    "command": "npx",
                    "args": ["-y", "server-files", "/data"],
                    "env": {"LOG": "1"},
                    "cwd": "/tmp",
                    "allowed_tools": ["read"],
                    "timeout_s": 5,
                    "startup_timeout_s": 90,
                    "require_approval": True,
                },
                "remote": {
                    "url": "https://mcp.example.com/mcp",
                    "headers": {"Authorization": "Bearer x"},
                    "blocked_tools": ["drop"],
                    "cache_tools": False,
                },
            }
        },
    )
    files, remote = load_mcp_config(path)
    assert files == StdioServerConfig(
        name="files",
        command="npx",
        args=("-y", "server-files", "/data"),
        env={"LOG": "1"},
        cwd="/tmp",
        allowed_tools=("read",),
        timeout_s=5.0,
        startup_timeout_s=90.0,
        require_approval=True,
    )
    assert remote == HttpServerConfig(
        name="remote",
        url="https://mcp.example.com/mcp",
        headers={"Authorization": "Bearer x"},
        blocked_tools=("drop",),
        cache_tools=False,
    )
    assert files.offers("read") and not files.offers("write")
    assert remote.offers("read") and not remote.offers("drop")


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        ({"a": {"command": "x", "timeout_s": 0}}, "mcpServers.a.timeout_s: expected a number"),
        ({"a": {"command": "x", "args": "y"}}, "mcpServers.a.args: expected a list of strings"),
        ({"a": {"args": []}}, "mcpServers.a.command: expected a non-empty string"),
        ({"a": {"command": "x", "colour": 1}}, "mcpServers.a.colour: unknown key"),
        ({"a": {"url": "ftp://x"}}, "mcpServers.a.url: expected an http(s) URL"),
        ({"a": {"url": "http://x", "headers": {"k": 1}}}, "mcpServers.a.headers: expected"),
        ({"a": {"command": "x", "require_approval": "yes"}}, "a.require_approval: expected true"),
        ({"a b": {"command": "x"}}, "mcpServers.a b: server name must be 1-64 letters"),
        ({"a__b": {"command": "x"}}, "mcpServers.a__b: server name must not contain '__'"),
        ({"a": ["x"]}, "mcpServers.a: expected an object"),
    ],
)
def test_a_bad_entry_is_one_line_naming_the_file_and_the_key(
    tmp_path: Path, servers: object, message: str
) -> None:
    path = write(tmp_path, {"mcpServers": servers})
    with pytest.raises(ConfigurationError) as caught:
        load_mcp_config(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text
    assert "\n" not in text


def test_an_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read MCP config"):
        load_mcp_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ConfigurationError, match=r"bad\.json: not valid JSON"):
        load_mcp_config(bad)
    with pytest.raises(ConfigurationError, match="expected an object with an 'mcpServers'"):
        parse_mcp_config({"servers": {}}, source="inline")


def test_sdk_and_cli_take_the_servers(tmp_path: Path) -> None:
    server = StdioServerConfig(name="t", command="x")
    assert Agent(mcp_servers=[server]).mcp_servers == [server]
    config = RunConfig(mcp_servers=[server])
    assert RunConfig().over(config).mcp_servers == [server]  # a layer that sets none keeps it
    path = write(tmp_path, {"mcpServers": {"t": {"command": "x"}}})
    args = build_parser().parse_args(["-p", "hi", "--mcp-config", str(path)])
    assert _mcp_servers(args.mcp_config) == (server,)
    assert _mcp_servers(None) is None
