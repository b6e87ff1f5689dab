"""A pipeline: a planner delegates research to a child agent offered as a tool.

The researcher runs as a child run of the planner's run: its events stream into the planner's
stream (with ``parent_run_id`` set) between ``sub_run_started`` and ``sub_run_completed``, its
final output is the tool's result, and its usage is part of the planner's.

Run: python examples/09_agent_as_tool.py
"""

from __future__ import annotations

import asyncio

from agentcycle import Agent, Runner, function_tool
from agentcycle.messages import TokenUsage
from agentcycle.testing import ScriptedModel, call_tool

SHOWN = {
    "run_started",
    "tool_call_started",
    "sub_run_started",
    "sub_run_completed",
    "run_completed",
}


@function_tool
def search_docs(query: str) -> str:
    """Search the product documentation."""
    return "Exports run nightly at 02:00 UTC; retention is 30 days."


async def main() -> None:
    researcher = Agent(
        name="Researcher",
        instructions="Answer questions from the documentation.",
        model=ScriptedModel(
            [
                call_tool("search_docs", {"query": "export schedule"}, usage=TokenUsage.of(50, 8)),
                call_tool(
                    "task_finish",
                    {"message": "Exports run nightly at 02:00 UTC."},
                    usage=TokenUsage.of(70, 12),
                ),
            ]
        ),
        tools=[search_docs],
    )
    planner = Agent(
        name="Planner",
        instructions="Plan the work; delegate research.",
        model=ScriptedModel(
            [
                call_tool(
                    "researcher",
                    {
                        "task_description": "When do data exports run?",
                        "output_requirements": "One sentence with the time and time zone.",
                    },
                    usage=TokenUsage.of(120, 20),
                ),
                call_tool(
                    "task_finish",
                    {"message": "Plan: schedule the migration after the 02:00 UTC export."},
                    usage=TokenUsage.of(160, 18),
                ),
            ]
        ),
        tools=[researcher.as_tool(description="Ask the researcher a documentation question.")],
    )
    handle = await Runner.start(planner, "Plan the database migration.")
    async for event in handle.events():
        if event.type in SHOWN:  # child events carry parent_run_id: indent them
            indent = "    " if event.parent_run_id else ""
            detail = getattr(event, "tool_name", None) or getattr(event, "child_agent_name", "")
            print(f"{indent}{event.agent_name}: {event.type} {detail}".rstrip())
    result = await handle.result()
    child_tokens = sum(
        call.usage.total_tokens or 0 for call in result.model_calls if call.run_id is not None
    )
    print("final:", result.final_output)
    print(f"tokens: {result.usage.total_tokens} in all, {child_tokens} by the researcher")


if __name__ == "__main__":
    asyncio.run(main())
