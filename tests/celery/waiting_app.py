"""The agent factory of the waiting-run tests (the workers and the test build the same agent).

``mode`` ``ask`` (the default): the run asks which environment to deploy to, then finishes
with the answer it was given. ``approve``: the run calls ``deploy``, which needs approval, and
finishes with what the call returned (or that it was denied)."""

from __future__ import annotations

import json
from typing import Any

from agentcycle import Agent, function_tool
from agentcycle.messages import ToolMessage, UserMessage, content_text
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool

QUESTION = "Which environment?"


@function_tool(needs_approval=True, run_in_thread=False)
def deploy(target: str) -> str:
    """Deploy the service to ``target``."""
    return f"deployed to {target}"


def _ask(request: ModelRequest) -> ModelResponse:
    said = [content_text(m.content) for m in request.messages if isinstance(m, UserMessage)]
    if len(said) < 2:  # only the task so far: ask
        return call_tool("ask_user", {"question": QUESTION})
    return call_tool("task_finish", {"message": f"deploying to {said[-1]}; heard {len(said)}"})


def _approve(request: ModelRequest) -> ModelResponse:
    results = [m for m in request.messages if isinstance(m, ToolMessage)]
    if not results:
        return call_tool("deploy", {"target": "staging"})
    content = content_text(results[-1].content)
    outcome = content if not content.startswith("{") else json.loads(content)["error_code"]
    return call_tool("task_finish", {"message": outcome})


def agent(metadata: dict[str, Any]) -> Agent:
    """The run's agent for its ``mode``."""
    if metadata.get("mode") == "approve":
        model = ScriptedModel(_approve, record_requests=False)
        return Agent(model=model, tools=[deploy], max_cycles=4)
    return Agent(model=ScriptedModel(_ask, record_requests=False), max_cycles=4)
