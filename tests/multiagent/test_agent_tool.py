"""``Agent.as_tool``: the child run, its place in the parent's stream, and what the parent gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from agentcycle import Agent, RunBudget, RunConfig, Runner, RunStatus
from agentcycle.errors import ModelError, ToolDefinitionError
from agentcycle.events import SubRunCompleted, SubRunStarted, ToolCallCompleted, ToolCallStarted
from agentcycle.messages import TokenUsage, ToolMessage, UserMessage
from agentcycle.sessions import MemorySession
from agentcycle.state import RunToolState
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.base import ToolContext
from tests.multiagent.helpers import (
    CHILD_USAGE,
    PARENT_USAGE,
    child_run_ids,
    of_run,
    planner,
    researcher,
    run_with_events,
    types,
)


def tool_result(agent: Agent, name: str) -> ToolMessage:
    """The result of the parent's call to ``name``, as its model saw it next."""
    model = agent.model
    assert isinstance(model, ScriptedModel)
    messages = model.requests[-1].messages
    return next(m for m in messages if isinstance(m, ToolMessage) and m.name == name)


async def test_child_events_sit_between_the_sub_run_markers_with_parent_ids() -> None:
    parent = planner(researcher())
    result, events = await run_with_events(parent)
    assert result.status is RunStatus.COMPLETED
    (child_id,) = child_run_ids(events, result.run_id)
    assert child_id != result.run_id

    child = of_run(events, child_id)
    assert types(child)[0] == "run_started" and types(child)[-1] == "run_completed"
    started = next(e for e in events if isinstance(e, SubRunStarted))
    completed = next(e for e in events if isinstance(e, SubRunCompleted))
    for event in child:  # forwarded as emitted: the child's identity, the parent's trace
        assert event.parent_run_id == result.run_id
        assert event.parent_event_id == started.event_id
        assert event.trace_id == result.trace_id
        assert event.agent_name == "Researcher"
    assert [e.seq for e in child] == list(range(1, len(child) + 1))
    parent_events = of_run(events, result.run_id)
    assert all(e.parent_run_id is None for e in parent_events)
    assert [e.seq for e in parent_events] == list(range(1, len(parent_events) + 1))

    position = {id(e): i for i, e in enumerate(events)}
    call_started = next(e for e in parent_events if isinstance(e, ToolCallStarted))
    call_completed = next(
        e for e in parent_events if isinstance(e, ToolCallCompleted) and e.tool_name == "researcher"
    )
    inside = [position[id(e)] for e in child]
    assert position[id(call_started)] < position[id(started)] < min(inside)
    assert max(inside) < position[id(completed)] < position[id(call_completed)]
    assert started.parent_tool_call_id == call_started.tool_call_id
    assert (started.child_run_id, started.child_agent_name) == (child_id, "Researcher")
    assert (completed.child_run_id, completed.status) == (child_id, "completed")
    assert completed.final_output == "X is 42" and completed.error_code is None
    assert types(events).count("run_completed") == 2 and events[-1].run_id == result.run_id


async def test_the_child_gets_the_task_and_the_parent_gets_its_final_output() -> None:
    child = researcher()
    parent = planner(child)
    await run_with_events(parent)
    assert isinstance(child.model, ScriptedModel)
    child_input = [m for m in child.model.requests[0].messages if isinstance(m, UserMessage)]
    assert [m.content for m in child_input] == ["find X\n\nOutput requirements: a number"]
    result = tool_result(parent, "researcher")
    assert (result.content, result.is_error) == ("X is 42", False)


class Finding(BaseModel):
    topic: str
    value: int


async def test_a_typed_output_comes_back_as_json() -> None:
    child = researcher(
        [call_tool("task_finish", {"message": "ok", "output": {"topic": "X", "value": 42}})],
        output_type=Finding,
    )
    parent = planner(child)
    _, events = await run_with_events(parent)
    assert json.loads(tool_result(parent, "researcher").content) == {"topic": "X", "value": 42}
    completed = next(e for e in events if isinstance(e, SubRunCompleted))
    assert completed.final_output == {"topic": "X", "value": 42}


async def test_a_failed_child_is_an_error_result_and_the_parent_goes_on() -> None:
    child = researcher([ModelError("provider down", code="model_unavailable")])
    parent = planner(child)
    result, events = await run_with_events(parent)
    assert result.status is RunStatus.COMPLETED and result.final_output == "planned"
    message = tool_result(parent, "researcher")
    body = json.loads(message.content)
    assert message.is_error and body["error_code"] == "sub_run_failed"
    assert body["details"]["error_code"] == "model_unavailable"
    completed = next(e for e in events if isinstance(e, SubRunCompleted))
    assert (completed.status, completed.error_code) == ("failed", "model_unavailable")


async def test_a_child_that_asks_the_user_returns_its_question_to_the_parent() -> None:
    child = researcher([call_tool("ask_user", {"question": "Which X?", "options": ["a", "b"]})])
    parent = planner(child)
    result, events = await run_with_events(parent)
    assert result.status is RunStatus.COMPLETED  # only the parent talks to the user
    body = json.loads(tool_result(parent, "researcher").content)
    assert body["error_code"] == "sub_run_waiting"
    assert body["details"] == {"kind": "ask_user", "question": "Which X?", "options": ["a", "b"]}
    completed = next(e for e in events if isinstance(e, SubRunCompleted))
    assert (completed.status, completed.final_output) == ("wait_user", "Which X?")


async def test_child_usage_is_part_of_the_parent_usage_with_its_run_id() -> None:
    result, events = await run_with_events(planner(researcher()))
    (child_id,) = child_run_ids(events, result.run_id)
    assert result.usage.total_tokens == 2 * PARENT_USAGE.total_tokens + CHILD_USAGE.total_tokens
    assert [r.run_id for r in result.model_calls] == [None, child_id, None]


async def test_child_usage_counts_against_the_parent_budget() -> None:
    usage = TokenUsage.of(1_990, 10)
    heavy = researcher([call_tool("task_finish", {"message": "big"}, usage=usage)])
    config = RunConfig(budget=RunBudget(max_total_tokens=1_000))
    result, events = await run_with_events(planner(heavy), config=config)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "budget_exhausted"
    assert result.error["details"]["used"]["total_tokens"] == 110 + 2_000
    assert types(of_run(events, result.run_id))[-2:] == ["budget_exhausted", "run_failed"]


async def test_the_child_works_in_the_parent_workspace_and_not_in_its_session(
    tmp_path: Path,
) -> None:
    writer = researcher(
        [
            call_tool("write_file", {"path": "notes.md", "content": "X is 42\n"}),
            call_tool("task_finish", {"message": "written"}),
        ]
    )
    session = MemorySession("chat")
    config = RunConfig(workspace=tmp_path, session=session)
    result, _ = await run_with_events(planner(writer), config=config)
    assert result.status is RunStatus.COMPLETED
    assert (tmp_path / "notes.md").read_text() == "X is 42\n"
    stored = await session.get_items()
    assert stored == result.messages[1:]  # the parent's turn only: no child message in it
    assert not any("notes.md" in str(getattr(m, "tool_calls", "")) for m in stored)


async def test_outside_a_runner_the_tool_says_it_cannot_run() -> None:
    tool = researcher().as_tool(name="ask_researcher", description="Ask the researcher.")
    assert (tool.name, tool.description) == ("ask_researcher", "Ask the researcher.")
    assert tool.parameters["required"] == ["task_description"]
    ids = {"run_id": "r", "trace_id": "t", "agent_name": "a", "tool_call_id": "c"}
    ctx = ToolContext(**ids, cycle_index=1, state=RunToolState())
    result = await tool.invoke(ctx, {"task_description": "x"})
    assert result.error_code == "sub_run_unavailable"


async def test_a_child_can_hand_off_inside_its_own_run() -> None:
    closer = Agent(
        name="Closer", model=ScriptedModel([call_tool("task_finish", {"message": "closed"})])
    )
    child = researcher([call_tool("transfer_to_closer", {"input": "wrap up"})], handoffs=[closer])
    parent = planner(child)
    result, events = await run_with_events(parent)
    (child_id,) = child_run_ids(events, result.run_id)
    handoffs = [e for e in events if e.type == "handoff_completed"]
    assert [e.run_id for e in handoffs] == [child_id]
    completed = next(e for e in events if isinstance(e, SubRunCompleted))
    assert (completed.child_agent_name, completed.final_output) == ("Closer", "closed")
    assert tool_result(parent, "researcher").content == "closed"


async def test_an_agent_given_as_a_tool_without_as_tool_is_a_clear_error() -> None:
    child = researcher()
    for given in (child, child.as_tool):  # the agent itself; the method, not called
        agent = Agent(name="Planner", model=ScriptedModel([]), tools=[given])
        with pytest.raises(ToolDefinitionError) as caught:
            await Runner.run(agent, "go")
        assert caught.value.message == (
            "Agent 'Researcher' is not a tool: give the tool its as_tool() call returns."
        )
