"""One agent turn that waits at a rendezvous, and a check that stored turns are whole.

The rendezvous tool holds every concurrent run mid-turn until all of them got there, so their
appends race for real. Used in-process (threads, tasks) and by ``session_worker.py``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from agentcycle import Agent
from agentcycle.messages import AssistantMessage, Message, ToolMessage, UserMessage
from agentcycle.testing import ScriptedModel, call_tool

TURN_LENGTH = 5  # input, rendezvous call, its result, task_finish call, its result


def rendezvous_agent(worker: int, wait: Callable[[], Any]) -> Agent:
    """An agent whose run calls ``rendezvous`` (which runs ``wait``) and then finishes."""

    async def rendezvous(worker: int) -> str:
        """Wait until every concurrent run reached this point.

        Args:
            worker: The calling worker's number.
        """
        outcome = wait()
        if inspect.isawaitable(outcome):
            await outcome
        return f"worker {worker} released"

    model = ScriptedModel(
        [
            call_tool("rendezvous", {"worker": worker}),
            call_tool("task_finish", {"message": f"done {worker}"}),
        ]
    )
    return Agent(name=f"worker-{worker}", model=model, tools=[rendezvous])


def worker_input(worker: int) -> str:
    """The user input of worker ``worker``'s run."""
    return f"task {worker}"


def workers_in(items: list[Message]) -> list[int]:
    """The worker of each stored turn, in order, asserting each turn is whole and unmixed."""
    assert len(items) % TURN_LENGTH == 0, f"{len(items)} items are not whole turns"
    workers = []
    for start in range(0, len(items), TURN_LENGTH):
        user, call, result, finish, finished = items[start : start + TURN_LENGTH]
        assert isinstance(user, UserMessage), user
        worker = int(str(user.content).removeprefix("task "))
        assert isinstance(call, AssistantMessage) and call.tool_calls[0].name == "rendezvous"
        assert json.loads(call.tool_calls[0].arguments) == {"worker": worker}
        assert isinstance(result, ToolMessage) and result.content == f"worker {worker} released"
        assert isinstance(finish, AssistantMessage)
        assert json.loads(finish.tool_calls[0].arguments)["message"] == f"done {worker}"
        assert isinstance(finished, ToolMessage) and finished.name == "task_finish"
        workers.append(worker)
    return workers
