"""Configured sub-agents: ``create_sub_task`` runs tasks as child runs of the calling run, and
``sub_task_status`` reports on them, waits for them and continues them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig, Runner, RunStatus, SubAgent, function_tool
from agentcycle.errors import ConfigurationError
from agentcycle.events import (
    SubRunCompleted,
    SubRunStarted,
    ToolCallCompleted,
    ToolCallStarted,
)
from agentcycle.messages import AssistantMessage, ToolMessage, UserMessage, content_text
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool, reply
from tests.multiagent.helpers import of_run, run_with_events, types
from tests.multiagent.sub_task_helpers import last_user_text, parent, tool_results, worker
from tests.skills.skill_files import write_skill

RESEARCHER = "Looks things up."


def researcher_agent(**fields: object) -> SubAgent:
    return SubAgent(worker("Researcher"), RESEARCHER, **fields)  # type: ignore[arg-type]


async def test_a_task_runs_as_a_child_run_between_the_parent_tool_calls_markers() -> None:
    create = call_tool("create_sub_task", {"agent_id": "researcher", "task_description": "find X"})
    lead = parent(
        [create, call_tool("task_finish", {"message": "ok"})], {"researcher": researcher_agent()}
    )
    result, events = await run_with_events(lead)
    assert result.status is RunStatus.COMPLETED

    started = next(e for e in events if isinstance(e, SubRunStarted))
    completed = next(e for e in events if isinstance(e, SubRunCompleted))
    call_id = create.tool_calls[0].id
    assert (started.task_id, started.parent_tool_call_id) == ("researcher-1", call_id)
    assert (completed.task_id, completed.status) == ("researcher-1", "completed")
    assert completed.final_output == "done: find X"

    child = of_run(events, started.child_run_id)
    assert types(child)[0] == "run_started" and types(child)[-1] == "run_completed"
    assert all(e.parent_run_id == result.run_id and e.trace_id == result.trace_id for e in child)
    assert all(e.parent_event_id == started.event_id for e in child)
    position = {id(e): i for i, e in enumerate(events)}
    tool_started = next(
        e for e in events if isinstance(e, ToolCallStarted) and e.tool_name == "create_sub_task"
    )
    tool_done = next(
        e for e in events if isinstance(e, ToolCallCompleted) and e.tool_name == "create_sub_task"
    )
    order = [tool_started, started, child[0], child[-1], completed, tool_done]
    assert [position[id(e)] for e in order] == sorted(position[id(e)] for e in order)

    (seen,) = tool_results(lead, "create_sub_task")
    assert seen["tasks"] == [
        {
            "task_id": "researcher-1",
            "agent_id": "researcher",
            "status": "completed",
            "cycles": 1,
            "turns": 1,
            "output": "done: find X",
        }
    ]
    (info,) = result.sub_tasks
    assert (info.task_id, info.status, info.final_output) == (
        "researcher-1",
        "completed",
        seen["tasks"][0]["output"],
    )
    assert info.run_ids == (started.child_run_id,)
    child_calls = [c for c in result.model_calls if c.run_id == started.child_run_id]
    assert len(child_calls) == 1  # the child's model call counts in the parent's usage


async def test_a_batch_runs_concurrently() -> None:
    @function_tool
    async def look_up() -> str:
        """Takes a while."""
        await asyncio.sleep(0.3)  # the work being measured, not synchronisation
        return "found"

    slow = SubAgent(worker("Researcher", steps=[("look_up", {})], tools=[look_up]), RESEARCHER)
    tasks = [{"task_description": f"topic {n}"} for n in range(4)]
    lead = parent(
        [
            call_tool("create_sub_task", {"agent_id": "researcher", "tasks": tasks}),
            call_tool("task_finish", {"message": "ok"}),
        ],
        {"researcher": slow},
    )
    began = time.perf_counter()
    result, events = await run_with_events(lead)
    elapsed = time.perf_counter() - began
    assert result.status is RunStatus.COMPLETED
    (seen,) = tool_results(lead, "create_sub_task")
    assert [t["output"] for t in seen["tasks"]] == [f"done: topic {n}" for n in range(4)]
    assert [t["task_id"] for t in seen["tasks"]] == [f"researcher-{n}" for n in range(1, 5)]
    # Four 0.3 s tasks in parallel: about 0.3 s, far from the 1.2 s of running them in turn.
    assert elapsed < 1.0, elapsed
    assert len([e for e in events if isinstance(e, SubRunStarted)]) == 4


async def test_max_concurrency_bounds_the_tasks_running_at_once() -> None:
    running = 0
    peak = 0
    release = asyncio.Event()

    @function_tool
    async def work() -> str:
        """Counts how many run at once."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if peak == 2:
            release.set()
        await release.wait()
        running -= 1
        return "worked"

    pair = SubAgent(
        worker("Researcher", steps=[("work", {})], tools=[work]), RESEARCHER, max_concurrency=2
    )
    tasks = [{"task_description": f"part {n}"} for n in range(5)]
    lead = parent(
        [
            call_tool("create_sub_task", {"agent_id": "researcher", "tasks": tasks}),
            call_tool("task_finish", {"message": "ok"}),
        ],
        {"researcher": pair},
    )
    result, _ = await run_with_events(lead)
    assert result.status is RunStatus.COMPLETED
    assert peak == 2
    assert [t.status for t in result.sub_tasks] == ["completed"] * 5


async def test_a_follow_up_continues_the_finished_tasks_conversation() -> None:
    def answer(messages: list) -> str:
        text = last_user_text(messages)
        if text == "and in metric?":
            earlier = [m for m in messages if isinstance(m, AssistantMessage) and m.tool_calls]
            return f"3 km (I said {len(earlier)} things before)"
        return "2 miles"

    distance = SubAgent(worker("Researcher", answer=answer), RESEARCHER)
    lead = parent(
        [
            call_tool(
                "create_sub_task", {"agent_id": "researcher", "task_description": "How far?"}
            ),
            call_tool(
                "sub_task_status", {"task_ids": ["researcher-1"], "message": "and in metric?"}
            ),
            call_tool("task_finish", {"message": "ok"}),
        ],
        {"researcher": distance},
    )
    result, events = await run_with_events(lead)
    assert result.status is RunStatus.COMPLETED
    (status,) = tool_results(lead, "sub_task_status")
    assert status["all_finished"] is True
    assert status["tasks"][0]["output"] == "3 km (I said 1 things before)"
    assert status["tasks"][0]["turns"] == 2

    turns = [e for e in events if isinstance(e, SubRunStarted)]
    assert [t.task_id for t in turns] == ["researcher-1", "researcher-1"]
    assert turns[0].child_run_id != turns[1].child_run_id
    model = distance.agent.model
    assert isinstance(model, ScriptedModel)
    follow_up = model.requests[-1].messages  # the second turn saw the first one whole
    user_texts = [content_text(m.content) for m in follow_up if isinstance(m, UserMessage)]
    assert user_texts == ["How far?", "and in metric?"]
    (info,) = result.sub_tasks
    assert info.run_ids == (turns[0].child_run_id, turns[1].child_run_id)
    assert info.final_output == "3 km (I said 1 things before)"


async def test_include_main_summary_gives_the_child_the_parent_conversation_in_brief() -> None:
    helper = SubAgent(worker("Researcher"), RESEARCHER)
    lead = parent(
        [
            call_tool(
                "create_sub_task",
                {
                    "agent_id": "researcher",
                    "tasks": [
                        {"task_description": "list competitors", "output_requirements": "names"},
                        {"task_description": "estimate the market"},
                    ],
                    "include_main_summary": True,
                },
                text="I will research the competitors first.",
            ),
            call_tool("create_sub_task", {"agent_id": "researcher", "task_description": "plain"}),
            call_tool("task_finish", {"message": "ok"}),
        ],
        {"researcher": helper},
    )
    result, _ = await run_with_events(lead, "Plan the launch of product Zeta.")
    assert result.status is RunStatus.COMPLETED
    model = helper.agent.model
    assert isinstance(model, ScriptedModel)
    inputs = sorted(last_user_text(r.messages) for r in model.requests)
    summary = (
        "Summary of the main conversation (background only; your task follows):\n"
        "- The user asked:\n"
        "  > Plan the launch of product Zeta.\n"
        "- The main agent's latest notes: I will research the competitors first."
    )
    assert inputs == [
        f"{summary}\n\nYour task:\nestimate the market",
        f"{summary}\n\nYour task:\nlist competitors\n\nOutput requirements: names",
        "plain",
    ]
    assert [t.include_main_summary for t in result.sub_tasks] == [True, True, False]


async def test_bad_arguments_are_typed_errors_the_model_sees() -> None:
    lead = parent(
        [
            call_tool(
                "create_sub_task",
                {
                    "agent_id": "researcher",
                    "task_description": "a",
                    "tasks": [{"task_description": "b"}],
                },
            ),
            call_tool("create_sub_task", {"agent_id": "researcher"}),
            call_tool("create_sub_task", {"agent_id": "writer", "task_description": "a"}),
            call_tool(
                "create_sub_task",
                {
                    "agent_id": "researcher",
                    "task_description": "a",
                    "exclude_files_pattern": "[z-a]",
                },
            ),
            call_tool("sub_task_status", {"task_ids": ["researcher-9"]}),
            call_tool("create_sub_task", {"agent_id": "researcher", "tasks": []}),
            call_tool("task_finish", {"message": "ok"}),
        ],
        {"researcher": researcher_agent(), "analyst": researcher_agent()},
    )
    result, events = await run_with_events(lead)
    assert result.status is RunStatus.COMPLETED
    assert not [e for e in events if isinstance(e, SubRunStarted)]
    created = tool_results(lead, "create_sub_task")
    assert [r["error_code"] for r in created] == [
        "invalid_tool_arguments",
        "invalid_tool_arguments",
        "unknown_agent_id",
        "invalid_glob",
        "invalid_tool_arguments",
    ]
    assert created[0]["details"] == {"given": ["task_description", "tasks"]}
    assert created[1]["details"] == {"given": []}
    assert created[2]["details"] == {"agent_ids": ["researcher", "analyst"]}
    assert "researcher, analyst" in created[2]["error"]
    (status,) = tool_results(lead, "sub_task_status")
    assert status["error_code"] == "unknown_task_id"
    assert status["details"] == {"unknown": ["researcher-9"], "known": []}
    assert result.sub_tasks == []


def test_sub_agent_configuration_is_checked() -> None:
    agent = worker()
    with pytest.raises(ConfigurationError, match="description"):
        SubAgent(agent, " ")
    with pytest.raises(ConfigurationError, match="max_cycles"):
        SubAgent(agent, "d", max_cycles=0)
    with pytest.raises(ConfigurationError, match="max_concurrency"):
        SubAgent(agent, "d", max_concurrency=True)
    with pytest.raises(ConfigurationError, match="must be an Agent"):
        SubAgent("agent", "d")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sub_agents", "message"),
    [
        ({"has space": SubAgent(worker(), "d")}, "letters, digits"),
        ({"ok": worker()}, "must be a SubAgent"),
    ],
)
async def test_bad_sub_agents_fail_before_the_run_starts(sub_agents: dict, message: str) -> None:
    agent = Agent(model=ScriptedModel([reply("hi")]), sub_agents=sub_agents)
    with pytest.raises(ConfigurationError, match=message):
        await Runner.start(agent, "go")


async def test_the_tools_sit_after_the_shell_tools_and_describe_the_sub_agents(
    tmp_path: object,
) -> None:
    lead = parent(
        [call_tool("task_finish", {"message": "ok"})],
        {"researcher": researcher_agent()},
        shell_tools=True,
        tools=[function_tool(lambda: "x", name="own")],
    )
    await Runner.run(lead, "go", config=RunConfig(workspace=str(tmp_path)))
    model = lead.model
    assert isinstance(model, ScriptedModel)
    request = model.requests[0]
    assert request.tools == (
        "task_finish",
        "ask_user",
        "find_files",
        "file_info",
        "read_file",
        "write_file",
        "edit_file",
        "search_files",
        "todo_write",
        "bash",
        "check_background_command",
        "create_sub_task",
        "sub_task_status",
        "own",
    )
    create = next(t for t in request.request.tools if t.name == "create_sub_task")
    assert "- researcher: Looks things up." in create.description


async def test_a_follow_up_after_an_unanswered_approval_closes_the_waiting_call() -> None:
    @function_tool(needs_approval=True)
    def deploy() -> str:
        """Deploy to production."""
        return "deployed"

    def script(request: ModelRequest) -> ModelResponse:
        if last_user_text(request.messages) == "skip the deploy":
            return call_tool("task_finish", {"message": "skipped"})
        return call_tool("deploy", {})

    deployer = Agent(name="Deployer", model=ScriptedModel(script), tools=[deploy])
    lead = parent(
        [
            call_tool("create_sub_task", {"agent_id": "deployer", "task_description": "ship"}),
            call_tool(
                "sub_task_status", {"task_ids": ["deployer-1"], "message": "skip the deploy"}
            ),
            call_tool("task_finish", {"message": "ok"}),
        ],
        {"deployer": SubAgent(deployer, "Deploys.")},
    )
    result, _ = await run_with_events(lead, config=RunConfig(live_approvals=False))
    assert result.status is RunStatus.COMPLETED
    (created,) = tool_results(lead, "create_sub_task")
    waiting = created["tasks"][0]
    assert (waiting["status"], waiting["question"]) == ("wait_user", "Waiting for approval: deploy")
    (status,) = tool_results(lead, "sub_task_status")
    assert status["tasks"][0]["output"] == "skipped"
    model = deployer.model
    assert isinstance(model, ScriptedModel)
    follow_up = model.requests[-1].messages
    closed = [m for m in follow_up if isinstance(m, ToolMessage) and m.name == "deploy"]
    assert len(closed) == 1 and closed[0].is_error
    assert "not run" in content_text(closed[0].content)


async def test_a_follow_up_keeps_the_skills_the_task_activated(tmp_path: Path) -> None:
    """A follow-up continues the task from its last turn's tool state: a skill it activated
    still restricts its tools (the skill's instructions are in the conversation it continues,
    so lifting the restriction would make ``allowed-tools`` advisory)."""
    write_skill(tmp_path, "read-only", allowed_tools=["lookup"])
    deployed: list[str] = []

    @function_tool
    def deploy(target: str) -> str:
        """Deploy to a target."""
        deployed.append(target)
        return f"deployed {target}"

    def script(request: ModelRequest) -> ModelResponse:
        if last_user_text(request.messages) == "now deploy":
            if not any(isinstance(m, ToolMessage) and m.name == "deploy" for m in request.messages):
                return call_tool("deploy", {"target": "production"})
            return call_tool("task_finish", {"message": "tried"})
        if not any(isinstance(m, ToolMessage) for m in request.messages):
            return call_tool(
                [
                    ("activate_skill", {"skill_name": "read-only"}),
                    (
                        "todo_write",
                        {"todos": [{"id": "t1", "title": "check", "status": "pending"}]},
                    ),
                ]
            )
        return call_tool("task_finish", {"message": "checked"})

    ops = Agent(name="Ops", model=ScriptedModel(script), tools=[deploy], skills_dirs=[tmp_path])
    lead = parent(
        [
            call_tool("create_sub_task", {"agent_id": "ops", "task_description": "check"}),
            call_tool("sub_task_status", {"task_ids": ["ops-1"], "message": "now deploy"}),
            call_tool("task_finish", {"message": "ok"}),
        ],
        {"ops": SubAgent(ops, "Operations.")},
    )
    result, events = await run_with_events(lead)

    assert result.status is RunStatus.COMPLETED
    assert deployed == []
    refused = [e for e in events if isinstance(e, ToolCallCompleted) and e.tool_name == "deploy"]
    assert [e.error_code for e in refused] == ["tool_not_allowed"]
    model = ops.model
    assert isinstance(model, ScriptedModel)
    assert "deploy" not in model.requests[-1].tools  # not offered either
    follow_up = [e for e in events if isinstance(e, SubRunStarted)][1].child_run_id
    completed = [e for e in events if isinstance(e, SubRunCompleted)]
    assert completed[-1].child_run_id == follow_up and completed[-1].status == "completed"
