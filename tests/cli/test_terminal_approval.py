"""The terminal approval prompt, driven with scripted answers."""

from __future__ import annotations

import io

from agentcycle.cli._approval import TerminalApprovalProvider
from agentcycle.runtime.approvals import ApprovalAction, ApprovalRequest
from agentcycle.tools.base import SideEffect

REQUEST = ApprovalRequest(
    request_id="apr_1",
    run_id="run_1",
    tool_call_id="call_1",
    tool_name="bash",
    arguments={"command": "rm -rf build"},
    side_effect=SideEffect.EXECUTE,
    message='bash (execute) {"command":"rm -rf build"}',
)


def provider(*answers: str) -> tuple[TerminalApprovalProvider, io.StringIO, list[str]]:
    out = io.StringIO()
    prompts: list[str] = []
    replies = list(answers)

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return replies.pop(0)

    return TerminalApprovalProvider(out, ask), out, prompts


async def test_yes_always_and_no_with_reason() -> None:
    yes, out, _ = provider("y")
    decision = await yes.decide(REQUEST)
    assert decision is not None and decision.action is ApprovalAction.ALLOW
    assert "rm -rf build" in out.getvalue()

    always, _, _ = provider("always")
    decision = await always.decide(REQUEST)
    assert decision is not None and decision.action is ApprovalAction.ALLOW_SESSION

    no, _, prompts = provider("n", "keep the build dir")
    decision = await no.decide(REQUEST)
    assert decision is not None and decision.action is ApprovalAction.DENY
    assert decision.reason == "keep the build dir" and len(prompts) == 2


async def test_unclear_answers_are_asked_again() -> None:
    p, out, prompts = provider("maybe", "Y")
    decision = await p.decide(REQUEST)
    assert decision is not None and decision.action is ApprovalAction.ALLOW
    assert len(prompts) == 2 and "please answer" in out.getvalue()
