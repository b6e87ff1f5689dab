"""Tool-call hooks: they run after the approval gate and before ``tool_call_started``; a veto
or a failing hook keeps the tool from running; rewritten arguments are validated again; a
result rewrite is what the model sees."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agentcycle import Agent, RunConfig, Runner, SideEffect, function_tool
from agentcycle.events import Diagnostic, RunEvent, ToolCallCompleted, ToolCallStarted
from agentcycle.hooks import (
    HookContext,
    RewriteArguments,
    RuntimeHook,
    ToolCallInfo,
    Veto,
)
from agentcycle.messages import ToolMessage, ToolResult
from agentcycle.runtime.approvals import ApprovalDecision, ApprovalRequest
from agentcycle.runtime.policy import ToolPolicy
from agentcycle.testing import ScriptedModel, call_tool

ran: list[Any] = []


@function_tool(run_in_thread=False)
def transfer(amount: int) -> str:
    """Move money."""
    ran.append(("transfer", amount))
    return f"moved {amount}; account 4111-1111"


@function_tool(side_effect=SideEffect.EXECUTE, run_in_thread=False)
def deploy(target: str) -> str:
    """Deploy (needs approval)."""
    ran.append(("deploy", target))
    return "deployed"


def finish() -> Any:
    return call_tool("task_finish", {"message": "done"})


def run(hooks: list[RuntimeHook], *steps: Any, **config: Any) -> tuple[Any, list[RunEvent]]:
    """Run with the scripted ``steps`` then a finish; return the result and every event."""
    ran.clear()
    model = ScriptedModel([*steps, finish()])

    async def main() -> tuple[Any, list[RunEvent]]:
        handle = await Runner.start(
            Agent(model=model, tools=[transfer, deploy]),
            "go",
            config=RunConfig(hooks=hooks, **config),
        )
        result = await handle.result()
        return result, [e async for e in handle.events()]

    return asyncio.run(main())


def tool_payloads(result: Any) -> list[Any]:
    out = []
    for m in result.messages:
        if isinstance(m, ToolMessage):
            try:
                out.append(json.loads(m.content))
            except ValueError:
                out.append(m.content)
    return out


class VetoLarge(RuntimeHook):
    async def before_tool_call(self, ctx: HookContext, call: ToolCallInfo) -> Veto | None:
        if call.tool_name == "transfer" and call.arguments["amount"] > 100:
            return Veto("transfers over 100 need a human")
        return None


def test_a_veto_keeps_the_tool_from_running_and_the_model_sees_the_reason() -> None:
    result, events = run([VetoLarge()], call_tool("transfer", {"amount": 500}))
    assert result.completed
    assert ran == []
    vetoed = tool_payloads(result)[0]
    assert vetoed["error_code"] == "tool_vetoed_by_hook"
    assert "transfers over 100 need a human" in vetoed["error"]
    assert vetoed["details"] == {"hook": "VetoLarge"}
    call_id = result.messages[2].tool_calls[0].id
    assert not [e for e in events if isinstance(e, ToolCallStarted) and e.tool_call_id == call_id]
    completed = next(
        e for e in events if isinstance(e, ToolCallCompleted) and e.tool_call_id == call_id
    )
    assert completed.execution_started is False and completed.error_code == "tool_vetoed_by_hook"


class Rewrite(RuntimeHook):
    def __init__(self, arguments: dict[str, Any]) -> None:
        self.arguments = arguments

    async def before_tool_call(
        self, ctx: HookContext, call: ToolCallInfo
    ) -> RewriteArguments | None:
        return RewriteArguments(self.arguments) if call.tool_name == "transfer" else None


class SeesArguments(RuntimeHook):
    def __init__(self) -> None:
        self.before: list[dict[str, Any]] = []
        self.after: list[dict[str, Any]] = []

    async def before_tool_call(self, ctx: HookContext, call: ToolCallInfo) -> None:
        self.before.append(call.arguments)

    async def after_tool_call(
        self, ctx: HookContext, call: ToolCallInfo, result: ToolResult
    ) -> None:
        self.after.append(call.arguments)


def test_rewritten_arguments_are_what_the_tool_runs_with() -> None:
    later = SeesArguments()
    result, events = run([Rewrite({"amount": 5}), later], call_tool("transfer", {"amount": 50}))
    assert result.completed
    assert ran == [("transfer", 5)]
    started = next(
        e for e in events if isinstance(e, ToolCallStarted) and e.tool_name == "transfer"
    )
    assert started.arguments == {"amount": 5}
    assert later.before[0] == {"amount": 5} and later.after[0] == {"amount": 5}
    # History keeps what the model wrote.
    assert json.loads(result.messages[2].tool_calls[0].arguments) == {"amount": 50}


def test_an_invalid_rewrite_is_an_error_result_not_a_model_mistake() -> None:
    result, events = run(
        [Rewrite({"amount": "lots"})],
        call_tool("transfer", {"amount": 50}),
        max_invalid_tool_calls=1,  # a model mistake would end the run here
    )
    assert result.completed
    assert ran == []
    payload = tool_payloads(result)[0]
    assert payload["error_code"] == "hook_invalid_arguments"
    assert "'Rewrite'" in payload["error"]
    assert payload["details"][0]["path"] == "/amount"
    assert not [e for e in events if isinstance(e, ToolCallStarted) and e.tool_name == "transfer"]


def test_a_rewrite_the_policy_refuses_does_not_run() -> None:
    policy = ToolPolicy.of(can_use_tool=lambda name, args: args.get("amount", 0) < 1000)
    result, _ = run(
        [Rewrite({"amount": 5000})], call_tool("transfer", {"amount": 50}), policy=policy
    )
    assert ran == []
    payload = tool_payloads(result)[0]
    assert payload["error_code"] == "hook_invalid_arguments"
    assert "not allowed" in payload["error"]


class Redact(RuntimeHook):
    async def after_tool_call(
        self, ctx: HookContext, call: ToolCallInfo, result: ToolResult
    ) -> ToolResult:
        return result.model_copy(update={"content": result.content.replace("4111-1111", "****")})


def test_a_rewritten_result_is_what_the_model_sees() -> None:
    result, _ = run([Redact()], call_tool("transfer", {"amount": 3}))
    assert ran == [("transfer", 3)]
    model_sees = [m.content for m in result.messages if isinstance(m, ToolMessage)]
    assert model_sees[0] == "moved 3; account ****"


class Boom(RuntimeHook):
    def __init__(self, point: str) -> None:
        self.point = point

    async def before_tool_call(self, ctx: HookContext, call: ToolCallInfo) -> None:
        if self.point == "before" and call.tool_name == "transfer":
            raise RuntimeError("rule engine down")

    async def after_tool_call(
        self, ctx: HookContext, call: ToolCallInfo, result: ToolResult
    ) -> Any:
        if self.point == "after" and call.tool_name == "transfer":
            raise RuntimeError("redactor down")
        if self.point == "wrong" and call.tool_name == "transfer":
            return "not a ToolResult"
        return None


def test_a_failing_before_tool_call_hook_blocks_only_that_call() -> None:
    result, events = run([Boom("before")], call_tool("transfer", {"amount": 1}))
    assert result.completed and ran == []
    payload = tool_payloads(result)[0]
    assert payload["error_code"] == "hook_failed"
    assert "Boom" in payload["error"] and "before_tool_call" in payload["error"]
    assert "did not run" in payload["error"]
    diagnostic = next(e for e in events if isinstance(e, Diagnostic) and e.code == "hook_failed")
    assert diagnostic.level == "error"
    assert diagnostic.details["hook"] == "Boom"
    assert diagnostic.details["point"] == "before_tool_call"
    assert diagnostic.details["error"] == "rule engine down"


def test_a_failing_after_tool_call_hook_withholds_the_output() -> None:
    for point, message in [
        ("after", "RuntimeError: redactor down"),
        ("wrong", "returned str, expected ToolResult or None"),
    ]:
        result, events = run([Boom(point)], call_tool("transfer", {"amount": 1}))
        assert result.completed
        assert ran == [("transfer", 1)]  # the tool did run
        payload = tool_payloads(result)[0]
        assert payload["error_code"] == "hook_failed"
        assert payload["error"].startswith("The tool ran, but hook 'Boom' failed")
        assert "4111" not in json.dumps(payload)
        completed = next(
            e for e in events if isinstance(e, ToolCallCompleted) and e.tool_name == "transfer"
        )
        assert completed.execution_started is True and completed.error_code == "hook_failed"
        assert message in payload["error"]


class Timeline(RuntimeHook):
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def before_tool_call(self, ctx: HookContext, call: ToolCallInfo) -> None:
        self.log.append(f"hook:{call.tool_name}")


class Approver:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        self.log.append(f"approval:{request.tool_name}")
        return ApprovalDecision.allow()


def test_before_tool_call_runs_after_the_approval_gate() -> None:
    log: list[str] = []
    result, _ = run(
        [Timeline(log)], call_tool("deploy", {"target": "prod"}), approval_provider=Approver(log)
    )
    assert result.completed
    assert log == ["approval:deploy", "hook:deploy", "hook:task_finish"]
    assert ran == [("deploy", "prod")]


def test_denied_calls_never_reach_the_hooks() -> None:
    log: list[str] = []

    class Deny:
        async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
            return ApprovalDecision.deny("no")

    result, _ = run([Timeline(log)], call_tool("deploy", {"target": "x"}), approval_provider=Deny())
    assert log == ["hook:task_finish"]
    assert tool_payloads(result)[0]["error_code"] == "tool_approval_denied"


def test_hooks_apply_to_calls_a_resumed_run_approves() -> None:
    log: list[str] = []
    ran.clear()
    agent = Agent(
        model=ScriptedModel([call_tool("deploy", {"target": "prod"}), finish()]), tools=[deploy]
    )
    first = Runner.run_sync(agent, "go", config=RunConfig(hooks=[Timeline(log)]))
    assert first.status == "wait_user" and log == []
    request_id = first.wait["pending"][0]["request_id"]  # type: ignore[index]
    resumed = Runner.resume_sync(
        agent,
        first.to_state(),
        approvals={request_id: "allow"},
        config=RunConfig(hooks=[Timeline(log)]),
    )
    assert resumed.completed
    assert log == ["hook:deploy", "hook:task_finish"]
    assert ran == [("deploy", "prod")]
