"""A lead agent fans work out to a configured sub-agent in the background, polls, then collects.

``Agent(sub_agents={...})`` gives the lead ``create_sub_task`` and ``sub_task_status``. The lead
starts three independent lookups as one batch without waiting (each a child run of its own, run
in parallel), takes a snapshot after a short bounded wait (they are still working), waits for
all of them, and writes its answer from their outputs. ``RunResult.sub_tasks`` keeps the record
of every task.

Run: python examples/11_sub_tasks.py
"""

from __future__ import annotations

import asyncio
import json

from agentcycle import Agent, Runner, SubAgent, function_tool
from agentcycle.events import SubRunCompleted, SubRunStarted, ToolCallCompleted
from agentcycle.messages import ToolMessage, UserMessage, content_text
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool

FACTS = {
    "Lisbon": "Lisbon: 2,800 hours of sun a year",
    "Oslo": "Oslo: 1,700 hours of sun a year",
    "Madrid": "Madrid: 2,700 hours of sun a year",
}
CITIES = list(FACTS)
TASK_IDS = [f"researcher-{n}" for n in range(1, len(CITIES) + 1)]


@function_tool
async def climate_data(city: str) -> str:
    """Yearly sunshine for a city."""
    await asyncio.sleep(0.2)  # a slow data source: the three lookups overlap
    return FACTS[city]


def researcher_script(request: ModelRequest) -> ModelResponse:
    """Each child run looks its city up once, then finishes with what the tool said. The script
    reads the request's history, so the concurrent child runs can share one model."""
    messages = request.messages
    looked_up = [m for m in messages if isinstance(m, ToolMessage)]
    if not looked_up:
        task = next(content_text(m.content) for m in messages if isinstance(m, UserMessage))
        city = next(c for c in CITIES if c in task)
        return call_tool("climate_data", {"city": city})
    return call_tool("task_finish", {"message": content_text(looked_up[-1].content)})


def lead_script(request: ModelRequest) -> ModelResponse:
    """Start the batch in the background, peek at it, wait for it, answer from its outputs:
    one step per tool result the lead has seen so far."""
    results = [m for m in request.messages if isinstance(m, ToolMessage)]
    if not results:
        tasks = [
            {"task_description": f"How sunny is {city}?", "output_requirements": "hours"}
            for city in CITIES
        ]
        return call_tool(
            "create_sub_task",
            {"agent_id": "researcher", "tasks": tasks, "wait_for_completion": False},
            text="Three independent lookups: run them in parallel.",
        )
    if len(results) == 1:
        return call_tool(  # a short bounded wait: they are still working after it
            "sub_task_status",
            {
                "task_ids": TASK_IDS,
                "detail_level": "snapshot",
                "wait_for_completion": True,
                "max_wait_seconds": 0.1,
            },
        )
    if len(results) == 2:
        return call_tool(
            "sub_task_status",
            {"task_ids": TASK_IDS, "wait_for_completion": True, "max_wait_seconds": 30},
        )
    outputs = [t["output"] for t in json.loads(content_text(results[-1].content))["tasks"]]
    sunniest = max(outputs, key=lambda text: int(text.split(": ")[1].split()[0].replace(",", "")))
    return call_tool("task_finish", {"message": f"Sunniest: {sunniest.split(':')[0]}."})


async def main() -> None:
    researcher = Agent(
        name="Researcher",
        instructions="Look the answer up with climate_data.",
        model=ScriptedModel(researcher_script),
        tools=[climate_data],
    )
    lead = Agent(
        name="Lead",
        instructions="Split research into independent sub-tasks and combine the results.",
        model=ScriptedModel(lead_script),
        sub_agents={"researcher": SubAgent(researcher, "Looks up climate facts for one city.")},
    )
    handle = await Runner.start(lead, "Which of Lisbon, Oslo and Madrid gets the most sun?")
    async for event in handle.events():
        if isinstance(event, SubRunStarted):
            print(f"  {event.task_id} started as child run {event.child_run_id}")
        elif isinstance(event, SubRunCompleted):
            print(f"  {event.task_id} ended {event.status}")
        elif isinstance(event, ToolCallCompleted) and event.parent_run_id is None:
            print(f"lead: {event.tool_name} -> {event.status}")
    result = await handle.result()
    polls = [
        m for m in result.messages if isinstance(m, ToolMessage) and m.name == "sub_task_status"
    ]
    for label, poll in zip(("first poll", "after waiting"), polls, strict=True):
        tasks = json.loads(content_text(poll.content))["tasks"]
        print(f"{label}:", ", ".join(f"{t['task_id']} {t['status']}" for t in tasks))
        for task in tasks:
            for call in task.get("snapshot", {}).get("recent_activity", []):
                print(f"  {task['task_id']}: {call['tool']}{call['arguments']} {call['result']}")
    for task in result.sub_tasks:
        print(f"{task.task_id} [{task.status}] {task.final_output}")
    print("final:", result.final_output)


if __name__ == "__main__":
    asyncio.run(main())
