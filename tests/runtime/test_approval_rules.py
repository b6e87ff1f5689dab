"""Rule-based approvals: decisions from arguments, the rest left to the host."""

from __future__ import annotations

import json

import pytest

from agentcycle import (
    Agent,
    ApprovalRule,
    ApprovalRules,
    RunConfig,
    Runner,
    SideEffect,
    ToolPolicy,
    function_tool,
)
from agentcycle.errors import ConfigurationError
from agentcycle.events import RunStatus
from agentcycle.messages import ToolMessage
from agentcycle.runtime.approvals import ApprovalAction, ApprovalRequest
from agentcycle.testing import ScriptedModel, call_tool

ran: list[str] = []


@function_tool(side_effect=SideEffect.EXECUTE)
def bash(command: str) -> str:
    """Run a command."""
    ran.append(command)
    return "ok"


@function_tool(side_effect=SideEffect.WRITE)
def write_file(path: str, content: str) -> str:
    """Write a file."""
    ran.append(f"write {path}")
    return "written"


def request(tool: str, **arguments: object) -> ApprovalRequest:
    return ApprovalRequest(
        request_id="r1",
        run_id="run",
        tool_call_id="c1",
        tool_name=tool,
        arguments=dict(arguments),
        side_effect=SideEffect.EXECUTE,
        message="",
    )


async def test_first_matching_rule_decides_and_unmatched_calls_are_left_open() -> None:
    rules = ApprovalRules(
        [
            ApprovalRule.deny("bash", argument="command", matching=r"\brm\s+-rf\b", reason="no"),
            ApprovalRule.allow("bash", argument="command", matching=r"^(ls|cat)\b"),
            ApprovalRule.allow("write_file", argument="path", under="docs"),
        ]
    )
    deny = await rules.decide(request("bash", command="ls && rm -rf /"))
    assert deny is not None and deny.action is ApprovalAction.DENY and deny.reason == "no"
    allow = await rules.decide(request("bash", command="ls -la"))
    assert allow is not None and allow.action is ApprovalAction.ALLOW
    assert await rules.decide(request("bash", command="make")) is None
    for inside in ("docs", "docs/a.md", "./docs/sub/../b.md"):
        decided = await rules.decide(request("write_file", path=inside))
        assert decided is not None and decided.action is ApprovalAction.ALLOW, inside
    for outside in ("docs2/a.md", "src/docs/a.md", "docs/../../etc/passwd", "/docs/a.md", ""):
        assert await rules.decide(request("write_file", path=outside)) is None, outside
    assert await rules.decide(request("write_file", content="x")) is None  # no path argument


async def test_wildcards_defaults_and_session_allows() -> None:
    rules = ApprovalRules([ApprovalRule.allow("mcp_*", for_session=True)], default="deny")
    session = await rules.decide(request("mcp_fetch", url="x"))
    assert session is not None and session.action is ApprovalAction.ALLOW_SESSION
    fallback = await rules.decide(request("bash", command="ls"))
    assert fallback is not None and fallback.action is ApprovalAction.DENY
    assert fallback.reason and "approval rule" in fallback.reason


def test_non_string_arguments_match_as_json() -> None:
    rule = ApprovalRule.deny("deploy", argument="targets", matching='"prod"')
    assert rule.matches(request("deploy", targets=["staging", "prod"]))
    assert not rule.matches(request("deploy", targets=["staging"]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tool": "bash", "matching": "x"}, "need 'argument'"),
        ({"tool": "bash", "argument": "command", "matching": "("}, "invalid pattern"),
        ({"tool": "write_file", "argument": "path", "under": "../up"}, "'under'"),
    ],
)
def test_bad_rules_are_configuration_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ApprovalRule.deny(**kwargs)


def test_rules_in_a_run_deny_with_a_reason_allow_under_a_directory_and_leave_the_rest() -> None:
    ran.clear()
    rules = ApprovalRules(
        [
            ApprovalRule.deny(
                "bash", argument="command", matching=r"\brm\b", reason="deleting is not allowed"
            ),
            ApprovalRule.allow("write_file", argument="path", under="docs"),
        ]
    )
    model = ScriptedModel(
        [
            call_tool("bash", {"command": "rm -r build"}),
            call_tool("write_file", {"path": "docs/guide.md", "content": "hi"}),
            call_tool("write_file", {"path": "setup.py", "content": "boom"}),
        ]
    )
    result = Runner.run_sync(
        Agent(model=model, tools=[bash, write_file]),
        "tidy",
        config=RunConfig(approval_provider=rules, policy=ToolPolicy.of(approval_mode="always")),
    )
    contents = [m.content for m in result.messages if isinstance(m, ToolMessage)]
    denied = json.loads(contents[0])
    assert denied["error_code"] == "tool_approval_denied"
    assert "deleting is not allowed" in denied["error"]
    assert contents[1] == "written"
    assert ran == ["write docs/guide.md"]
    # setup.py matched no rule: nobody could answer, so the call waits for the host.
    assert result.status is RunStatus.WAIT_USER
    assert [p.tool_name for p in result.to_state().pending_tool_calls] == ["write_file"]
