"""Session memory in whole runs: opt-in, extraction metered and stored, notes loaded by the next
run, failures contained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.errors import ConfigurationError, ModelError
from agentcycle.events import parse_event
from agentcycle.memory import (
    InMemorySessionMemoryStore,
    MemoryPolicy,
    SessionMemory,
    SessionNote,
)
from agentcycle.messages import SystemMessage, TokenUsage
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.sessions import MemorySession
from agentcycle.testing import ScriptedModel, call_tool, reply

NOTES = {
    "user_intent": ["Ship the billing report by Friday"],
    "decisions": ["Use CSV, not Excel, for the export"],
    "file_changes": ["report.py: added the monthly totals"],
    "error_fixes": ["KeyError on 'amount' fixed by defaulting to 0"],
    "key_facts": ["The billing database is billing-prod-2"],
}
EXTRACTION_USAGE = TokenUsage.of(300, 40)
CYCLE_USAGE = TokenUsage.of(100, 10)


@function_tool(run_in_thread=False)
def fetch(n: int) -> str:
    """Fetch one page."""
    return f"page {n}: " + " ".join(f"word{n}_{i}" for i in range(200))


def model(
    cycles: int = 1, *, notes: Any = NOTES, fail_extraction: Exception | None = None
) -> ScriptedModel:
    """Fetches until cycle ``cycles``, then finishes; extraction calls answer ``notes`` (a dict
    as JSON, or a string as is) or raise ``fail_extraction``."""

    def step(request: ModelRequest) -> ModelResponse:
        if request.operation == "session_memory":
            if fail_extraction is not None:
                raise fail_extraction
            text = notes if isinstance(notes, str) else json.dumps(notes)
            return reply(text, usage=EXTRACTION_USAGE)
        index = request.cycle_index or 0
        if index < cycles:
            return call_tool("fetch", {"n": index}, usage=CYCLE_USAGE)
        return call_tool("task_finish", {"message": "done"}, usage=CYCLE_USAGE)

    return ScriptedModel(step)


def on(**settings: Any) -> MemoryPolicy:
    return MemoryPolicy(session_memory=SessionMemory(**settings))


async def run(
    scripted: ScriptedModel, session: MemorySession, memory: MemoryPolicy | None, **config: Any
) -> tuple[Any, list[Any]]:
    agent = Agent(model=scripted, tools=[fetch], max_cycles=30)
    handle = await Runner.start(
        agent,
        "Prepare the billing report",
        config=RunConfig(session=session, memory=memory, **config),
    )
    result = await handle.result()
    return result, [e async for e in handle.events()]


def extraction_calls(scripted: ScriptedModel) -> list[ModelRequest]:
    return [r.request for r in scripted.requests if r.request.operation == "session_memory"]


async def test_session_memory_is_off_by_default(tmp_path: Path) -> None:
    scripted = model(3)
    result, events = await run(scripted, MemorySession("s1"), None, workspace=tmp_path)
    assert result.completed
    assert extraction_calls(scripted) == []
    assert all(c.operation == "agent_cycle" for c in result.model_calls)
    assert not any(e.type == "session_memory_updated" for e in events)
    assert not (tmp_path / ".agentcycle" / "memory").exists()


async def test_notes_are_extracted_at_the_end_metered_and_stored_in_the_workspace(
    tmp_path: Path,
) -> None:
    scripted = model(3)
    result, events = await run(scripted, MemorySession("s1"), on(), workspace=tmp_path)
    assert result.completed

    [request] = extraction_calls(scripted)
    transcript = request.messages[-1].content
    assert "Prepare the billing report" in transcript and "page 2: word2_0" in transcript
    assert request.tools == () and request.settings.max_tokens == 1_000

    # Metered: its own model call record, counted in the run's usage, with the usual events.
    [record] = [c for c in result.model_calls if c.operation == "session_memory"]
    assert record.usage == EXTRACTION_USAGE
    assert result.usage.input_tokens == 3 * 100 + 300
    assert result.usage.output_tokens == 3 * 10 + 40
    calls = [
        e for e in events if e.type.startswith("model_call") and e.operation == "session_memory"
    ]
    assert [e.type for e in calls] == ["model_call_started", "model_call_completed"]
    assert calls[1].usage == EXTRACTION_USAGE

    [updated] = [e for e in events if e.type == "session_memory_updated"]
    assert updated.trigger == "run_end"
    assert updated.added == {
        "user_intent": 1,
        "decision": 1,
        "file_change": 1,
        "error_fix": 1,
        "key_fact": 1,
    }
    assert (updated.dropped, updated.total) == (0, 5)
    # Stored before the turn is persisted, which comes before the terminal event.
    types = [e.type for e in events]
    assert types.index("session_memory_updated") < types.index("session_persisted")
    assert parse_event(json.loads(json.dumps(updated.to_dict()))) == updated

    document = json.loads((tmp_path / ".agentcycle/memory/s1.json").read_text())
    assert document["session_id"] == "s1"
    assert [n["text"] for n in document["notes"]] == [v[0] for v in NOTES.values()]
    assert {n["run_id"] for n in document["notes"]} == {result.run_id}


async def test_the_next_run_starts_with_the_notes_in_its_system_prompt(tmp_path: Path) -> None:
    session = MemorySession("s1")
    await run(model(2), session, on(), workspace=tmp_path)

    follow_up = ScriptedModel([call_tool("task_finish", {"message": "ok"})])
    result = await Runner.run(
        Agent(model=follow_up),
        "What did we decide?",
        config=RunConfig(session=session, memory=on(extract_at_end=False), workspace=tmp_path),
    )
    assert result.completed
    system = follow_up.requests[0].messages[0]
    assert isinstance(system, SystemMessage)
    assert "## Session memory" in system.content
    for values in NOTES.values():
        assert values[0] in system.content
    assert system.content.index("### User intent") < system.content.index("### Key facts")
    # Loaded once: the system prompt is the same message for every call of the run.
    assert follow_up.calls == 1 and extraction_calls(follow_up) == []


async def test_a_growing_conversation_is_extracted_during_the_run() -> None:
    store = InMemorySessionMemoryStore()
    scripted = model(12)
    result, events = await run(
        scripted, MemorySession("s1"), on(store=store, extract_after_tokens=1_500)
    )
    assert result.completed
    updates = [e for e in events if e.type == "session_memory_updated"]
    assert len(updates) >= 3
    assert {e.trigger for e in updates[:-1]} == {"threshold"}
    assert updates[0].cycle_index < result.cycles
    # Each extraction sees only what was added since the previous one.
    transcripts = [r.messages[-1].content for r in extraction_calls(scripted)]
    assert "Prepare the billing report" in transcripts[0]
    assert "Prepare the billing report" not in transcripts[1]
    assert "page 1: " in transcripts[0] and "page 1: " not in transcripts[1]
    # The same notes again add nothing: the store holds each note once.
    assert len(await store.load("s1")) == 5
    assert all(e.added == {} for e in updates[1:])


async def test_the_existing_notes_go_to_the_extraction_call() -> None:
    store = InMemorySessionMemoryStore()
    note = SessionNote(category="key_fact", text="The staging host is stage-7", created_at=1.0)
    await store.add("s1", [note], max_notes=10)
    scripted = model(2)
    await run(scripted, MemorySession("s1"), on(store=store))
    [request] = extraction_calls(scripted)
    assert "The staging host is stage-7" in request.messages[-1].content


async def test_the_store_keeps_the_newest_notes_and_the_prompt_section_is_bounded() -> None:
    store = InMemorySessionMemoryStore()
    session = MemorySession("s1")
    for batch in range(4):
        notes = {"key_facts": [f"fact {batch}-{i} " + "x" * 60 for i in range(3)]}
        _, events = await run(model(2, notes=notes), session, on(store=store, max_notes=5))
        [updated] = [e for e in events if e.type == "session_memory_updated"]
        assert updated.total == min(5, 3 * (batch + 1))
    assert updated.dropped == 3
    kept = [n.text.split()[1] for n in await store.load("s1")]
    assert kept == ["2-1", "2-2", "3-0", "3-1", "3-2"]

    follow_up = ScriptedModel([call_tool("task_finish", {"message": "ok"})])
    memory = on(store=store, prompt_chars=250, extract_at_end=False)
    await Runner.run(
        Agent(model=follow_up), "next", config=RunConfig(session=session, memory=memory)
    )
    system = follow_up.requests[0].messages[0].content
    section = system[system.index("## Session memory") :]
    assert len(section) <= 250
    assert "fact 3-2" in section and "fact 2-1" not in section  # newest first


async def test_a_malformed_extraction_is_reported_and_stores_nothing(tmp_path: Path) -> None:
    for answer in (
        "Here are the notes: user wants a report",
        json.dumps(["a list", "not an object"]),
        json.dumps({"decisions": "one string, not a list"}),
        json.dumps({"decisions": [], "mood": ["an unknown key"]}),
    ):
        session = MemorySession("s1")
        result, events = await run(model(2, notes=answer), session, on(), workspace=tmp_path)
        assert result.completed
        [diagnostic] = [e for e in events if e.type == "diagnostic"]
        assert diagnostic.code == "session_memory_failed" and diagnostic.level == "warning"
        assert diagnostic.details["stage"] == "parse"
        assert diagnostic.details["error_code"] == "invalid_notes_extraction"
        assert not any(e.type == "session_memory_updated" for e in events)
        assert not (tmp_path / ".agentcycle/memory/s1.json").exists()
        # The call happened and is paid for all the same.
        assert any(c.operation == "session_memory" for c in result.model_calls)
        assert await session.get_items()  # the turn itself is stored as usual


async def test_an_extraction_in_a_code_fence_is_accepted() -> None:
    store = InMemorySessionMemoryStore()
    fenced = "```json\n" + json.dumps({"key_facts": ["fenced fact"]}) + "\n```"
    result, _ = await run(model(2, notes=fenced), MemorySession("s1"), on(store=store))
    assert result.completed
    assert [n.text for n in await store.load("s1")] == ["fenced fact"]


async def test_a_failing_extraction_call_is_reported_and_the_run_completes() -> None:
    store = InMemorySessionMemoryStore()
    error = ModelError("upstream down", code="provider_unavailable")
    result, events = await run(
        model(2, fail_extraction=error), MemorySession("s1"), on(store=store)
    )
    assert result.completed
    failed = [e for e in events if e.type == "model_call_failed"]
    assert [e.operation for e in failed] == ["session_memory"]
    [diagnostic] = [e for e in events if e.type == "diagnostic"]
    assert diagnostic.details["stage"] == "call"
    assert diagnostic.details["error_code"] == "provider_unavailable"
    assert await store.load("s1") == []


async def test_a_corrupt_notes_file_is_reported_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / ".agentcycle/memory/s1.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    result, events = await run(model(2), MemorySession("s1"), on(), workspace=tmp_path)
    assert result.completed
    codes = [(e.code, e.details.get("error_code")) for e in events if e.type == "diagnostic"]
    # At start the section cannot be loaded; at the end the notes cannot be merged.
    assert ("context_provider_failed", None) in codes
    assert ("session_memory_failed", "session_memory_corrupt") in codes
    assert path.read_text() == "{not json"


async def test_a_failed_run_extracts_nothing() -> None:
    store = InMemorySessionMemoryStore()
    scripted = ScriptedModel([call_tool("fetch", {"n": 1}), ModelError("boom", code="bad")])
    agent = Agent(model=scripted, tools=[fetch])
    config = RunConfig(session=MemorySession("s1"), memory=on(store=store, end_min_tokens=0))
    result = await Runner.run(agent, "go", config=config)
    assert result.error is not None
    assert extraction_calls(scripted) == []


async def test_a_tiny_exchange_below_the_end_minimum_is_not_extracted() -> None:
    scripted = ScriptedModel([call_tool("task_finish", {"message": "hi"})])
    config = RunConfig(
        session=MemorySession("s1"),
        memory=on(store=InMemorySessionMemoryStore(), end_min_tokens=500),
    )
    result = await Runner.run(Agent(model=scripted), "hi", config=config)
    assert result.completed and scripted.calls == 1


async def test_without_a_session_it_is_inactive_and_says_so() -> None:
    scripted = model(2)
    handle = await Runner.start(
        Agent(model=scripted, tools=[fetch]), "go", config=RunConfig(memory=on())
    )
    result = await handle.result()
    assert result.completed and extraction_calls(scripted) == []
    diagnostics = [e async for e in handle.events() if e.type == "diagnostic"]
    assert [d.code for d in diagnostics] == ["session_memory_inactive"]


async def test_a_session_without_a_workspace_or_store_is_a_configuration_error() -> None:
    config = RunConfig(session=MemorySession("s1"), memory=on())
    with pytest.raises(ConfigurationError, match="session memory needs a store"):
        await Runner.run(Agent(model=model(1)), "go", config=config)


def test_settings_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="extract_after_tokens"):
        SessionMemory(extract_after_tokens=0)
    with pytest.raises(ConfigurationError, match="end_min_tokens"):
        SessionMemory(end_min_tokens=-1)
