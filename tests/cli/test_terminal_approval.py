"""The terminal approval prompt, driven with scripted answers."""

from __future__ import annotations

import asyncio
import io
import threading

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


def test_ctrl_c_at_the_prompt_does_not_wait_for_an_answer() -> None:
    release = threading.Event()  # the person who never answers
    asked: list[asyncio.Event] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        asked.append(asyncio.Event())

        def ask(prompt: str) -> str:
            loop.call_soon_threadsafe(asked[0].set)
            release.wait()
            return "y"

        provider = TerminalApprovalProvider(io.StringIO(), ask, after_tool_line=False)
        deciding = asyncio.create_task(provider.decide(REQUEST))
        await asked[0].wait()
        deciding.cancel()  # what Ctrl+C does to the run

    try:
        asyncio.run(main())  # returns: no pool thread keeps the loop's shutdown waiting
    finally:
        release.set()
