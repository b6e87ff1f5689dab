"""Interactive sessions: a chat host's conversation, with steering and follow-ups.

A ``ChatSession`` keeps one conversation (in a session store) across runs. ``prompt`` starts a
run; ``steer`` reaches the run in progress before its next model call, and the tool calls of
its current batch that have not started are skipped; ``follow_up`` runs after it. One numbered
stream carries every run's events and the session's own, so a host renders from one place and
a late subscriber (a second window, a reconnecting client) replays from its last position.

Here the user asks for three health checks, changes their mind while the first one runs, and
queues a question for afterwards. A scripted model stands in for an LLM.

Run: python examples/18_interactive_session.py
"""

from __future__ import annotations

import asyncio
import json

from agentcycle import Agent, ChatSession, function_tool
from agentcycle.chat import StreamEntry
from agentcycle.events import (
    RunCompleted,
    SessionInputDelivered,
    SessionInputQueued,
    ToolCallCompleted,
)
from agentcycle.messages import ToolMessage, UserMessage, content_text
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool

ASK = "Check the api, db and cache services."
STEER = "Skip the rest, the db is down for maintenance."
FOLLOW_UP = "Which services did you skip?"


def stand_in_model(request: ModelRequest) -> ModelResponse:
    """Answers from the conversation it is shown, as an LLM would."""
    said = [content_text(m.content) for m in request.messages if isinstance(m, UserMessage)]
    if said[-1] == ASK:
        return call_tool([("check", {"service": s}) for s in ("api", "db", "cache")])
    if said[-1] == STEER:
        return call_tool("task_finish", {"message": "Checked api; stopped there as asked."})
    calls = {c.id: c for m in request.messages for c in getattr(m, "tool_calls", ())}
    skipped = [
        json.loads(calls[m.tool_call_id].arguments)["service"]
        for m in request.messages
        if isinstance(m, ToolMessage)
        and m.is_error
        and json.loads(m.content)["error_code"] == "tool_call_skipped"
    ]
    return call_tool("task_finish", {"message": f"You asked me to skip {', '.join(skipped)}."})


async def main() -> None:
    first_check_running = asyncio.Event()
    release = asyncio.Event()

    @function_tool
    async def check(service: str) -> str:
        """Check one service's health (slow: the host lets it finish once the user typed)."""
        first_check_running.set()
        await release.wait()
        return f"{service}: healthy"

    def render(entry: StreamEntry) -> None:
        """The host's view, rendered from the one stream."""
        event, at = entry.event, f"[{entry.position:>2}]"
        if isinstance(event, SessionInputQueued):
            print(f"{at} user ({event.kind}): {event.text}")
        elif isinstance(event, ToolCallCompleted):
            print(f"{at}   {event.tool_name}: {event.error_code or event.status}")
        elif isinstance(event, SessionInputDelivered) and event.delivery == "steering":
            print(f"{at}   (the steer reached the model)")
        elif isinstance(event, RunCompleted):
            print(f"{at} agent: {event.final_output}")

    agent = Agent(name="ops", model=ScriptedModel(stand_in_model), tools=[check])
    async with ChatSession(agent) as chat:
        chat.subscribe(render)
        await chat.prompt(ASK)
        await first_check_running.wait()
        await chat.steer(STEER)
        await chat.follow_up(FOLLOW_UP)
        release.set()
        result = await chat.wait_idle()
        assert result is not None
        print("follow-up answered:", result.final_output)

        # A second window joins late and catches up from position 10: no gap, no duplicate.
        replayed: list[StreamEntry] = []
        chat.subscribe(replayed.append, since=10)
        positions = [entry.position for entry in replayed]
        assert positions == list(range(11, chat.last_position + 1))
        print(f"late subscriber replayed positions 11..{positions[-1]}")
        stored = await chat.store.get_items()
        print(f"the conversation holds {len(stored)} messages in {chat.session_id!r}")


if __name__ == "__main__":
    asyncio.run(main())
