"""MCP servers and their tools, over stdio and streamable HTTP: every result type, both failure
styles, a timeout, a server killed mid-call, a list_changed notice, filters and names."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

from agentcycle.errors import ConfigurationError
from agentcycle.mcp import (
    MCP_PROTOCOL_ERROR,
    MCP_SERVER_UNAVAILABLE,
    MCP_TIMEOUT,
    MCP_TOOL_ERROR,
    HttpServerConfig,
    MCPServerConfig,
    MCPServers,
    MCPTool,
    StdioServerConfig,
    exposed_name,
)
from agentcycle.mcp._tools import MAX_IMAGE_BYTES, convert_result
from agentcycle.messages import AttachImage, ToolResultStatus
from agentcycle.tools.base import SideEffect
from agentcycle.tools.registry import TOOL_NAME_PATTERN

from .conftest import free_port, gone, http_server, stdio

Factory = Callable[..., MCPServerConfig]


@pytest.fixture(params=["stdio", "http"])
def server(request: pytest.FixtureRequest) -> Factory:
    """A config factory for the in-repo server over each transport."""
    if request.param == "stdio":
        return stdio
    return request.getfixturevalue("http")  # type: ignore[no-any-return]


async def tools_of(servers: MCPServers) -> dict[str, MCPTool]:
    tools, failures = await servers.tools()
    assert failures == ()
    return {tool.name: tool for tool in tools}


async def call(tool: MCPTool, **arguments: Any) -> Any:
    return await tool.invoke(None, arguments)  # type: ignore[arg-type]


async def test_every_result_type(server: Factory) -> None:
    async with MCPServers([server("s")]) as servers:
        tools = await tools_of(servers)
        text = await call(tools["s__echo"], text="hello")
        assert (text.status, text.content) == (ToolResultStatus.SUCCESS, "hello")
        assert text.metadata == {"mcp_server": "s", "mcp_tool": "echo"}

        structured = await call(tools["s__add"], a=2, b=3)
        assert json.loads(structured.content) == {"total": 5, "terms": [2, 3]}

        picture = await call(tools["s__picture"])
        assert isinstance(picture.directive, AttachImage)
        assert picture.directive.media_type == "image/png" and picture.directive.data
        assert picture.content.startswith("one pixel\n[image: s__picture image 2")

        resources = (await call(tools["s__resources"])).content.splitlines()
        assert resources == [
            "[resource link notes file:///notes.txt (text/plain)]",
            "[resource mem://readme (text/plain)]",
            "hi",
            "[resource mem://blob (image/png): 4 characters of base64 not shown]",
            "done",
        ]


async def test_a_stdio_server_gets_its_env_and_not_the_hosts_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    async with MCPServers([stdio("s", env={"TEAM": "ops"})]) as servers:
        tools = await tools_of(servers)
        assert (await call(tools["s__env"], name="TEAM")).content == "ops"
        assert (await call(tools["s__env"], name="OPENAI_API_KEY")).content == ""
        assert (await call(tools["s__env"], name="PATH")).content != ""


async def test_http_servers_get_the_configured_headers(
    http: Callable[..., MCPServerConfig],
) -> None:
    async with MCPServers([http("h", headers={"X-Team": "billing"})]) as servers:
        tools = await tools_of(servers)
        assert (await call(tools["h__header"], name="x-team")).content == "billing"


async def test_both_failure_styles_have_stable_codes(server: Factory) -> None:
    async with MCPServers([server("s")]) as servers:
        tools = await tools_of(servers)
        failed = await call(tools["s__fail"], reason="disk full")
        assert (failed.status, failed.error_code) == (ToolResultStatus.ERROR, MCP_TOOL_ERROR)
        assert "disk full" in json.loads(failed.content)["error"]
        protocol = await call(tools["s__protocol_error"])
        assert protocol.error_code == MCP_PROTOCOL_ERROR
        body = json.loads(protocol.content)
        assert body["error"] == "bad request from the tool" and body["details"] == {"code": -32602}
        assert (await call(tools["s__echo"], text="still fine")).content == "still fine"


async def test_a_slow_call_times_out_and_the_next_call_reconnects(server: Factory) -> None:
    async with MCPServers([server("s", timeout_s=0.5)]) as servers:
        tools = await tools_of(servers)
        before = (await call(tools["s__pid"])).content
        slow = await call(tools["s__slow"], seconds=30)
        assert slow.error_code == MCP_TIMEOUT and "0.5 s" in slow.content
        assert (await call(tools["s__echo"], text="back")).content == "back"
        if server is stdio:  # a new process answers
            assert (await call(tools["s__pid"])).content != before


async def test_a_server_killed_mid_call_is_an_error_then_one_reconnect() -> None:
    async with MCPServers([stdio("s")]) as servers:
        tools = await tools_of(servers)
        first = json.loads((await call(tools["s__pid"])).content)["result"]
        crashed = await call(tools["s__crash"])
        assert crashed.error_code == MCP_SERVER_UNAVAILABLE
        second = json.loads((await call(tools["s__pid"])).content)["result"]
        assert second != first


async def test_an_http_server_that_went_away_is_an_error_then_reconnected() -> None:
    port = free_port()
    config = HttpServerConfig(name="h", url=f"http://127.0.0.1:{port}/mcp")
    with contextlib.ExitStack() as processes:  # left after the client closed
        first = processes.enter_context(http_server(port))
        async with MCPServers([config]) as servers:
            tools = await tools_of(servers)
            assert (await call(tools["h__echo"], text="a")).content == "a"
            first.kill()
            first.wait()
            assert (await call(tools["h__echo"], text="b")).error_code == MCP_SERVER_UNAVAILABLE
            processes.enter_context(http_server(port))
            assert (await call(tools["h__echo"], text="c")).content == "c"


async def test_the_next_listing_restarts_a_server_that_died() -> None:
    async with MCPServers([stdio("s")]) as servers:
        tools = await tools_of(servers)
        first = (await call(tools["s__pid"])).content
        assert (await call(tools["s__crash"])).error_code == MCP_SERVER_UNAVAILABLE
        again = await tools_of(servers)  # the next run's listing: restarted, not left out
        assert (await call(again["s__pid"])).content != first


async def test_a_server_that_cannot_come_back_stays_an_error(tmp_path: Any) -> None:
    flag = tmp_path / "flag"
    flag.write_text("")
    # Starts while the flag exists; later restarts fail like a server that is gone.
    script = tmp_path / "launcher.py"
    script.write_text(
        "import os, runpy, sys\n"
        f"if not os.path.exists({str(flag)!r}): sys.exit('no longer installed')\n"
        f"sys.argv = [{str(stdio().args[0])!r}]\n"
        f"runpy.run_path({str(stdio().args[0])!r}, run_name='__main__')\n"
    )
    config = StdioServerConfig(name="s", command=sys.executable, args=(str(script),))
    async with MCPServers([config]) as servers:
        tools = await tools_of(servers)
        flag.unlink()
        assert (await call(tools["s__crash"])).error_code == MCP_SERVER_UNAVAILABLE
        again = await call(tools["s__echo"], text="x")
        assert again.error_code == MCP_SERVER_UNAVAILABLE
        assert "no longer installed" in again.content


async def test_the_tool_list_is_cached_until_the_server_announces_a_change(
    server: Factory,
) -> None:
    async with MCPServers([server("s")]) as servers:
        tools = await tools_of(servers)
        assert "s__extra" not in tools
        seen = servers.changes("s")
        await call(tools["s__grow"], name="extra")
        await servers.wait_tools_changed("s", seen)
        grown = await tools_of(servers)
        assert (await call(grown["s__extra"])).content == "I am extra"


async def test_filters_annotations_and_approval() -> None:
    config = stdio("s", allowed_tools=("echo", "add", "remove", "fail"), blocked_tools=("fail",))
    async with MCPServers([config]) as servers:
        tools = await tools_of(servers)
        assert list(tools) == ["s__echo", "s__add", "s__remove"]
        echo, add, remove = tools.values()
        assert (echo.side_effect, echo.read_only, echo.needs_approval) == (
            SideEffect.READ,
            True,
            False,
        )
        assert echo.annotations == {"readOnlyHint": True, "idempotentHint": True}
        assert (add.side_effect, add.read_only, add.needs_approval) == (
            SideEffect.EXTERNAL,
            False,
            False,
        )
        assert remove.needs_approval  # an explicit destructiveHint asks first
    async with MCPServers([stdio("s", require_approval=True)]) as servers:
        assert all(tool.needs_approval for tool in (await tools_of(servers)).values())


def test_exposed_names_are_sanitised_bounded_and_distinct() -> None:
    assert exposed_name("fs", "read.file v2") == "fs__read_file_v2"
    long_a, long_b = exposed_name("srv", "x" * 80 + "a"), exposed_name("srv", "x" * 80 + "b")
    assert len(long_a) == 64 and long_a != long_b
    assert all(TOOL_NAME_PATTERN.fullmatch(n) for n in (long_a, long_b))


async def test_two_tools_that_sanitise_to_one_name_are_a_configuration_error() -> None:
    async with MCPServers([stdio("s")]) as servers:
        tools = await tools_of(servers)
        seen = servers.changes("s")
        await call(tools["s__grow"], name="get.item")
        await call(tools["s__grow"], name="get_item")
        await servers.wait_tools_changed("s", seen)
        with pytest.raises(ConfigurationError, match=r"s/get\.item and s/get_item both become"):
            await servers.tools()
    with pytest.raises(ConfigurationError, match="two servers are named 's'"):
        MCPServers([stdio("s"), stdio("s")])


async def test_a_server_that_fails_to_start_is_reported_with_its_stderr() -> None:
    async with MCPServers([stdio("bad", "--fail-start"), stdio("good")]) as servers:
        tools, failures = await servers.tools()
    assert {t.server for t in tools} == {"good"}
    (failure,) = failures
    assert failure.server == "bad"
    assert "missing configuration" in failure.stderr


async def test_servers_start_concurrently(tmp_path: Any) -> None:
    # Each launcher opens one end of a FIFO before it becomes the server: opening blocks until
    # the other end is open too, so started one after the other, neither would ever start.
    fifo = tmp_path / "meet"
    os.mkfifo(fifo)
    launcher = (
        "import runpy, sys; open(sys.argv[1], sys.argv[2]).close(); "
        "server = sys.argv[3]; sys.argv = [server]; runpy.run_path(server, run_name='__main__')"
    )

    def meeting(name: str, mode: str) -> StdioServerConfig:
        args = ("-c", launcher, str(fifo), mode, str(stdio().args[0]))
        return StdioServerConfig(name=name, command=sys.executable, args=args)

    async with MCPServers([meeting("a", "w"), meeting("b", "r")]) as servers:
        tools = await tools_of(servers)
    assert {"a__echo", "b__echo"} <= set(tools)


async def test_a_server_that_never_answers_is_stopped_after_its_timeout(tmp_path: Any) -> None:
    fifo = tmp_path / "pid"
    os.mkfifo(fifo)
    hung = StdioServerConfig(
        name="hung",
        command=sys.executable,
        args=(
            "-c",
            "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
            "print('starting forever', file=sys.stderr, flush=True); time.sleep(600)",
            str(fifo),
        ),
        startup_timeout_s=1,
    )
    servers = MCPServers([hung])
    opening = asyncio.create_task(servers.open())
    pid = int(await asyncio.to_thread(fifo.read_text))  # blocks until the server wrote it
    await opening
    (failure,) = servers.failures
    assert failure.message == "did not start within 1 s"
    assert failure.stderr == "starting forever"
    assert gone(pid)
    await servers.aclose()


def test_an_image_over_the_limit_is_named_not_attached() -> None:
    from mcp.types import CallToolResult, ImageContent

    big = "A" * (MAX_IMAGE_BYTES * 4 // 3 + 8)
    result = convert_result(
        CallToolResult(content=[ImageContent(data=big, mime_type="image/png")]), "s", "shot"
    )
    assert result.directive is None
    assert result.content == "[image: s__shot image 1 (image/png), not attached: over 5 MiB]"
