"""Live control through RunHandle: approve from the host, steer mid-run."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentcycle import Agent, RunConfig, Runner, SideEffect, function_tool
from agentcycle.errors import ConfigurationError
from agentcycle.events import ApprovalRequested, Diagnostic, RunStatus
from agentcycle.messages import ToolMessage, UserMessage
from agentcycle.runtime.approvals import ApprovalDecision
from agentcycle.testing import ScriptedModel, call_tool

launched: list[str] = []


@function_tool(side_effect=SideEffect.EXECUTE)
def launch(target: str) -> str:
    """Launch something."""
    launched.append(target)
    return f"launched {target}"


LIVE = RunConfig(live_approvals=True)


async def first_request(handle) -> ApprovalRequested:
    async for event in handle.events():
        if isinstance(event, ApprovalRequested):
            return event
    raise AssertionError("no approval was requested")


async def test_host_approves_through_the_handle() -> None:
    launched.clear()
    model = ScriptedModel(
        [call_tool("launch", {"target": "a"}), call_tool("task_finish", {"message": "ok"})]
    )
    handle = await Runner.start(Agent(model=model, tools=[launch]), "x", config=LIVE)
    request = await first_request(handle)
    assert launched == []  # nothing runs before the decision
    handle.approve(request.request_id, "allow")
    result = await handle.result()
    assert result.status is RunStatus.COMPLETED and launched == ["a"]
    resolved = [e for e in [e async for e in handle.events()] if e.type == "approval_resolved"]
    assert [(e.request_id, e.action) for e in resolved] == [(request.request_id, "allow")]


async def test_host_denial_reaches_the_model_and_unknown_requests_are_errors() -> None:
    launched.clear()
    model = ScriptedModel(
        [call_tool("launch", {"target": "b"}), call_tool("task_finish", {"message": "ok"})]
    )
    handle = await Runner.start(Agent(model=model, tools=[launch]), "x", config=LIVE)
    request = await first_request(handle)
    with pytest.raises(KeyError):
        handle.approve("apr_unknown", "allow")
    with pytest.raises(ConfigurationError, match="'ALLOW' is not an approval decision"):
        handle.approve(request.request_id, "ALLOW")
    handle.approve(request.request_id, ApprovalDecision.deny("wrong target"))
    result = await handle.result()
    denial = json.loads(model.requests[1].messages[-1].content)
    assert denial["error_code"] == "tool_approval_denied" and "wrong target" in denial["error"]
    assert launched == [] and result.status is RunStatus.COMPLETED


async def test_approvals_are_live_by_default_for_a_handle_and_never_for_run() -> None:
    launched.clear()
    agent = Agent(model=launch_then_finish(), tools=[launch])
    handle = await Runner.start(agent, "x")  # no RunConfig: the holder of the handle decides
    request = await first_request(handle)
    handle.approve(request.request_id, "allow")
    assert (await handle.result()).status is RunStatus.COMPLETED and launched == ["c"]
    ended = await Runner.run(Agent(model=launch_then_finish(), tools=[launch]), "x")
    assert ended.status is RunStatus.WAIT_USER and launched == ["c"]
    opted_out = await Runner.start(
        Agent(model=launch_then_finish(), tools=[launch]),
        "x",
        config=RunConfig(live_approvals=False),
    )
    assert (await opted_out.result()).status is RunStatus.WAIT_USER


def launch_then_finish() -> ScriptedModel:
    return ScriptedModel(
        [call_tool("launch", {"target": "c"}), call_tool("task_finish", {"message": "ok"})]
    )


async def test_approval_timeout_decides_timeout() -> None:
    config = RunConfig(live_approvals=True, approval_timeout=0.05)
    handle = await Runner.start(
        Agent(model=launch_then_finish(), tools=[launch]), "x", config=config
    )
    result = await handle.result()
    timeout = next(m for m in result.messages if isinstance(m, ToolMessage))
    assert json.loads(timeout.content)["error_code"] == "tool_approval_timeout"


async def test_runs_without_a_handle_never_wait_for_one() -> None:
    config = RunConfig(live_approvals=True)
    result = await Runner.run(Agent(model=launch_then_finish(), tools=[launch]), "x", config=config)
    assert result.status is RunStatus.WAIT_USER  # nobody could call approve(): pending


async def test_steer_injects_a_user_message_and_skips_unstarted_calls() -> None:
    gate = asyncio.Event()
    entered = asyncio.Event()
    ran: list[str] = []

    @function_tool
    async def step(name: str) -> str:
        """A step that waits for the test."""
        ran.append(name)
        entered.set()
        await gate.wait()
        return name

    model = ScriptedModel(
        [
            call_tool([("step", {"name": "one"}), ("step", {"name": "two"})]),
            call_tool("task_finish", {"message": "steered"}),
        ]
    )
    handle = await Runner.start(Agent(model=model, tools=[step]), "go")
    await entered.wait()
    handle.steer("Actually, stop after the first step.")
    gate.set()
    result = await handle.result()
    assert ran == ["one"]
    second = json.loads(
        next(
            m for m in result.messages if isinstance(m, ToolMessage) and m.content != "one"
        ).content
    )
    assert second["error_code"] == "tool_call_skipped" and "steering" in second["error"]
    last_seen = model.requests[1].messages[-1]
    assert isinstance(last_seen, UserMessage) and last_seen.content.startswith("Actually")
    assert not last_seen.synthetic


class BrokenProvider:
    """An approval provider whose backing service is down."""

    async def decide(self, request: object) -> ApprovalDecision | None:
        raise RuntimeError("policy service unreachable")


async def test_a_failing_approval_provider_leaves_the_call_undecided_and_reports_it() -> None:
    launched.clear()
    config = RunConfig(approval_provider=BrokenProvider())
    agent = Agent(model=launch_then_finish(), tools=[launch])
    waiting = await Runner.run(agent, "x", config=config)
    assert waiting.status is RunStatus.WAIT_USER and launched == []
    assert [p.tool_name for p in waiting.to_state().pending_tool_calls] == ["launch"]

    live = RunConfig(approval_provider=BrokenProvider(), live_approvals=True)
    handle = await Runner.start(Agent(model=launch_then_finish(), tools=[launch]), "x", config=live)
    request = await first_request(handle)
    handle.approve(request.request_id, "allow")  # the host is asked instead
    assert (await handle.result()).status is RunStatus.COMPLETED and launched == ["c"]
    (failure,) = [
        e
        async for e in handle.events()
        if isinstance(e, Diagnostic) and e.code == "approval_provider_failed"
    ]
    assert failure.level == "error" and failure.details["tool_name"] == "launch"
    assert "policy service unreachable" in failure.details["error"]
