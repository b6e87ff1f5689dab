"""Sub-tasks across a resume: a follow-up after ``Runner.resume`` (in this process or in
another one) continues the task's conversation as it would have before, tasks the parent's end
cancelled can be continued too, and the run state keeps each conversation once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agentcycle import Agent, Runner, RunState, RunStatus, SubAgent, function_tool
from agentcycle.messages import AssistantMessage, Message, ToolMessage, UserMessage, content_text
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.testing.scripted import Script
from tests.multiagent.sub_task_helpers import Gate, parent, tool_results, worker
from tests.multiagent.sub_task_resume_agent import (
    FACT,
    TASK,
    first_leg,
    follow_up_leg,
    lead,
    researcher,
)

HERE = Path(__file__).parent
INTERRUPTED = (
    '{"ok":false,"error_code":"tool_call_interrupted","error":"Interrupted while running: run '
    'cancelled. It may have had partial effects."}'
)


def conversation(messages: list[Message]) -> list[tuple[str, str]]:
    """Roles and texts of a request's messages (tool calls by name), without the system
    prompt."""
    seen = []
    for m in messages:
        if isinstance(m, AssistantMessage):
            seen.append(("assistant", ",".join(c.name for c in m.tool_calls)))
        elif isinstance(m, ToolMessage):
            seen.append(("tool", content_text(m.content)))
        elif isinstance(m, UserMessage):
            seen.append(("user", content_text(m.content)))
    return seen


def through_json(state: RunState) -> RunState:
    return RunState.from_json(state.to_json())


async def test_a_follow_up_after_a_resume_continues_the_tasks_conversation() -> None:
    paused = await Runner.run(lead(first_leg()), "go")
    assert paused.status is RunStatus.WAIT_USER
    assert [(t.task_id, t.status) for t in paused.sub_tasks] == [("researcher-1", "completed")]

    child = researcher()
    resumed_lead = lead(follow_up_leg("and in kilometres?"), child)
    state = through_json(paused.to_state())
    result = await Runner.resume(resumed_lead, state, input="kilometres")

    assert result.status is RunStatus.COMPLETED
    assert result.final_output == "The task says: 3.2 km (1 earlier fact)"
    model = child.model
    assert isinstance(model, ScriptedModel)
    (request,) = model.requests  # one model call: the follow-up turn, answered from history
    assert conversation(request.messages) == [
        ("user", TASK),
        ("assistant", "look_up"),
        ("tool", FACT),
        ("assistant", "task_finish"),
        ("tool", '{"ok":true,"finished":true}'),
        ("user", "and in kilometres?"),
    ]
    (status,) = tool_results(resumed_lead, "sub_task_status")
    assert status["tasks"][0] == {
        "task_id": "researcher-1",
        "agent_id": "researcher",
        "status": "completed",
        "cycles": 1,
        "turns": 2,
        "output": "3.2 km (1 earlier fact)",
    }
    (info,) = result.sub_tasks
    assert len(info.run_ids) == 2 and info.run_ids[0] == paused.sub_tasks[0].run_ids[0]


def test_a_follow_up_continues_the_task_in_another_process(tmp_path: Path) -> None:
    paused = Runner.run_sync(lead(first_leg()), "go")
    assert paused.status is RunStatus.WAIT_USER
    state_file = tmp_path / "state.json"
    state_file.write_text(paused.to_state().to_json())

    proc = subprocess.run(
        [sys.executable, str(HERE / "sub_task_resume_agent.py"), str(state_file), "in km?"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "completed"
    assert report["final_output"] == "The task says: 3.2 km (1 earlier fact)"
    seen = [(m["role"], m["text"]) for m in report["seen"] if m["role"] != "system"]
    assert seen[0] == ("user", TASK) and seen[-1] == ("user", "in km?")
    assert ("tool", FACT) in seen
    final = RunState.from_json(state_file.read_text())
    assert final.status is RunStatus.COMPLETED
    assert final.tool_state is not None
    assert final.tool_state.sub_tasks is not None
    (record,) = final.tool_state.sub_tasks.records.values()
    assert (record["status"], len(record["run_ids"])) == ("completed", 2)


async def test_the_state_keeps_a_conversation_once_not_per_cycle() -> None:
    filler = " padding" * 1250  # a 10 KB tool result in the task's conversation

    @function_tool
    def note(text: str) -> str:
        """Note something down."""
        return "noted"

    def leg(script: Script) -> Agent:
        return lead(script, researcher(filler), tools=[note], max_cycles=20)

    paused = await Runner.run(leg(first_leg()), "go")
    before = paused.to_state().to_json()
    assert before.count(FACT) == 1
    assert len(before) > len(filler)

    more = [call_tool("note", {"text": f"step {i}"}) for i in range(6)]
    steps = [*more, call_tool("ask_user", {"question": "Anything else?"})]
    again = await Runner.resume(leg(steps), through_json(paused.to_state()), input="km")
    assert again.status is RunStatus.WAIT_USER and again.cycles - paused.cycles == 7
    after = again.to_state().to_json()
    assert after.count(FACT) == 1
    # Seven small parent cycles (about 3.6 KB), not seven copies of the 10 KB conversation.
    assert len(after) - len(before) < len(filler) / 2

    # A follow-up replaces the kept conversation with the longer one: still one copy.
    followed = await Runner.resume(
        leg(follow_up_leg("in km?")),
        through_json(again.to_state()),
        input="one more thing",
    )
    assert followed.status is RunStatus.COMPLETED
    assert followed.to_state().to_json().count(FACT) == 1


async def test_tasks_cancelled_by_the_parents_end_can_be_continued_after_a_resume() -> None:
    gate = Gate()

    @function_tool
    async def until_started() -> str:
        """Returns once the first task waits at the gate."""
        await gate.reached(1)
        return "started"

    watcher = worker("Watcher", steps=[("wait_at_gate", {})], tools=[gate.tool()])
    first = parent(
        [
            call_tool(
                "create_sub_task",
                {
                    "agent_id": "watcher",
                    "tasks": [{"task_description": "first"}, {"task_description": "second"}],
                    "wait_for_completion": False,
                },
            ),
            call_tool("until_started", {}),
            call_tool("ask_user", {"question": "Go on?"}),
        ],
        {"watcher": SubAgent(watcher, "Watches.", max_concurrency=1)},
        tools=[until_started],
    )
    paused = await Runner.run(first, "go")
    assert paused.status is RunStatus.WAIT_USER
    assert [(t.status, t.note) for t in paused.sub_tasks] == [
        ("cancelled", "the parent run ended while it ran"),
        ("cancelled", "the parent run ended before it started"),
    ]

    plain = worker("Watcher")
    ids = ["watcher-1", "watcher-2"]
    second = parent(
        [
            call_tool("sub_task_status", {"task_ids": ids, "detail_level": "snapshot"}),
            call_tool("sub_task_status", {"task_ids": ids, "message": "carry on"}),
            call_tool("task_finish", {"message": "done"}),
        ],
        {"watcher": SubAgent(plain, "Watches.")},
        tools=[until_started],
    )
    result = await Runner.resume(second, through_json(paused.to_state()), input="yes")
    assert result.status is RunStatus.COMPLETED

    snapshot, followed = tool_results(second, "sub_task_status")
    activity = [t["snapshot"]["recent_activity"] for t in snapshot["tasks"]]
    assert activity == [[{"tool": "wait_at_gate", "arguments": "{}", "result": "error"}], []]
    assert [(t["status"], t["output"]) for t in followed["tasks"]] == [
        ("completed", "done: carry on"),
        ("completed", "done: carry on"),
    ]
    model = plain.model
    assert isinstance(model, ScriptedModel)
    seen = sorted(conversation(r.messages) for r in model.requests)
    assert seen == [
        [  # the first task's partial turn, its interrupted call closed as the child's end left it
            ("user", "first"),
            ("assistant", "wait_at_gate"),
            ("tool", INTERRUPTED),
            ("user", "carry on"),
        ],
        [("user", "second"), ("user", "carry on")],  # never started: its request, then this
    ]


async def test_a_follow_up_to_a_task_whose_sub_agent_is_gone_is_refused() -> None:
    paused = await Runner.run(lead(first_leg()), "go")
    other = parent(
        [
            call_tool("sub_task_status", {"task_ids": ["researcher-1"], "message": "more"}),
            call_tool("sub_task_status", {"task_ids": ["researcher-1"]}),
            call_tool("task_finish", {"message": "done"}),
        ],
        {"writer": SubAgent(worker("Writer"), "Writes.")},
    )
    result = await Runner.resume(other, through_json(paused.to_state()), input="yes")
    assert result.status is RunStatus.COMPLETED
    refused, report = tool_results(other, "sub_task_status")
    assert refused["error_code"] == "sub_task_unavailable"
    assert refused["details"] == [{"task_id": "researcher-1", "agent_id": "researcher"}]
    assert report["tasks"][0]["output"] == "2 miles"  # its record still reads as before


async def test_a_version_1_checkpoint_loads_and_its_task_takes_a_follow_up() -> None:
    # Written by the build before sub-task state got typed fields (STATE_VERSION 1 kept it
    # under RunToolState.extra): the same first leg as above, paused waiting for the user.
    text = (HERE / "data" / "sub_task_state_v1.json").read_text()
    assert json.loads(text)["version"] == 1
    state = RunState.from_json(text)

    assert state.version == 2
    assert state.tool_state is not None
    assert state.tool_state.extra == {}
    tasks = state.tool_state.sub_tasks
    assert tasks is not None
    assert list(tasks.records) == ["researcher-1"]
    assert list(tasks.conversations) == ["researcher-1"]
    child = researcher()
    agent = lead(follow_up_leg("and in kilometres?"), child)
    result = await Runner.resume(agent, state, input="kilometres")
    assert result.status is RunStatus.COMPLETED
    assert result.final_output == "The task says: 3.2 km (1 earlier fact)"
    assert [(t.task_id, t.status) for t in result.sub_tasks] == [("researcher-1", "completed")]
    assert RunState.from_json(result.to_state().to_json()).version == 2
