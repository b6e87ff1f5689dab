"""Pieces of the configured-sub-agent tests: scripted workers that many concurrent child runs
can share, scripted parents with sub-agents, and readers for what the parent model saw."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

from agentcycle import Agent, SubAgent, function_tool
from agentcycle.messages import AssistantMessage, Message, ToolMessage, UserMessage, content_text
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool


def last_user_text(messages: Sequence[Message]) -> str:
    """The text of the latest user message (a child's task, or a follow-up)."""
    return next(content_text(m.content) for m in reversed(messages) if isinstance(m, UserMessage))


def turn_calls(messages: Sequence[Message]) -> list[str]:
    """The tools the model called since the latest user message."""
    start = max(i for i, m in enumerate(messages) if isinstance(m, UserMessage))
    return [
        call.name
        for m in messages[start:]
        if isinstance(m, AssistantMessage)
        for call in m.tool_calls
    ]


def worker(
    name: str = "Worker",
    *,
    steps: Sequence[tuple[str, dict[str, Any]]] = (),
    answer: Callable[[Sequence[Message]], str] = lambda messages: (
        f"done: {last_user_text(messages)}"
    ),
    tools: Sequence[Any] = (),
    **fields: Any,
) -> Agent:
    """An agent whose every turn calls ``steps`` in order, then finishes with ``answer``.
    The script reads the history of each request, so concurrent child runs (which share the
    agent's model) each follow it from their own start."""

    def script(request: ModelRequest) -> ModelResponse:
        made = len(turn_calls(request.messages))
        if made < len(steps):
            tool, arguments = steps[made]
            return call_tool(tool, arguments)
        return call_tool("task_finish", {"message": answer(request.messages)})

    return Agent(name=name, model=ScriptedModel(script), tools=list(tools), **fields)


def parent(
    steps: Sequence[ModelResponse],
    sub_agents: dict[str, SubAgent],
    **fields: Any,
) -> Agent:
    """A scripted parent with ``sub_agents``."""
    return Agent(name="Lead", model=ScriptedModel(list(steps)), sub_agents=sub_agents, **fields)


def tool_results(agent: Agent, name: str) -> list[dict[str, Any]]:
    """Every result of the tool ``name`` the agent's model saw, parsed, in call order."""
    model = agent.model
    assert isinstance(model, ScriptedModel)
    messages = model.requests[-1].messages
    return [
        json.loads(m.content) for m in messages if isinstance(m, ToolMessage) and m.name == name
    ]


class Gate:
    """A tool that blocks until opened, and counts the calls waiting at it."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.entered = 0
        self._arrived = asyncio.Event()

    def tool(self) -> Any:
        gate = self

        @function_tool
        async def wait_at_gate() -> str:
            """Wait until released."""
            gate.entered += 1
            gate._arrived.set()
            await gate.opened.wait()
            return "released"

        return wait_at_gate

    async def reached(self, count: int) -> None:
        """Wait until ``count`` calls are waiting at the gate."""
        while self.entered < count:
            self._arrived.clear()
            await self._arrived.wait()
