"""A run that compacts its context still stores its whole conversation in its session."""

from __future__ import annotations

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.messages import AssistantMessage, SystemMessage, ToolMessage, UserMessage
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.sessions import MemorySession
from agentcycle.testing import ScriptedModel, call_tool, reply

CYCLES = 40


@function_tool(run_in_thread=False)
def fetch(n: int) -> str:
    """Fetch one page."""
    return f"page {n}: " + " ".join(f"word{n}_{i}" for i in range(300))


def script(request: ModelRequest) -> ModelResponse:
    if request.operation == "memory_compaction":
        return reply("Summary: pages were fetched.")
    index = request.cycle_index or 0
    if index == CYCLES:
        return call_tool("task_finish", {"message": "all fetched"})
    return call_tool("fetch", {"n": index})


async def test_the_session_gets_every_message_even_after_compaction() -> None:
    session = MemorySession("s1")
    model = ScriptedModel(script, context_length=6_000, max_output_tokens=1_000)
    agent = Agent(model=model, tools=[fetch], max_cycles=CYCLES)
    result = await Runner.run(agent, "fetch them all", config=RunConfig(session=session))
    assert result.completed, result.error
    assert any(c.compaction is not None for c in result.state.cycles)  # it did compact

    stored = await session.get_items()
    assert not any(isinstance(m, SystemMessage) for m in stored)
    assert isinstance(stored[0], UserMessage) and stored[0].content == "fetch them all"
    fetched = [m for m in stored if isinstance(m, ToolMessage) and m.name == "fetch"]
    assert len(fetched) == CYCLES - 1  # none replaced by a compaction marker
    assert all(m.content.startswith(f"page {i + 1}: ") for i, m in enumerate(fetched))
    calls = [c.id for m in stored if isinstance(m, AssistantMessage) for c in m.tool_calls]
    assert calls == [m.tool_call_id for m in stored if isinstance(m, ToolMessage)]

    # The next run on the session starts from the stored conversation, not the compacted one.
    follow_up = ScriptedModel([call_tool("task_finish", {"message": "ok"})])
    await Runner.run(Agent(model=follow_up), "and now?", config=RunConfig(session=session))
    seen = follow_up.requests[0].messages
    assert sum(isinstance(m, ToolMessage) for m in seen) == CYCLES
