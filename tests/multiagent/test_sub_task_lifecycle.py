"""Background sub-tasks: polling and bounded waits, cancellation with the parent, a parent that
tries to finish while they run, policy inheritance, and task records across a resume."""

from __future__ import annotations

import time

from agentcycle import RunConfig, Runner, RunStatus, SubAgent, ToolPolicy, function_tool
from agentcycle.events import RunCancelled, SubRunCompleted, SubRunStarted, ToolCallCompleted
from agentcycle.testing import ScriptedModel, call_tool
from tests.multiagent.helpers import of_run, run_with_events, stream_of
from tests.multiagent.sub_task_helpers import Gate, parent, tool_results, worker

DESCRIPTION = "Waits for the gate."


def gated(gate: Gate, **fields: object) -> SubAgent:
    agent = worker("Watcher", steps=[("wait_at_gate", {})], tools=[gate.tool()])
    return SubAgent(agent, DESCRIPTION, **fields)  # type: ignore[arg-type]


def background(*descriptions: str) -> object:
    tasks = [{"task_description": d} for d in descriptions]
    return call_tool(
        "create_sub_task", {"agent_id": "watcher", "tasks": tasks, "wait_for_completion": False}
    )


async def test_background_tasks_are_polled_waited_for_with_a_bound_then_collected() -> None:
    gate = Gate()

    @function_tool
    async def until_both_wait() -> str:
        """Returns once both tasks wait at the gate."""
        await gate.reached(2)
        return "both waiting"

    @function_tool
    def open_gate() -> str:
        """Let the tasks finish."""
        gate.opened.set()
        return "opened"

    ids = ["watcher-1", "watcher-2"]
    lead = parent(
        [
            background("first", "second"),
            call_tool("until_both_wait", {}),
            call_tool("sub_task_status", {"task_ids": ids, "detail_level": "snapshot"}),
            call_tool(
                "sub_task_status",
                {
                    "task_ids": ids,
                    "wait_for_completion": True,
                    "max_wait_seconds": 0.2,
                    "check_interval_seconds": 0.05,
                },
            ),
            call_tool("open_gate", {}),
            call_tool(
                "sub_task_status",
                {"task_ids": ids, "wait_for_completion": True, "max_wait_seconds": 30},
            ),
            call_tool("task_finish", {"message": "collected"}),
        ],
        {"watcher": gated(gate)},
        tools=[until_both_wait, open_gate],
    )
    result, events = await run_with_events(lead)
    assert result.status is RunStatus.COMPLETED

    (created,) = tool_results(lead, "create_sub_task")
    assert [(t["task_id"], t["status"]) for t in created["tasks"]] == [
        ("watcher-1", "queued"),
        ("watcher-2", "queued"),
    ]
    create_done = next(
        e for e in events if isinstance(e, ToolCallCompleted) and e.tool_name == "create_sub_task"
    )
    assert create_done.status == "running"  # background: the call returned before the tasks

    polled, timed_out, collected = tool_results(lead, "sub_task_status")
    assert polled["all_finished"] is False
    for report in polled["tasks"]:
        assert report["status"] == "running"
        activity = report["snapshot"]["recent_activity"]
        assert activity == [{"tool": "wait_at_gate", "arguments": "{}", "result": "pending"}]
    assert timed_out["all_finished"] is False
    assert "still running after waiting 0.2 s" in timed_out["hint"]
    waits = [
        e for e in events if isinstance(e, ToolCallCompleted) and e.tool_name == "sub_task_status"
    ]
    assert 200 <= waits[1].duration_ms < 2_000  # bounded: it gave up after max_wait_seconds
    assert collected["all_finished"] is True
    assert [t["output"] for t in collected["tasks"]] == ["done: first", "done: second"]
    assert "hint" not in collected


async def test_cancelling_the_parent_cancels_its_background_tasks() -> None:
    gate = Gate()
    lead = parent(
        [
            background("one", "two"),
            call_tool(
                "sub_task_status",
                {"task_ids": ["watcher-1", "watcher-2"], "wait_for_completion": True},
            ),
        ],
        {"watcher": gated(gate)},
    )
    handle = await Runner.start(lead, "go")
    await gate.reached(2)
    began = time.perf_counter()
    await handle.cancel("user pressed stop")
    elapsed = time.perf_counter() - began
    result = await handle.result()
    events = await stream_of(handle)

    assert result.status is RunStatus.CANCELLED
    assert elapsed < 2.0
    started = [e for e in events if isinstance(e, SubRunStarted)]
    assert len(started) == 2
    for sub_run in started:
        child = of_run(events, sub_run.child_run_id)
        assert isinstance(child[-1], RunCancelled)
        assert child[-1].reason == "the parent run was cancelled: user pressed stop"
    completed = [e for e in events if isinstance(e, SubRunCompleted)]
    assert sorted((e.task_id, e.status) for e in completed) == [
        ("watcher-1", "cancelled"),
        ("watcher-2", "cancelled"),
    ]
    assert isinstance(events[-1], RunCancelled) and events[-1].run_id == result.run_id
    assert [(t.status, t.note) for t in result.sub_tasks] == [
        ("cancelled", "the parent run was cancelled: user pressed stop while it ran")
    ] * 2


async def test_finishing_with_running_tasks_is_refused_once_then_cancels_them() -> None:
    gate = Gate()

    @function_tool
    async def until_it_waits() -> str:
        """Returns once the first task waits at the gate."""
        await gate.reached(1)
        return "waiting"

    lead = parent(
        [
            background("slow", "queued behind it"),
            call_tool("until_it_waits", {}),
            call_tool("task_finish", {"message": "too early"}),
            call_tool("task_finish", {"message": "finished anyway"}),
        ],
        {"watcher": gated(gate, max_concurrency=1)},
        tools=[until_it_waits],
    )
    result, events = await run_with_events(lead)
    assert result.status is RunStatus.COMPLETED
    assert result.final_output == "finished anyway"

    (refused,) = tool_results(lead, "task_finish")  # the second call ended the run
    assert refused["error_code"] == "sub_tasks_running"
    assert refused["details"] == [
        {"task_id": "watcher-1", "agent_id": "watcher", "status": "running"},
        {"task_id": "watcher-2", "agent_id": "watcher", "status": "queued"},
    ]
    assert "call task_finish again" in refused["error"]

    (sub_run,) = [e for e in events if isinstance(e, SubRunStarted)]  # the second never ran
    child = of_run(events, sub_run.child_run_id)
    assert isinstance(child[-1], RunCancelled) and child[-1].reason == "the parent run ended"
    (completed,) = [e for e in events if isinstance(e, SubRunCompleted)]
    assert (completed.task_id, completed.status) == ("watcher-1", "cancelled")
    assert events[-1].type == "run_completed" and events.index(completed) < len(events) - 1
    assert [(t.task_id, t.status, t.note) for t in result.sub_tasks] == [
        ("watcher-1", "cancelled", "the parent run ended while it ran"),
        ("watcher-2", "cancelled", "the parent run ended before it started"),
    ]


async def test_a_finished_task_does_not_hold_up_task_finish() -> None:
    lead = parent(
        [
            call_tool(
                "create_sub_task",
                {"agent_id": "quick", "task_description": "x", "wait_for_completion": False},
            ),
            call_tool("sub_task_status", {"task_ids": ["quick-1"], "wait_for_completion": True}),
            call_tool("task_finish", {"message": "done"}),
        ],
        {"quick": SubAgent(worker(), "Answers at once.")},
    )
    result, _ = await run_with_events(lead)
    assert result.status is RunStatus.COMPLETED and result.final_output == "done"
    assert [t.status for t in result.sub_tasks] == ["completed"]


def waiting_at(gate: Gate, count: int) -> object:
    """A parent tool that returns once ``count`` task calls wait at ``gate``."""

    @function_tool
    async def wait_for_workers() -> str:
        """Wait until the workers are busy."""
        await gate.reached(count)
        return "busy"

    return wait_for_workers


def opening(gate: Gate) -> object:
    @function_tool
    def open_gate() -> str:
        """Let the tasks finish."""
        gate.opened.set()
        return "opened"

    return open_gate


async def test_a_message_to_a_running_task_steers_it() -> None:
    gate = Gate()
    lead = parent(
        [
            background("busy"),
            call_tool("wait_for_workers", {}),
            call_tool(
                "sub_task_status",
                {"task_ids": ["watcher-1"], "message": "hurry", "wait_for_response": False},
            ),
            call_tool("open_gate", {}),
            call_tool("sub_task_status", {"task_ids": ["watcher-1"], "wait_for_completion": True}),
            call_tool("task_finish", {"message": "done"}),
        ],
        {"watcher": gated(gate)},
        tools=[waiting_at(gate, 1), opening(gate)],
    )
    result, events = await run_with_events(lead)
    assert result.status is RunStatus.COMPLETED
    steered, collected = tool_results(lead, "sub_task_status")
    assert steered["steered"] == ["watcher-1"]
    assert steered["tasks"][0]["status"] == "running"
    # The child read the message at its next model call, in the same turn (one run, no
    # follow-up): its answer quotes the latest user message.
    assert collected["tasks"][0]["output"] == "done: hurry"
    assert collected["tasks"][0]["turns"] == 1
    applied = [e for e in events if e.type == "diagnostic" and e.code == "steering_applied"]
    assert [e.details["text"] for e in applied] == ["hurry"]
    assert applied[0].run_id != result.run_id  # in the child's stream, forwarded


async def test_a_message_to_a_queued_task_is_refused() -> None:
    gate = Gate()
    lead = parent(
        [
            background("first", "second"),
            call_tool("wait_for_workers", {}),
            call_tool("sub_task_status", {"task_ids": ["watcher-2"], "message": "hurry"}),
            call_tool("open_gate", {}),
            call_tool(
                "sub_task_status",
                {"task_ids": ["watcher-1", "watcher-2"], "wait_for_completion": True},
            ),
            call_tool("task_finish", {"message": "done"}),
        ],
        {"watcher": gated(gate, max_concurrency=1)},
        tools=[waiting_at(gate, 1), opening(gate)],
    )
    result, _ = await run_with_events(lead)
    assert result.status is RunStatus.COMPLETED
    refused, collected = tool_results(lead, "sub_task_status")
    assert refused["error_code"] == "sub_task_queued"
    assert [t["output"] for t in collected["tasks"]] == ["done: first", "done: second"]


async def test_a_sub_task_cannot_use_a_tool_its_parent_denies(tmp_path: object) -> None:
    child = worker("Searcher", steps=[("search_files", {"pattern": "x"})])
    lead = parent(
        [
            call_tool("create_sub_task", {"agent_id": "searcher", "task_description": "look"}),
            call_tool("task_finish", {"message": "done"}),
        ],
        {"searcher": SubAgent(child, "Searches.")},
    )
    config = RunConfig(
        workspace=str(tmp_path), policy=ToolPolicy.of(disallowed_tools=["search_files"])
    )
    result, events = await run_with_events(lead, config=config)
    assert result.status is RunStatus.COMPLETED
    (sub_run,) = [e for e in events if isinstance(e, SubRunStarted)]
    (denied,) = [
        e
        for e in of_run(events, sub_run.child_run_id)
        if isinstance(e, ToolCallCompleted) and e.tool_name == "search_files"
    ]
    assert denied.error_code == "tool_not_allowed" and not denied.execution_started
    model = child.model
    assert isinstance(model, ScriptedModel)
    assert "search_files" not in model.requests[0].tools


async def test_task_records_survive_a_resume_and_ids_keep_counting() -> None:
    lead = parent(
        [
            call_tool("create_sub_task", {"agent_id": "helper", "task_description": "first"}),
            call_tool("ask_user", {"question": "More?"}),
            call_tool("sub_task_status", {"task_ids": ["helper-1"], "message": "again"}),
            call_tool("sub_task_status", {"task_ids": ["helper-1"]}),
            call_tool("create_sub_task", {"agent_id": "helper", "task_description": "second"}),
            call_tool("task_finish", {"message": "done"}),
        ],
        {"helper": SubAgent(worker(), "Helps.")},
    )
    paused = await Runner.run(lead, "go")
    assert paused.status is RunStatus.WAIT_USER
    assert [t.task_id for t in paused.sub_tasks] == ["helper-1"]

    state = paused.to_state().from_json(paused.to_state().to_json())
    resumed = await Runner.resume(lead, state, input="yes")
    assert resumed.status is RunStatus.COMPLETED
    followed, report = tool_results(lead, "sub_task_status")
    assert followed["tasks"][0]["output"] == "done: again"
    assert report["tasks"] == [
        {
            "task_id": "helper-1",
            "agent_id": "helper",
            "status": "completed",
            "cycles": 1,
            "turns": 2,
            "output": "done: again",
        }
    ]
    assert [(t.task_id, t.final_output) for t in resumed.sub_tasks] == [
        ("helper-1", "done: again"),
        ("helper-2", "done: second"),
    ]


async def test_without_a_runner_the_tools_say_sub_agents_are_unavailable() -> None:
    from agentcycle.multiagent._sub_task_tools import sub_task_tools
    from agentcycle.state import RunToolState
    from agentcycle.tools.base import ToolContext

    create, status = sub_task_tools({"helper": SubAgent(worker(), "Helps.")})
    ctx = ToolContext("run", "trace", "agent", "call", 1, RunToolState())
    for tool, args in (
        (create, {"agent_id": "helper", "task_description": "x"}),
        (status, {"task_ids": ["x"]}),
    ):
        result = await tool.invoke(ctx, args)
        assert result.error_code == "sub_run_unavailable"


async def test_a_wait_returns_as_soon_as_the_tasks_finish_not_at_the_next_check() -> None:
    gate = Gate()
    lead = parent(
        [
            background("slow"),
            call_tool(
                "sub_task_status",
                {
                    "task_ids": ["watcher-1"],
                    "wait_for_completion": True,
                    "max_wait_seconds": 600,
                    "check_interval_seconds": 60,
                },
            ),
            call_tool("task_finish", {"message": "done"}),
        ],
        {"watcher": gated(gate)},
    )
    handle = await Runner.start(lead, "go")
    await gate.reached(1)
    began = time.perf_counter()
    gate.opened.set()
    result = await handle.result()
    assert result.status is RunStatus.COMPLETED
    assert time.perf_counter() - began < 5  # not the 60 s check interval
    (collected,) = tool_results(lead, "sub_task_status")
    assert collected["tasks"][0]["output"] == "done: slow"
