"""A command that asks to run with more than the sandbox allows asks for approval with its
reason; under approval mode ``never`` it is refused; denied, it does not run."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner
from agentcycle.events import ApprovalRequested
from agentcycle.messages import ToolMessage
from agentcycle.runtime.approvals import ApprovalDecision, ApprovalRequest
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.testing import ScriptedModel, call_tool
from tests.sandbox.conftest import require_sandbox


class Decider:
    """An approval provider that answers every request with ``decision`` and keeps them."""

    def __init__(self, decision: ApprovalDecision) -> None:
        self.decision = decision
        self.requests: list[ApprovalRequest] = []

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        self.requests.append(request)
        return self.decision


@pytest.fixture
def server(tcp_server: tuple[int, list[socket.socket]]) -> int:
    """The port of a loopback TCP server that greets each connection."""
    return tcp_server[0]


def connect(port: int) -> str:
    code = f"import socket; print(socket.create_connection(('127.0.0.1', {port}), 3).recv(9))"
    return f'python3 -c "{code}"'


def bodies(result: Any) -> list[dict[str, Any]]:
    return [json.loads(m.content) for m in result.messages if isinstance(m, ToolMessage)]


def script(port: int, outside: Path) -> ScriptedModel:
    reason = {"reason": "fetch the test fixture from the local server"}
    return ScriptedModel(
        [
            call_tool("bash", {"command": connect(port)}),
            call_tool("bash", {"command": connect(port), "escalate": {**reason, "network": True}}),
            call_tool(
                "bash",
                {
                    "command": f"echo built > {outside}/out.txt",
                    "escalate": {
                        "reason": "the build writes there",
                        "writable_roots": [str(outside)],
                    },
                },
            ),
            call_tool("task_finish", {"message": "done"}),
        ]
    )


async def test_an_escalation_asks_with_its_reason_and_runs_once_allowed(
    tmp_path: Path, server: int
) -> None:
    require_sandbox()
    outside = tmp_path.parent / (tmp_path.name + "-outside")  # not under the workspace
    outside.mkdir()
    decider = Decider(ApprovalDecision.allow_session())
    config = RunConfig(
        workspace=tmp_path,
        policy=ToolPolicy.of(approval_mode="on_request"),
        approval_provider=decider,
    )
    result = await Runner.run(
        Agent(model=script(server, outside), shell_tools=True), "go", config=config
    )
    plain, network, write = bodies(result)[:3]
    assert plain["error_code"] == "command_failed"  # sandboxed: no network, asked nobody
    assert "hello" in network["output"]
    assert write["ok"] is True and (outside / "out.txt").read_text() == "built\n"
    # Only the escalations asked, each with its reason, although bash was allowed for the run.
    assert [r.tool_name for r in decider.requests] == ["bash", "bash"]
    assert "use the network, because: fetch the test fixture" in decider.requests[0].message
    assert f"write to {outside}, because: the build writes there" in decider.requests[1].message


async def test_a_denied_escalation_does_not_run(tmp_path: Path, server: int) -> None:
    require_sandbox()
    outside = tmp_path.parent / (tmp_path.name + "-outside")
    outside.mkdir()
    config = RunConfig(
        workspace=tmp_path,
        policy=ToolPolicy.of(approval_mode="on_request"),
        approval_provider=Decider(ApprovalDecision.deny("not today")),
    )
    handle = await Runner.start(
        Agent(model=script(server, outside), shell_tools=True), "go", config=config
    )
    events = [e async for e in handle.events()]
    result = await handle.result()
    codes = [b.get("error_code") for b in bodies(result)[:3]]
    assert codes == ["command_failed", "tool_approval_denied", "tool_approval_denied"]
    assert not (outside / "out.txt").exists()
    assert len([e for e in events if isinstance(e, ApprovalRequested)]) == 2


async def test_approval_mode_never_refuses_an_escalation(tmp_path: Path, server: int) -> None:
    require_sandbox()
    outside = tmp_path.parent / (tmp_path.name + "-outside")
    outside.mkdir()
    config = RunConfig(workspace=tmp_path, policy=ToolPolicy.of(approval_mode="never"))
    result = await Runner.run(
        Agent(model=script(server, outside), shell_tools=True), "go", config=config
    )
    codes = [b.get("error_code") for b in bodies(result)[:3]]
    assert codes == ["command_failed", "escalation_refused", "escalation_refused"]
    assert "approval mode never" in bodies(result)[1]["error"]
    assert not (outside / "out.txt").exists()


async def test_an_escalation_that_asks_for_nothing_is_invalid(tmp_path: Path) -> None:
    require_sandbox()
    model = ScriptedModel(
        [
            call_tool("bash", {"command": "true", "escalate": {"reason": "just because"}}),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    config = RunConfig(
        workspace=tmp_path,
        policy=ToolPolicy.of(approval_mode="on_request"),
        approval_provider=Decider(ApprovalDecision.allow()),
    )
    result = await Runner.run(Agent(model=model, shell_tools=True), "go", config=config)
    assert bodies(result)[0]["error_code"] == "invalid_tool_arguments"


def test_escalate_is_offered_only_when_commands_are_sandboxed() -> None:
    from agentcycle.tools.builtin.shell import bash_tool
    from agentcycle.tools.sandbox import SandboxPolicy

    assert "escalate" in bash_tool(sandbox=SandboxPolicy()).parameters["properties"]
    assert "escalate" not in bash_tool(sandbox=SandboxPolicy(mode="off")).parameters["properties"]
