"""Agent runs with MCP tools: the same orchestrator as built-ins (policy, approvals, events),
run-owned and host-shared lifecycles, start-up failures, cancellation mid-call, and a
third-party server from PyPI."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.errors import ConfigurationError
from agentcycle.events import (
    ApprovalRequested,
    Diagnostic,
    MCPServerFailed,
    MCPServerStarted,
    MCPToolsListed,
    RunStatus,
    ToolCallCompleted,
    ToolCallPlanned,
    ToolCallStarted,
    parse_event,
)
from agentcycle.mcp import HttpServerConfig, MCPServers, StdioServerConfig
from agentcycle.messages import ImagePart, ToolMessage, UserMessage
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.testing import ScriptedModel, call_tool

from .conftest import gone, stdio

FINISH = call_tool("task_finish", {"message": "done", "require_all_todos_completed": False})


def tool_outputs(messages: list[Any]) -> list[str]:
    return [m.content for m in messages if isinstance(m, ToolMessage)]


def pid_of(content: str) -> int:
    return int(json.loads(content)["result"])


async def test_an_agent_uses_stdio_and_http_tools_and_its_servers_stop_with_the_run(
    http: Callable[..., HttpServerConfig],
) -> None:
    model = ScriptedModel(
        [
            call_tool([("s__echo", {"text": "from stdio"}), ("h__add", {"a": 1, "b": 2})]),
            call_tool("s__pid", {}),
            call_tool("s__picture", {}),
            FINISH,
        ],
        native_multimodal=True,
    )
    agent = Agent(model=model, mcp_servers=[stdio("s")])
    handle = await Runner.start(agent, "go", config=RunConfig(mcp_servers=[http("h")]))
    events = [event async for event in handle.events()]
    result = await handle.result()
    assert result.status is RunStatus.COMPLETED
    offered = model.requests[0].tools
    assert "s__echo" in offered and "h__add" in offered
    assert offered.index("task_finish") < offered.index("s__echo") < offered.index("h__echo")
    echo, added, pid, picture = tool_outputs(result.messages)[:4]
    assert echo == "from stdio" and json.loads(added)["total"] == 3
    completed = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert [e.tool_name for e in completed][:3] == ["s__echo", "h__add", "s__pid"]
    assert all(e.status == "success" for e in completed)
    assert "[image: s__picture image 2 (image/png), attached]" in picture
    after_picture = model.requests[3].messages
    assert any(
        isinstance(m, UserMessage) and any(isinstance(p, ImagePart) for p in m.content)
        for m in after_picture
        if isinstance(m.content, list)
    )
    assert gone(pid_of(pid))  # the run's scope stopped its server


async def test_a_host_shares_servers_across_runs_and_closes_them_itself() -> None:
    async with MCPServers([stdio("s")]) as servers:
        pids = []
        for _ in range(2):
            model = ScriptedModel([call_tool("s__pid", {}), FINISH])
            result = await Runner.run(Agent(model=model, mcp_servers=servers), "go")
            pids.append(pid_of(tool_outputs(result.messages)[0]))
        assert pids[0] == pids[1] and not gone(pids[0])
    assert gone(pids[0])


async def test_approval_and_policy_apply_to_mcp_tools() -> None:
    model = ScriptedModel([call_tool("s__echo", {"text": "approved"}), FINISH])
    agent = Agent(model=model, mcp_servers=[stdio("s", require_approval=True)])
    handle = await Runner.start(agent, "go", config=RunConfig(live_approvals=True))
    async for event in handle.events():
        if isinstance(event, ApprovalRequested):
            assert event.tool_name == "s__echo"
            handle.approve(event.request_id, "allow")
    result = await handle.result()
    assert tool_outputs(result.messages)[0] == "approved"

    servers = [stdio("s")]
    model = ScriptedModel([call_tool("s__remove", {"path": "x"})])
    waiting = await Runner.run(Agent(model=model, mcp_servers=servers), "go")
    assert waiting.status is RunStatus.WAIT_USER  # destructiveHint asks; nobody answers
    (pending,) = waiting.to_state().pending_tool_calls
    assert pending.request_id is not None
    model = ScriptedModel([FINISH])
    resumed = await Runner.resume(  # the resumed run starts the server again
        Agent(model=model, mcp_servers=servers),
        waiting.to_state(),
        approvals={pending.request_id: "allow"},
    )
    assert resumed.status is RunStatus.COMPLETED
    assert json.loads(tool_outputs(resumed.messages)[0]) == {"result": "removed x"}

    model = ScriptedModel([FINISH])
    policy = ToolPolicy(denied_side_effects=frozenset({"external"}))  # type: ignore[arg-type]
    await Runner.run(
        Agent(model=model, mcp_servers=[stdio("s")]), "go", config=RunConfig(policy=policy)
    )
    offered = model.requests[0].tools
    assert "s__echo" in offered and "s__add" not in offered  # echo is read-only


async def test_server_start_up_and_tool_calls_are_typed_events() -> None:
    model = ScriptedModel([call_tool("good__echo", {"text": "still works"}), FINISH])
    agent = Agent(model=model, mcp_servers=[stdio("bad", "--fail-start"), stdio("good")])
    handle = await Runner.start(agent, "go")
    events = [event async for event in handle.events()]
    result = await handle.result()
    assert result.status is RunStatus.COMPLETED
    (failed,) = [e for e in events if isinstance(e, MCPServerFailed)]
    assert failed.server == "bad" and "missing configuration" in failed.stderr
    assert not [e for e in events if isinstance(e, Diagnostic)]  # no generic diagnostic
    (started,) = [e for e in events if isinstance(e, MCPServerStarted)]
    assert (started.server, started.transport) == ("good", "stdio") and started.duration_ms > 0
    (listed,) = [e for e in events if isinstance(e, MCPToolsListed)]
    assert listed.server == "good" and "good__echo" in listed.tools and not listed.cached
    assert tool_outputs(result.messages)[0] == "still works"
    # The tool-call events of an MCP tool name its server; other tools' leave the field out.
    calls = [e for e in events if isinstance(e, ToolCallPlanned | ToolCallStarted)]
    completed = [e for e in events if isinstance(e, ToolCallCompleted)]
    assert [e.server for e in calls] == ["good", "good", None, None]
    assert [e.server for e in completed] == ["good", None]
    assert completed[0].to_dict()["server"] == "good"
    assert "server" not in completed[1].to_dict()
    assert parse_event(completed[0].to_dict()) == completed[0]


async def test_a_name_another_tool_has_is_a_configuration_error() -> None:
    @function_tool
    def s__echo(text: str) -> str:
        """Shadow the MCP tool."""
        return text

    agent = Agent(model=ScriptedModel([FINISH]), tools=[s__echo], mcp_servers=[stdio("s")])
    with pytest.raises(ConfigurationError, match="MCP tool s/echo is exposed as 's__echo'"):
        await Runner.run(agent, "go")


async def test_cancelling_during_an_mcp_call_ends_promptly_and_cleanly() -> None:
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []  # where cross-task cleanup errors would land
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    model = ScriptedModel([call_tool("s__pid", {}), call_tool("s__slow", {"seconds": 600})])
    agent = Agent(model=model, mcp_servers=[stdio("s", timeout_s=900)])
    handle = await Runner.start(agent, "go")
    async for event in handle.events():
        if isinstance(event, ToolCallStarted) and event.tool_name == "s__slow":
            break
    started = loop.time()
    await handle.cancel("stop")
    result = await handle.result()
    assert result.status is RunStatus.CANCELLED
    assert loop.time() - started < 10  # the SDK gives a stuck server 2 s before killing it
    pid = pid_of(tool_outputs(result.messages)[0])
    assert gone(pid)
    assert loop_errors == []


async def test_servers_opened_in_one_task_close_cleanly_from_another() -> None:
    servers = MCPServers([stdio("s")])
    await asyncio.create_task(servers.open())  # the opening task is gone by now
    tools, _ = await servers.tools()
    (pid_tool,) = [t for t in tools if t.name == "s__pid"]
    pid = pid_of((await pid_tool.invoke(None, {})).content)  # type: ignore[arg-type]
    await servers.aclose()
    assert gone(pid)


async def test_a_third_party_server_from_pypi() -> None:
    pytest.importorskip("mcp_server_time")
    server = StdioServerConfig(
        name="time",
        command=sys.executable,
        args=("-m", "mcp_server_time", "--local-timezone", "UTC"),
    )
    model = ScriptedModel(
        [
            call_tool(
                "time__convert_time",
                {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
            ),
            FINISH,
        ]
    )
    result = await Runner.run(Agent(model=model, mcp_servers=[server]), "what time in Tokyo?")
    converted = json.loads(tool_outputs(result.messages)[0])
    assert converted["target"]["datetime"].endswith("T21:00:00+09:00")
    tools = model.requests[0].tools
    assert {"time__get_current_time", "time__convert_time"} <= set(tools)


def test_shared_servers_belong_to_the_loop_that_opened_them() -> None:
    loop = asyncio.new_event_loop()
    servers = MCPServers([stdio("s")])
    loop.run_until_complete(servers.open())
    try:
        agent = Agent(model=ScriptedModel([FINISH]), mcp_servers=servers)
        with pytest.raises(ConfigurationError, match="started on another event loop"):
            Runner.run_sync(agent, "go")  # run_sync runs on a private loop
    finally:
        loop.run_until_complete(servers.aclose())
        loop.close()


async def test_a_shared_servers_tool_list_is_reported_from_its_cache_on_the_next_run() -> None:
    async with MCPServers([stdio("s")]) as servers:
        listings = []
        for _ in range(2):
            agent = Agent(model=ScriptedModel([FINISH]), mcp_servers=servers)
            handle = await Runner.start(agent, "go")
            events = [event async for event in handle.events()]
            await handle.result()
            # The host started the servers before the runs: no run reports a start.
            assert not [e for e in events if isinstance(e, MCPServerStarted)]
            listings += [e for e in events if isinstance(e, MCPToolsListed)]
    assert [e.cached for e in listings] == [False, True]
    assert listings[0].tools == listings[1].tools
