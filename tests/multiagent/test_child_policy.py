"""A child run inherits its parent's deny rules: what the parent denies, the child is not
offered and cannot call; the child's own policy can narrow further, never widen."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner, RunStatus, SideEffect, ToolPolicy, function_tool
from agentcycle.events import ApprovalRequested, SubRunCompleted, ToolCallCompleted
from agentcycle.testing import ScriptedModel, call_tool
from tests.multiagent.helpers import child_run_ids, of_run, planner, researcher, run_with_events

ran: list[str] = []


@function_tool(side_effect=SideEffect.WRITE)
def wipe(target: str) -> str:
    """Delete a record."""
    ran.append(f"wipe {target}")
    return "wiped"


@function_tool(side_effect=SideEffect.READ)
def peek(target: str) -> str:
    """Read a record."""
    ran.append(f"peek {target}")
    return f"{target}: 42"


@pytest.fixture(autouse=True)
def clear_ran() -> None:
    ran.clear()


def child_with_tools(*calls: tuple[str, dict[str, Any]], policy: ToolPolicy | None = None) -> Agent:
    steps = [call_tool(name, args) for name, args in calls]
    steps.append(call_tool("task_finish", {"message": "done"}))
    return researcher(steps, tools=[wipe, peek], policy=policy)


def offered(agent: Agent) -> tuple[str, ...]:
    assert isinstance(agent.model, ScriptedModel)
    return agent.model.requests[0].tools


def child_errors(events: list, child_id: str) -> dict[str, str | None]:
    return {
        e.tool_name: e.error_code
        for e in of_run(events, child_id)
        if isinstance(e, ToolCallCompleted) and e.tool_name != "task_finish"
    }


@pytest.mark.parametrize(
    "parent_policy",
    [
        ToolPolicy.of(disallowed_tools=["wipe"]),
        ToolPolicy.of(denied_side_effects=["write"]),
    ],
    ids=["denied-by-name", "denied-by-side-effect"],
)
async def test_a_tool_the_parent_denies_is_neither_offered_to_nor_run_by_the_child(
    parent_policy: ToolPolicy,
) -> None:
    child = child_with_tools(("wipe", {"target": "a"}), ("peek", {"target": "a"}))
    result, events = await run_with_events(planner(child), config=RunConfig(policy=parent_policy))
    assert result.status is RunStatus.COMPLETED
    assert "wipe" not in offered(child) and "peek" in offered(child)
    (child_id,) = child_run_ids(events, result.run_id)
    assert child_errors(events, child_id) == {"wipe": "tool_not_allowed", "peek": None}
    assert ran == ["peek a"]


async def test_the_child_policy_narrows_but_cannot_widen_the_parent_denials() -> None:
    # The child's own allow-list names wipe; the parent's denial still wins.
    child = child_with_tools(
        ("wipe", {"target": "a"}),
        ("peek", {"target": "a"}),
        policy=ToolPolicy.of(allowed_tools=["wipe"]),
    )
    config = RunConfig(policy=ToolPolicy.of(disallowed_tools=["wipe"]))
    result, events = await run_with_events(planner(child), config=config)
    assert set(offered(child)) == {"task_finish"}
    (child_id,) = child_run_ids(events, result.run_id)
    refused = {"wipe": "tool_not_allowed", "peek": "tool_not_allowed"}
    assert child_errors(events, child_id) == refused
    assert ran == []


async def test_the_parent_can_use_tool_check_judges_the_child_calls() -> None:
    def no_secrets(tool: str, arguments: dict[str, Any]) -> bool:
        return arguments.get("target") != "secret"

    child = child_with_tools(("peek", {"target": "secret"}), ("peek", {"target": "open"}))
    config = RunConfig(policy=ToolPolicy.of(can_use_tool=no_secrets))
    result, _ = await run_with_events(planner(child), config=config)
    assert result.status is RunStatus.COMPLETED
    assert ran == ["peek open"]


@function_tool(side_effect=SideEffect.EXECUTE)
def deploy(target: str) -> str:
    """Deploy."""
    ran.append(f"deploy {target}")
    return "deployed"


async def test_the_parent_handle_approves_a_child_call() -> None:
    child = researcher(
        [call_tool("deploy", {"target": "prod"}), call_tool("task_finish", {"message": "done"})],
        tools=[deploy],
    )
    handle = await Runner.start(planner(child), "go", config=RunConfig(live_approvals=True))
    async for event in handle.events():
        if isinstance(event, ApprovalRequested):
            break
    assert event.run_id != handle.run_id and event.parent_run_id == handle.run_id
    handle.approve(event.request_id, "allow")
    result = await asyncio.wait_for(handle.result(), 5)
    assert result.status is RunStatus.COMPLETED
    assert ran == ["deploy prod"]


async def test_without_an_approver_a_child_call_waiting_for_approval_is_an_error_result() -> None:
    child = researcher([call_tool("deploy", {"target": "prod"})], tools=[deploy])
    no_approver = RunConfig(live_approvals=False)  # nobody approves on the handle
    result, events = await run_with_events(planner(child), config=no_approver)
    assert result.status is RunStatus.COMPLETED  # the parent model saw the error and finished
    completed = next(e for e in events if isinstance(e, SubRunCompleted))
    assert completed.status == "wait_user"
    assert ran == []
