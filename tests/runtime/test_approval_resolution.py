"""Every approval request ends with one ``approval_resolved`` that says what ended it: an
answer (with its reason), the approval timeout, or the run stopping while it waited (a cancel
or the wall-time budget), which resolves it before the run's terminal event."""

from __future__ import annotations

from agentcycle import Agent, RunConfig, Runner, SideEffect, function_tool
from agentcycle.budget import RunBudget
from agentcycle.events import ApprovalRequested, ApprovalResolved, RunEvent
from agentcycle.handle import RunHandle
from agentcycle.runtime.approval_rules import ApprovalRule, ApprovalRules
from agentcycle.runtime.approvals import ApprovalDecision
from agentcycle.testing import ScriptedModel, call_tool


@function_tool(side_effect=SideEffect.EXECUTE)
def deploy(target: str) -> str:
    """Deploy."""
    return f"deployed {target}"


async def _waiting(config: RunConfig) -> tuple[RunHandle, ApprovalRequested]:
    model = ScriptedModel(
        [call_tool("deploy", {"target": "prod"}), call_tool("task_finish", {"message": "ok"})]
    )
    handle = await Runner.start(Agent(model=model, tools=[deploy]), "x", config=config)
    async for event in handle.events():
        if isinstance(event, ApprovalRequested):
            return handle, event
    raise AssertionError("no approval was requested")


async def _ending(handle: RunHandle) -> list[RunEvent]:
    """The run's approval_resolved events and its terminal event, in order."""
    await handle.result()
    return [
        e
        for e in [e async for e in handle.events()]
        if isinstance(e, ApprovalResolved)
        or e.type in ("run_completed", "run_failed", "run_cancelled")
    ]


async def test_an_answer_carries_its_reason() -> None:
    handle, request = await _waiting(RunConfig(live_approvals=True))
    handle.approve(request.request_id, ApprovalDecision.deny("not on a Friday"))
    resolved, terminal = await _ending(handle)
    assert isinstance(resolved, ApprovalResolved)
    assert (resolved.action, resolved.cause, resolved.reason) == (
        "deny",
        "answer",
        "not on a Friday",
    )
    assert terminal.type == "run_completed"


async def test_the_approval_timeout_says_so() -> None:
    handle, _ = await _waiting(RunConfig(live_approvals=True, approval_timeout=0.05))
    resolved, _terminal = await _ending(handle)
    assert isinstance(resolved, ApprovalResolved)
    assert (resolved.action, resolved.cause) == ("timeout", "timeout")


async def test_a_cancel_during_the_wait_resolves_it_before_the_run_ends() -> None:
    handle, request = await _waiting(RunConfig(live_approvals=True))
    await handle.cancel("host went away")
    resolved, terminal = await _ending(handle)
    assert isinstance(resolved, ApprovalResolved)
    assert (resolved.request_id, resolved.action, resolved.cause) == (
        request.request_id,
        "timeout",
        "cancelled",
    )
    assert terminal.type == "run_cancelled"


async def test_the_wall_time_budget_during_the_wait_resolves_it_before_the_run_fails() -> None:
    config = RunConfig(live_approvals=True, budget=RunBudget(max_wall_seconds=0.3))
    handle, request = await _waiting(config)
    resolved, terminal = await _ending(handle)
    assert isinstance(resolved, ApprovalResolved)
    assert (resolved.request_id, resolved.action, resolved.cause) == (
        request.request_id,
        "timeout",
        "budget_exhausted",
    )
    assert terminal.type == "run_failed"
    assert terminal.completion_reason.value == "budget_exhausted"  # type: ignore[attr-defined]


async def test_rules_added_during_a_session_pre_approve_later_runs() -> None:
    rules = ApprovalRules([])
    config = RunConfig(live_approvals=True, approval_provider=rules)
    handle, request = await _waiting(config)  # nothing pre-approved: the host is asked
    handle.approve(request.request_id, "allow")
    await handle.result()

    allowed = ApprovalRule.allow("deploy", argument="target", matching=r"^prod$")
    rules.add(allowed)
    rules.add(allowed)  # held once
    assert rules.rules == (allowed,)
    model = ScriptedModel(
        [call_tool("deploy", {"target": "prod"}), call_tool("task_finish", {"message": "ok"})]
    )
    later = await Runner.start(Agent(model=model, tools=[deploy]), "x", config=config)
    result = await later.result()  # nobody answers: the rule does
    assert result.final_output == "ok"
    resolved = [e for e in [e async for e in later.events()] if isinstance(e, ApprovalResolved)]
    assert [(e.action, e.cause) for e in resolved] == [("allow", "answer")]

    rules.remove(allowed)
    handle, _ = await _waiting(config)  # asked again once the rule is gone
    await handle.cancel("done")
