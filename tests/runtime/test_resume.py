"""Stopped runs continue: ask_user answers, approvals decided later (also in another process)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from agentcycle import Agent, Runner, RunState, function_tool
from agentcycle.errors import ConfigurationError
from agentcycle.events import RunStatus
from agentcycle.messages import ToolMessage, UserMessage
from agentcycle.runtime.approvals import ApprovalDecision
from agentcycle.testing import ScriptedModel, call_tool

from .resume_agent import agent, deploy

HERE = Path(__file__).parent


async def test_ask_user_then_resume_with_the_answer() -> None:
    first = ScriptedModel([call_tool("ask_user", {"question": "Which env?"})])
    handle = await Runner.start(Agent(model=first), "deploy")
    waiting = await handle.result()
    before = [e async for e in handle.events()]
    assert waiting.status is RunStatus.WAIT_USER

    second = ScriptedModel([call_tool("task_finish", {"message": "deployed to staging"})])
    resumed = await Runner.start_resumed(Agent(model=second), waiting.to_state(), input="staging")
    result = await resumed.result()
    after = [e async for e in resumed.events()]
    assert result.status is RunStatus.COMPLETED and result.final_output == "deployed to staging"
    assert result.run_id == waiting.run_id
    seen = second.requests[0].messages
    assert isinstance(seen[-1], UserMessage) and seen[-1].content == "staging"
    assert isinstance(seen[-2], ToolMessage) and seen[-2].name == "ask_user"
    assert seen[: len(waiting.messages)] == waiting.messages  # history intact
    assert after[0].seq == before[-1].seq + 1  # one gap-free sequence across segments
    assert [e.type for e in after[:3]] == ["run_started", "checkpoint_resumed", "agent_started"]
    assert result.cycles == 2


async def test_waiting_run_needs_input() -> None:
    waiting = await Runner.run(
        Agent(model=ScriptedModel([call_tool("ask_user", {"question": "?"})])), "x"
    )
    with pytest.raises(ConfigurationError, match="waiting for the user"):
        await Runner.resume(Agent(model=ScriptedModel([])), waiting.to_state())


async def test_resume_refuses_an_agent_without_the_runs_tools() -> None:
    waiting = await Runner.run(agent([call_tool("deploy", {"target": "prod"})]), "ship")
    with pytest.raises(ConfigurationError, match="deploy"):
        await Runner.resume(
            Agent(model=ScriptedModel([])), waiting.to_state(), approvals={"x": "allow"}
        )


async def test_denied_on_resume_the_model_sees_the_reason(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    waiting = await Runner.run(agent([call_tool("deploy", {"target": "prod"})]), "ship")
    request_id = waiting.to_state().pending_tool_calls[0].request_id
    assert request_id is not None
    model = ScriptedModel([call_tool("task_finish", {"message": "ok, not deploying"})])
    result = await Runner.resume(
        Agent(name="deployer", model=model, tools=[deploy]),
        waiting.to_state(),
        approvals={request_id: ApprovalDecision.deny("freeze week")},
    )
    denial = json.loads(model.requests[0].messages[-1].content)
    assert denial["error_code"] == "tool_approval_denied" and "freeze week" in denial["error"]
    assert result.status is RunStatus.COMPLETED
    assert not (tmp_path / "ledger.txt").exists()


async def test_undecided_calls_stay_pending_with_the_same_request(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    waiting = await Runner.run(
        agent([call_tool([("deploy", {"target": "a"}), ("deploy", {"target": "b"})])]), "ship"
    )
    state = waiting.to_state()
    first, second = state.pending_tool_calls
    assert first.request_id is not None and second.request_id is None
    again = await Runner.resume(agent([]), state, approvals={"unrelated": "allow"})
    assert again.status is RunStatus.WAIT_USER
    assert again.to_state().pending_tool_calls[0].request_id == first.request_id
    done = await Runner.resume(
        agent([call_tool("task_finish", {"message": "both"})]),
        again.to_state(),
        approvals={first.request_id: "allow", second.tool_call_id: "allow"},
    )
    assert done.final_output == "both"
    assert (tmp_path / "ledger.txt").read_text() == "deployed a\ndeployed b\n"


def test_approval_round_trip_across_processes_runs_the_call_exactly_once(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    waiting = Runner.run_sync(agent([call_tool("deploy", {"target": "prod"})]), "ship it")
    assert waiting.status is RunStatus.WAIT_USER
    state_file = tmp_path / "state.json"
    state_file.write_text(waiting.to_state().to_json())
    assert not (tmp_path / "ledger.txt").exists()

    proc = subprocess.run(
        [sys.executable, str(HERE / "resume_agent.py"), str(state_file), "allow"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "completed resumed and done"
    assert (tmp_path / "ledger.txt").read_text() == "deployed prod\n"
    final = RunState.from_json(state_file.read_text())
    assert final.status is RunStatus.COMPLETED and final.pending_tool_calls == []
    results = [m for m in final.messages() if isinstance(m, ToolMessage)]
    assert [m.content for m in results] == ["deployed prod", '{"ok":true,"finished":true}']


async def test_a_misspelt_decision_is_a_configuration_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    waiting = await Runner.run(agent([call_tool("deploy", {"target": "prod"})]), "ship")
    request_id = waiting.to_state().pending_tool_calls[0].request_id
    assert request_id is not None
    with pytest.raises(ConfigurationError, match="'yes' is not an approval decision"):
        await Runner.resume(agent([]), waiting.to_state(), approvals={request_id: "yes"})
    assert not (tmp_path / "ledger.txt").exists()


async def test_a_state_saved_mid_run_resumes_with_the_event_sequence_going_on() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    @function_tool
    async def slow_step() -> str:
        """A step that takes a while."""
        started.set()
        await release.wait()
        return "done"

    steps = [call_tool("todo_write", {"todos": []}), call_tool("slow_step", {})]
    handle = await Runner.start(Agent(model=ScriptedModel(steps), tools=[slow_step]), "go")
    await started.wait()
    snapshot = handle.state()
    seen = []
    async for event in handle.events():
        seen.append(event)
        if event.seq == snapshot.event_seq:
            break
    # The snapshot knows every event so far and the cycle that committed; the live state goes on.
    assert snapshot.event_seq == seen[-1].seq > 0
    assert seen[-1].type == "tool_call_started"
    assert [c.index for c in snapshot.cycles] == [1]
    assert snapshot.tool_state is not None and snapshot.status is None
    await handle.cancel()
    assert handle.state().status is RunStatus.CANCELLED
    assert snapshot.status is None and [c.index for c in snapshot.cycles] == [1]

    finish = ScriptedModel([call_tool("task_finish", {"message": "resumed"})])
    resumed = await Runner.start_resumed(Agent(model=finish, tools=[slow_step]), snapshot)
    result = await resumed.result()
    events = [e async for e in resumed.events()]
    assert result.completed and result.final_output == "resumed"
    assert [e.seq for e in events] == list(
        range(snapshot.event_seq + 1, snapshot.event_seq + 1 + len(events))
    )
    assert result.cycles == 2  # the cycle in progress was done again
