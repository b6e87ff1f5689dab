"""A parent with a researcher sub-agent, for the tests that resume a run with sub-tasks, in this
process or in another one (``python sub_task_resume_agent.py STATE_FILE MESSAGE``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentcycle import Agent, Runner, RunState, SubAgent, function_tool
from agentcycle.messages import Message, ToolMessage, UserMessage, content_text
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.testing.scripted import Script

TASK = "How long is the bridge?"
FACT = "FACT-7f3a: the bridge is 2 miles long."


def _last_user_text(messages: Sequence[Message]) -> str:
    return next(content_text(m.content) for m in reversed(messages) if isinstance(m, UserMessage))


def researcher(filler: str = "") -> Agent:
    """Looks the task up (its tool result is ``FACT`` plus ``filler``) and answers; a follow-up
    is answered from the earlier conversation alone, saying how many facts it found there."""

    @function_tool
    def look_up(topic: str) -> str:
        """Look a topic up."""
        return FACT + filler

    def script(request: ModelRequest) -> ModelResponse:
        messages = request.messages
        if _last_user_text(messages) != TASK:
            facts = [m for m in messages if isinstance(m, ToolMessage) and FACT in m.content]
            return call_tool("task_finish", {"message": f"3.2 km ({len(facts)} earlier fact)"})
        if not any(isinstance(m, ToolMessage) for m in messages):
            return call_tool("look_up", {"topic": "bridge"})
        return call_tool("task_finish", {"message": "2 miles"})

    return Agent(name="Researcher", model=ScriptedModel(script), tools=[look_up])


def lead(script: Script, sub_agent: Agent | None = None, **fields: Any) -> Agent:
    """A scripted parent whose sub-agent ``researcher`` is ``sub_agent`` (a fresh one by
    default)."""
    agent = sub_agent if sub_agent is not None else researcher()
    return Agent(
        name="Lead",
        model=ScriptedModel(script),
        sub_agents={"researcher": SubAgent(agent, "Looks things up.")},
        **fields,
    )


def first_leg() -> list[Any]:
    """Delegate the task, wait for it, then ask the user (the run ends ``wait_user``)."""
    return [
        call_tool("create_sub_task", {"agent_id": "researcher", "task_description": TASK}),
        call_tool("ask_user", {"question": "Miles or kilometres?"}),
    ]


def follow_up_leg(message: str) -> Script:
    """Send ``message`` to the task, then finish quoting its reply (or the error code)."""

    def script(request: ModelRequest) -> ModelResponse:
        last = request.messages[-1]
        if not (isinstance(last, ToolMessage) and last.name == "sub_task_status"):
            return call_tool("sub_task_status", {"task_ids": ["researcher-1"], "message": message})
        body = json.loads(last.content)
        said = body["tasks"][0]["output"] if body["ok"] else body["error_code"]
        return call_tool("task_finish", {"message": f"The task says: {said}"})

    return script


def main() -> None:
    """Resume the run in ``argv[1]`` with the user's answer, send the follow-up ``argv[2]``,
    write the new state back and print what the follow-up child saw and the parent's answer."""
    state_file = Path(sys.argv[1])
    child = researcher()
    result = Runner.resume_sync(
        lead(follow_up_leg(sys.argv[2]), child),
        RunState.from_json(state_file.read_text()),
        input="kilometres",
    )
    state_file.write_text(result.to_state().to_json())
    model = child.model
    assert isinstance(model, ScriptedModel)
    seen = [{"role": m.role, "text": content_text(m.content)} for m in model.requests[0].messages]
    report = {"status": result.status.value, "final_output": result.final_output, "seen": seen}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
