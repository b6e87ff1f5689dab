"""Render a run live from its typed event stream.

Every front door (SDK, CLI, app server) consumes this same stream.

Run: python examples/03_streaming_events.py
"""

from __future__ import annotations

import asyncio

from agentcycle import Agent, Runner
from agentcycle.events import AssistantDelta, RunCompleted, ToolCallCompleted, ToolCallStarted
from agentcycle.testing import ScriptedModel, call_tool

PLAN = {
    "todos": [
        {"title": "Collect requirements", "status": "completed", "priority": "high"},
        {"title": "Draft the answer", "status": "completed", "priority": "medium"},
    ]
}


async def main() -> None:
    model = ScriptedModel(
        [
            call_tool("todo_write", PLAN, text="Planning the work. "),
            call_tool("task_finish", {"message": "Plan done."}, text="Wrapping up."),
        ],
        stream_chunk_chars=5,  # stream text in small pieces, like a real provider
    )
    async for event in Runner.stream(Agent(model=model), "Plan the release"):
        if isinstance(event, AssistantDelta):
            print(event.delta, end="", flush=True)
        elif isinstance(event, ToolCallStarted):
            print(f"\n[{event.seq}] calling {event.tool_name}")
        elif isinstance(event, ToolCallCompleted):
            print(f"[{event.seq}] {event.tool_name} -> {event.status} in {event.duration_ms} ms")
        elif isinstance(event, RunCompleted):
            print(f"[{event.seq}] run {event.status.value}: {event.final_output}")


if __name__ == "__main__":
    asyncio.run(main())
