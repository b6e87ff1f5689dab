"""Handoffs: control moves to another agent within the same run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner, RunState, RunStatus, function_tool
from agentcycle.errors import ConfigurationError
from agentcycle.events import (
    AgentStarted,
    HandoffCompleted,
    HandoffStarted,
    RunEvent,
    ToolCallCompleted,
)
from agentcycle.handoffs import handoff
from agentcycle.hooks import HookContext, RuntimeHook
from agentcycle.messages import SystemMessage, UserMessage
from agentcycle.models.base import ModelResponse
from agentcycle.sessions import MemorySession
from agentcycle.testing import ScriptedModel, call_tool
from tests.multiagent.helpers import run_with_events, types


@function_tool
def refund(order_id: str) -> str:
    """Refund an order."""
    return f"refunded {order_id}"


@function_tool
def lookup(order_id: str) -> str:
    """Read an order."""
    return f"order {order_id}: paid"


def billing(steps: list[ModelResponse | BaseException], **fields: Any) -> Agent:
    return Agent(
        name="Billing",
        instructions="You handle refunds.",
        model=ScriptedModel(steps),
        tools=[refund],
        **fields,
    )


def triage(target: Agent, steps: list[ModelResponse | BaseException], **fields: Any) -> Agent:
    return Agent(
        name="Triage",
        instructions="You route requests.",
        model=ScriptedModel(steps),
        tools=[lookup],
        handoffs=[handoff(target, "Payments and refunds")],
        **fields,
    )


def transfer(note: str = "refund order 123") -> ModelResponse:
    return call_tool("transfer_to_billing", {"input": note})


def completions(events: list[RunEvent]) -> list[ToolCallCompleted]:
    return [e for e in events if isinstance(e, ToolCallCompleted)]


def model_of(agent: Agent) -> ScriptedModel:
    assert isinstance(agent.model, ScriptedModel)
    return agent.model


async def test_the_target_takes_over_the_same_run_with_its_own_model_prompt_and_tools() -> None:
    target = billing(
        [call_tool("refund", {"order_id": "123"}), call_tool("task_finish", {"message": "done"})]
    )
    source = triage(target, [call_tool("lookup", {"order_id": "123"}), transfer()])
    result, events = await run_with_events(source, "Refund order 123 please")
    assert result.status is RunStatus.COMPLETED and result.final_output == "done"
    assert result.agent_name == "Billing" and result.cycles == 4
    assert {e.run_id for e in events} == {result.run_id}

    assert model_of(source).calls == 2 and model_of(target).calls == 2
    request = model_of(target).requests[0]
    assert "refund" in request.tools and "lookup" not in request.tools
    assert "transfer_to_billing" not in request.tools
    system, first_user = request.messages[0], request.messages[1]
    assert isinstance(system, SystemMessage) and system.content.startswith("You handle refunds.")
    assert isinstance(first_user, UserMessage) and first_user.content == "Refund order 123 please"
    note = request.messages[-1]
    assert isinstance(note, UserMessage) and note.synthetic
    assert "'Triage'" in str(note.content) and "refund order 123" in str(note.content)
    assert model_of(source).requests[0].tools[-2:] == ("lookup", "transfer_to_billing")


async def test_handoff_events_and_the_agent_name_of_later_events() -> None:
    target = billing([call_tool("task_finish", {"message": "done"})])
    _, events = await run_with_events(triage(target, [transfer()]))
    start = next(i for i, e in enumerate(events) if isinstance(e, HandoffStarted))
    started, completed, agent = events[start : start + 3]
    assert isinstance(started, HandoffStarted) and isinstance(completed, HandoffCompleted)
    assert isinstance(agent, AgentStarted)
    assert (started.source_agent, started.target_agent) == ("Triage", "Billing")
    assert (completed.status, completed.tool_call_id) == ("completed", started.tool_call_id)
    transfer_done = events[start - 1]
    assert isinstance(transfer_done, ToolCallCompleted)
    assert (transfer_done.tool_call_id, transfer_done.directive) == (
        started.tool_call_id,
        "handoff",
    )
    assert started.agent_name == "Triage"
    assert all(e.agent_name == "Billing" for e in events[start + 1 :])
    assert types(events).count("agent_started") == 2


async def test_calls_after_a_transfer_in_the_same_batch_are_skipped() -> None:
    target = billing([call_tool("task_finish", {"message": "done"})])
    both = call_tool([("transfer_to_billing", {"input": "x"}), ("lookup", {"order_id": "1"})])
    result, events = await run_with_events(triage(target, [both]))
    assert result.agent_name == "Billing"
    skipped = [e for e in completions(events) if e.tool_name == "lookup"]
    assert [e.error_code for e in skipped] == ["tool_call_skipped"]


async def test_todos_and_the_session_go_on_across_a_handoff() -> None:
    todo = {"todos": [{"title": "refund", "status": "pending", "priority": "high"}]}
    target = billing(
        [
            call_tool("task_finish", {"message": "too early"}),
            call_tool("task_finish", {"message": "done", "require_all_todos_completed": False}),
        ]
    )
    session = MemorySession("chat")
    source = triage(target, [call_tool("todo_write", todo), transfer()])
    result, events = await run_with_events(source, config=RunConfig(session=session))
    refused = [e for e in completions(events) if e.tool_name == "task_finish"]
    assert refused[0].error_code == "todo_incomplete"  # the triage's todo binds the target
    assert [t.title for t in result.todos] == ["refund"]
    assert await session.get_items() == result.messages[1:]
    assert types(events).count("session_persisted") == 1


def ping_pong(max_handoffs: int | None = None) -> Agent:
    a = Agent(name="A", model=ScriptedModel([call_tool("transfer_to_b", {"input": "yours"})]))
    b = Agent(
        name="B",
        model=ScriptedModel(
            [
                call_tool("transfer_to_a", {"input": "back to you"}),
                call_tool("task_finish", {"message": "B finished"}),
            ]
        ),
    )
    a.handoffs = [b]
    b.handoffs = [a]
    a.max_handoffs = max_handoffs
    return a


@pytest.mark.parametrize("where", ["agent", "config"])
async def test_max_handoffs_refuses_the_transfer_and_the_agent_keeps_control(where: str) -> None:
    a = ping_pong(1 if where == "agent" else 7)
    config = RunConfig(max_handoffs=1) if where == "config" else None
    result, events = await run_with_events(a, config=config)
    assert result.status is RunStatus.COMPLETED and result.final_output == "B finished"
    assert result.agent_name == "B"
    assert types(events).count("handoff_started") == 1
    back = [e for e in completions(events) if e.tool_name == "transfer_to_a"]
    assert [e.error_code for e in back] == ["max_handoffs_exceeded"]
    assert result.cycles == 3  # cycles count on: handoffs are a separate limit


async def test_handoffs_within_the_limit_go_back_and_forth() -> None:
    a = ping_pong()
    a.model = ScriptedModel(
        [
            call_tool("transfer_to_b", {"input": "yours"}),
            call_tool("task_finish", {"message": "A finished"}),
        ]
    )
    result, events = await run_with_events(a)
    assert (result.agent_name, result.final_output) == ("A", "A finished")
    pairs = [(e.source_agent, e.target_agent) for e in events if isinstance(e, HandoffStarted)]
    assert pairs == [("A", "B"), ("B", "A")]


async def test_a_target_that_cannot_be_resolved_fails_the_run() -> None:
    target = Agent(name="Billing")  # no model anywhere
    result, events = await run_with_events(triage(target, [transfer()]))
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "configuration_error"
    completed = next(e for e in events if isinstance(e, HandoffCompleted))
    assert completed.status == "failed"
    assert types(events)[-1] == "run_failed"


async def test_two_agents_with_one_name_are_refused_before_the_run_starts() -> None:
    twin = Agent(name="Triage", model=ScriptedModel([]))
    with pytest.raises(ConfigurationError, match="two different agents"):
        await Runner.run(triage(twin, []), "x")


def test_a_handoff_to_something_that_is_not_an_agent_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="handoff target must be an Agent, got str"):
        handoff("Billing")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="handoff description must be a string"):
        handoff(Agent(name="Billing"), 5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("handoffs", "message"),
    [
        (["Billing"], "handoffs of 'Triage' must be Agents or handoff"),
        (Agent(name="Billing"), "handoffs of 'Triage' must be a list"),
    ],
)
async def test_handoffs_that_are_not_agents_fail_before_the_run_starts(
    handoffs: Any, message: str
) -> None:
    agent = Agent(name="Triage", model=ScriptedModel([]), handoffs=handoffs)
    with pytest.raises(ConfigurationError, match=message):
        await Runner.run(agent, "x")


async def test_transfer_tools_come_after_the_agent_tools_with_slugged_names() -> None:
    target = Agent(name="Billing Team!", model=ScriptedModel([]))
    source = Agent(
        model=ScriptedModel([call_tool("task_finish", {"message": "no"})]),
        tools=[lookup],
        handoffs=[target],
    )
    await Runner.run(source, "x")
    tools = model_of(source).requests[0].tools
    assert tools[-2:] == ("lookup", "transfer_to_billing_team")


async def test_a_handed_off_run_resumes_after_ask_user_with_the_target() -> None:
    target = billing(
        [
            call_tool("ask_user", {"question": "Which order?"}),
            call_tool("refund", {"order_id": "123"}),
            call_tool("task_finish", {"message": "refunded 123"}),
        ]
    )
    source = triage(target, [transfer("refund an order")])
    first = await Runner.run(source, "I want a refund")
    assert (first.status, first.agent_name) == (RunStatus.WAIT_USER, "Billing")
    state = RunState.from_json(json.dumps(json.loads(first.to_state().to_json())))
    assert state.current_agent() == "Billing"

    handle = await Runner.start_resumed(source, state, input="order 123")
    result = await handle.result()
    events: list[RunEvent] = [e async for e in handle.events()]
    assert (result.status, result.final_output) == (RunStatus.COMPLETED, "refunded 123")
    assert result.agent_name == "Billing" and result.run_id == first.run_id
    assert model_of(source).calls == 1  # the triage agent never ran again
    request = model_of(target).requests[1]
    assert "refund" in request.tools and "transfer_to_billing" not in request.tools
    system = request.messages[0]
    assert isinstance(system, SystemMessage) and system.content.startswith("You handle refunds.")
    assert request.messages[-1] == UserMessage(content="order 123")
    assert all(e.agent_name == "Billing" for e in events)


async def test_the_run_hooks_go_on_and_see_the_agent_in_control() -> None:
    seen: list[tuple[int, str]] = []

    class Watch(RuntimeHook):
        async def before_cycle(self, ctx: HookContext, cycle_index: int) -> None:
            seen.append((cycle_index, ctx.agent_name))

    target = billing([call_tool("task_finish", {"message": "done"})])
    await Runner.run(triage(target, [transfer()], hooks=[Watch()]), "x")
    assert seen == [(1, "Triage"), (2, "Billing")]
