"""A long scripted run on a small context window: compaction keeps it alive, keeps the pinned
content and records everything it removed."""

from __future__ import annotations

import json
from typing import Any

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.events import RunEvent, parse_event
from agentcycle.memory.compaction import MEMORY_NOTE_PREFIX, is_memory_note
from agentcycle.memory.policy import MemoryPolicy, context_budget
from agentcycle.memory.tokens import TokenEstimator
from agentcycle.messages import Message, SystemMessage, ToolMessage, UserMessage, content_text
from agentcycle.models.base import ModelInfo, ModelRequest, ModelResponse
from agentcycle.state import RunState
from agentcycle.testing import ScriptedModel, call_tool, reply
from agentcycle.workspace.memory import MemoryWorkspaceBackend

CYCLES = 300
WINDOW = 16_000
REQUEST = "Fetch every page and keep notes in notes.md."
STEER = "Also mention page 150 in the final report."
TODO_TITLE = "Fetch all pages"
NOTES = "# Notes\nPages fetched so far look consistent.\n"


def page(n: int) -> str:
    return f"page {n}: " + " ".join(f"word{n}_{i}" for i in range(250))


@function_tool(run_in_thread=False)
def fetch(n: int) -> str:
    """Fetch one page."""
    return page(n)


class Script:
    """The model: a plan, a file write, many fetches, a summary whenever asked, a finish."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.final: list[Message] = []
        self.summaries = 0
        self.fetch_ids: list[str] = []

    def __call__(self, request: ModelRequest) -> ModelResponse:
        if request.operation == "memory_compaction":
            self.summaries += 1
            return reply(f"Summary {self.summaries}: pages were fetched; notes.md was written.")
        index = request.cycle_index or 0
        if index == 1:
            todo = {"title": TODO_TITLE, "status": "in_progress", "priority": "high"}
            return call_tool("todo_write", {"todos": [todo]})
        if index == 2:
            return call_tool("write_file", {"path": "notes.md", "content": NOTES})
        if index == CYCLES:
            self.final = list(request.messages)
            args = {"message": "done", "require_all_todos_completed": False}
            return call_tool("task_finish", args)
        if index == 150:
            self.handle.steer(STEER)
        response = call_tool("fetch", {"n": index})
        self.fetch_ids.append(response.tool_calls[0].id)
        return response


async def test_300_cycles_on_a_small_window_keep_pinned_content_and_account_for_removals() -> None:
    script = Script()
    model = ScriptedModel(script, context_length=WINDOW, max_output_tokens=2_000)
    workspace = MemoryWorkspaceBackend()
    agent = Agent(model=model, tools=[fetch], max_cycles=CYCLES)
    handle = await Runner.start(agent, REQUEST, config=RunConfig(workspace=workspace))
    script.handle = handle
    result = await handle.result()
    events = [e async for e in handle.events()]
    assert result.completed, result.error

    # The fetched output adds up to several times the window.
    estimator = TokenEstimator()
    fetched = sum(estimator.text(page(n)) for n in range(3, CYCLES))
    assert fetched > 5 * WINDOW

    final = script.final
    # Pinned: system prompt, original request, latest user message, TODO list, modified file.
    assert final[0] == result.state.spec.initial_messages[0]
    assert isinstance(final[0], SystemMessage)
    people = [m for m in final if isinstance(m, UserMessage) and not m.synthetic]
    assert people[0].content == REQUEST
    assert people[-1].content == STEER
    notes = [m for m in final if is_memory_note(m)]
    assert len(notes) == 1
    note = content_text(notes[0].content)
    assert note.startswith(MEMORY_NOTE_PREFIX)
    assert TODO_TITLE in note and "in_progress" in note
    assert "notes.md" in note and "Pages fetched so far look consistent." in note
    assert f"Summary {script.summaries}:" in note

    # The final request fits the budget the policy derives from the model.
    budget = context_budget(MemoryPolicy(), ModelInfo(WINDOW, 2_000), agent_settings(result))
    assert budget is not None
    tools = estimator.tools(model.requests[-1].request.tools)
    assert sum(estimator.message(m) for m in final) + tools <= budget.input_limit

    # Every fetched result is either still in full in the final request, or on record.
    completed = [e for e in events if e.type == "memory_compact_completed"]
    started = [e for e in events if e.type == "memory_compact_started"]
    assert len(started) == len(completed) >= 5
    assert {e.mode for e in completed} >= {"micro", "summary"}
    recorded = records_by_call(completed)
    in_final = {m.tool_call_id: m for m in final if isinstance(m, ToolMessage)}
    for n, call_id in enumerate(script.fetch_ids, start=3):
        kept = in_final.get(call_id)
        if kept is not None and kept.content == page(n):
            continue
        assert call_id in recorded, f"page {n} left the context without a record"
        if kept is not None:  # archived in place: the marker names the artifact
            archived = recorded[call_id]
            assert archived["stage"] == "micro"
            path = archived["artifact"]
            assert path in content_text(kept.content)
            assert await workspace.read_text(path) == page(n)

    # Events account for the tokens they reclaimed and survive a JSON round trip; summaries
    # were metered model calls.
    for e in [*started, *completed]:
        assert parse_event(json.loads(json.dumps(e.to_dict()))) == e
    for e in completed:
        assert e.reclaimed_tokens == e.tokens_before - e.tokens_after
        assert e.before_count >= 1 and e.after_count >= 1
    summary_calls = [c for c in result.model_calls if c.operation == "memory_compaction"]
    assert len(summary_calls) == script.summaries >= 1
    ops = [e.operation for e in events if e.type == "model_call_started"]
    assert ops.count("memory_compaction") == script.summaries

    # The run state holds the compacted history, so a resumed run sees what the model saw.
    restored = RunState.from_json(result.state.to_json())
    assert restored.messages() == result.messages
    assert restored.message_count() == len(result.messages)


def agent_settings(result: Any) -> Any:
    return result.state.spec.model_settings


def records_by_call(completed: list[RunEvent]) -> dict[str, dict[str, Any]]:
    """tool_call_id -> the record that archived or dropped it (the first one)."""
    found: dict[str, dict[str, Any]] = {}
    for event in completed:
        for record in getattr(event, "dropped", []):
            if "tool_call_id" in record:
                found.setdefault(record["tool_call_id"], record)
            for call_id in record.get("tool_call_ids", []):
                found.setdefault(call_id, record)
    return found
