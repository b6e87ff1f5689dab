"""Tool policy layers and the approval gate."""

from __future__ import annotations

import json

from agentcycle import Agent, RunConfig, Runner, SideEffect, function_tool
from agentcycle.events import RunStatus
from agentcycle.messages import ToolMessage
from agentcycle.runtime.approvals import ApprovalDecision, ApprovalRequest
from agentcycle.runtime.policy import ApprovalMode, ToolPolicy
from agentcycle.state import RunState
from agentcycle.testing import ScriptedModel, call_tool

side_effects: list[str] = []


@function_tool(side_effect=SideEffect.READ, read_only=True)
def peek(key: str) -> str:
    """Read a value."""
    return f"value of {key}"


@function_tool(side_effect=SideEffect.WRITE)
def store(key: str) -> str:
    """Write a value."""
    side_effects.append(f"store {key}")
    return "stored"


@function_tool(side_effect=SideEffect.EXECUTE)
def launch(target: str) -> str:
    """Run something."""
    side_effects.append(f"launch {target}")
    return "launched"


def finish() -> object:
    return call_tool("task_finish", {"message": "done"})


def results(messages: list) -> list[dict]:
    out = []
    for m in messages:
        if isinstance(m, ToolMessage):
            try:
                out.append(json.loads(m.content))
            except ValueError:
                out.append({"text": m.content})
    return out


class Recorder:
    """An approval provider that answers from a script and records what it was asked."""

    def __init__(self, *decisions: ApprovalDecision | None) -> None:
        self.decisions = list(decisions)
        self.requests: list[ApprovalRequest] = []

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision | None:
        self.requests.append(request)
        return self.decisions.pop(0)


def test_allow_list_narrows_what_is_offered_and_refuses_the_rest() -> None:
    model = ScriptedModel([call_tool("store", {"key": "k"}), finish()])
    agent = Agent(model=model, tools=[peek, store], policy=ToolPolicy.of(allowed_tools=["peek"]))
    result = Runner.run_sync(agent, "x")
    assert model.requests[0].tools == ("task_finish", "peek")
    assert results(result.messages)[0]["error_code"] == "tool_not_allowed"
    assert result.status is RunStatus.COMPLETED


def test_layers_allow_lists_intersect_and_deny_lists_add_up() -> None:
    model = ScriptedModel([finish()])
    agent = Agent(
        model=model,
        tools=[peek, store, launch],
        policy=ToolPolicy.of(allowed_tools=["peek", "store", "launch", "todo_write"]),
    )
    runner = Runner(RunConfig(policy=ToolPolicy.of(disallowed_tools=["launch"])))
    runner.run_sync(
        agent,
        "x",
        config=RunConfig(
            policy=ToolPolicy.of(allowed_tools=["peek", "store"], disallowed_tools=["store"])
        ),
    )
    assert model.requests[0].tools == ("task_finish", "peek")


def test_denied_side_effects_and_argument_rules() -> None:
    model = ScriptedModel(
        [call_tool("store", {"key": "secret/x"}), call_tool("store", {"key": "docs/a"}), finish()]
    )
    side_effects.clear()

    async def only_docs(name: str, args: dict) -> bool:
        return name != "store" or args["key"].startswith("docs/")

    policy = ToolPolicy.of(denied_side_effects=["execute"], can_use_tool=only_docs)
    result = Runner.run_sync(Agent(model=model, tools=[store, launch], policy=policy), "x")
    assert "launch" not in model.requests[0].tools
    assert results(result.messages)[0]["error_code"] == "tool_not_allowed"
    assert side_effects == ["store docs/a"]


def test_task_finish_cannot_be_removed() -> None:
    model = ScriptedModel([finish()])
    policy = ToolPolicy.of(allowed_tools=[], disallowed_tools=["task_finish"])
    result = Runner.run_sync(Agent(model=model, policy=policy), "x")
    assert model.requests[0].tools == ("task_finish",)
    assert result.status is RunStatus.COMPLETED


async def test_execute_tools_without_an_approver_end_in_wait_user_with_pending_calls() -> None:
    side_effects.clear()
    model = ScriptedModel(
        [
            call_tool(
                [("peek", {"key": "a"}), ("launch", {"target": "rocket"}), ("store", {"key": "b"})]
            )
        ]
    )
    handle = await Runner.start(
        Agent(model=model, tools=[peek, launch, store]),
        "x",
        config=RunConfig(live_approvals=False),  # live is the default for a handle
    )
    result = await handle.result()
    events = [e async for e in handle.events()]
    assert result.status is RunStatus.WAIT_USER
    assert side_effects == []  # neither the launch nor the store after it ran
    pending = result.to_state().pending_tool_calls
    assert [(p.tool_name, p.request_id is not None) for p in pending] == [
        ("launch", True),
        ("store", False),
    ]
    requested = [e for e in events if e.type == "approval_requested"]
    assert [e.tool_name for e in requested] == ["launch"]
    assert [e.tool_name for e in events if e.type == "tool_call_started"] == ["peek"]
    restored = RunState.from_json(result.to_state().to_json())
    assert restored.pending_tool_calls == pending
    assert result.wait is not None and result.wait["kind"] == "approval"


def test_provider_allow_deny_and_allow_session() -> None:
    side_effects.clear()
    approver = Recorder(
        ApprovalDecision.deny("not on Fridays"),
        ApprovalDecision.allow_session(),
    )
    model = ScriptedModel(
        [
            call_tool("launch", {"target": "a"}),
            call_tool("launch", {"target": "b"}),
            call_tool("launch", {"target": "c"}),
            finish(),
        ]
    )
    result = Runner.run_sync(
        Agent(model=model, tools=[launch]), "x", config=RunConfig(approval_provider=approver)
    )
    denied = results(result.messages)[0]
    assert denied["error_code"] == "tool_approval_denied" and "not on Fridays" in denied["error"]
    assert side_effects == ["launch b", "launch c"]
    assert [r.arguments["target"] for r in approver.requests] == ["a", "b"]  # c: session allow


def test_approval_timeout_is_an_error_result() -> None:
    from agentcycle.runtime.approvals import ApprovalAction

    approver = Recorder(ApprovalDecision(ApprovalAction.TIMEOUT))
    model = ScriptedModel([call_tool("launch", {"target": "a"}), finish()])
    result = Runner.run_sync(
        Agent(model=model, tools=[launch]), "x", config=RunConfig(approval_provider=approver)
    )
    assert results(result.messages)[0]["error_code"] == "tool_approval_timeout"


def test_approval_modes() -> None:
    side_effects.clear()
    never = ToolPolicy.of(approval_mode=ApprovalMode.NEVER)
    model = ScriptedModel([call_tool("launch", {"target": "x"}), finish()])
    result = Runner.run_sync(
        Agent(model=model, tools=[launch]), "x", config=RunConfig(policy=never)
    )
    assert result.status is RunStatus.COMPLETED and side_effects == ["launch x"]

    always = ToolPolicy.of(approval_mode="always")
    approver = Recorder(ApprovalDecision.allow(), ApprovalDecision.allow())
    model = ScriptedModel(
        [call_tool("store", {"key": "k"}), call_tool("peek", {"key": "k"}), finish()]
    )
    Runner.run_sync(
        Agent(model=model, tools=[store, peek]),
        "x",
        config=RunConfig(policy=always, approval_provider=approver),
    )
    assert [r.tool_name for r in approver.requests] == ["store", "peek"]

    on_request = ToolPolicy.of(approval_mode="on_request")
    model = ScriptedModel([call_tool("launch", {"target": "y"}), finish()])
    result = Runner.run_sync(
        Agent(model=model, tools=[launch]), "x", config=RunConfig(policy=on_request)
    )
    assert result.status is RunStatus.COMPLETED
