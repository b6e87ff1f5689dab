"""Boundaries nothing else pins: each would break silently if changed."""

from __future__ import annotations

import json

from agentcycle import Agent, Runner
from agentcycle.events import CompletionReason, RunStatus
from agentcycle.messages import ToolMessage
from agentcycle.testing import ScriptedModel, call_tool


def test_task_finish_after_another_call_in_the_batch_still_ends_the_run() -> None:
    todos = {"todos": [{"title": "t", "status": "completed", "priority": "low"}]}
    # One scripted response only: a run that did not end would ask the model again and fail.
    model = ScriptedModel(
        [call_tool([("todo_write", todos), ("task_finish", {"message": "second wins"})])]
    )
    result = Runner.run_sync(Agent(model=model), "x")
    assert result.status is RunStatus.COMPLETED
    assert result.completion_reason is CompletionReason.TOOL_FINISH
    assert result.final_output == "second wins"
    assert result.cycles == 1
    assert model.calls == 1
    results = [m for m in result.messages if isinstance(m, ToolMessage)]
    assert [r.name for r in results] == ["todo_write", "task_finish"]
    assert json.loads(results[0].content)["ok"] is True
