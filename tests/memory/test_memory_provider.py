"""Memory providers in whole runs: recall at start, compaction notifications, saved notes,
contained failures."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.errors import ConfigurationError
from agentcycle.memory import (
    CompactionNotice,
    CompactionRecord,
    InMemorySessionMemoryStore,
    MemoryItem,
    MemoryPolicy,
    SessionMemory,
)
from agentcycle.memory.compaction import is_memory_note
from agentcycle.messages import SystemMessage, ToolMessage
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.sessions import MemorySession
from agentcycle.state import RunState
from agentcycle.testing import ScriptedModel, call_tool, reply

FINISH = call_tool("task_finish", {"message": "done"})


class Recorder:
    """A provider that returns fixed items and records every call."""

    name = "notebook"

    def __init__(self, items: Sequence[MemoryItem] = (), fail: set[str] | None = None) -> None:
        self.items = list(items)
        self.fail = fail or set()
        self.searches: list[tuple[str, int]] = []
        self.saved: list[MemoryItem] = []
        self.notices: list[CompactionNotice] = []
        self.records: list[CompactionRecord] = []

    def _maybe_fail(self, operation: str) -> None:
        if operation in self.fail:
            raise RuntimeError(f"{operation} is down")

    async def search(self, query: str, limit: int) -> list[MemoryItem]:
        self.searches.append((query, limit))
        self._maybe_fail("search")
        return self.items[:limit]

    async def save(self, items: Sequence[MemoryItem]) -> None:
        self._maybe_fail("save")
        self.saved.extend(items)

    async def before_compaction(self, notice: CompactionNotice) -> None:
        self.notices.append(notice)
        self._maybe_fail("before_compaction")

    async def after_compaction(self, record: CompactionRecord) -> None:
        self.records.append(record)
        self._maybe_fail("after_compaction")


@function_tool(run_in_thread=False)
def fetch(n: int) -> str:
    """Fetch one page."""
    return f"page {n}: " + " ".join(f"word{n}_{i}" for i in range(300))


def fetching(cycles: int) -> Any:
    def step(request: ModelRequest) -> ModelResponse:
        if request.operation == "memory_compaction":
            return reply("Summary: pages were fetched.")
        if request.operation == "session_memory":
            return reply(json.dumps({"decisions": ["fetch every page"], "key_facts": ["40 pages"]}))
        index = request.cycle_index or 0
        return call_tool("fetch", {"n": index}) if index < cycles else FINISH

    return step


def system_prompt(model: ScriptedModel) -> str:
    system = model.requests[0].messages[0]
    assert isinstance(system, SystemMessage)
    return system.content


async def events_of(handle: Any, kind: str) -> list[Any]:
    return [e async for e in handle.events() if e.type == kind]


async def test_recalled_items_are_in_the_system_prompt() -> None:
    items = [
        MemoryItem("The customer prefers email over phone calls."),
        MemoryItem("Refunds above 100 need a manager", kind="policy"),
    ]
    provider = Recorder(items)
    model = ScriptedModel([FINISH])
    result = await Runner.run(
        Agent(model=model, instructions="Help the customer.", memory_providers=[provider]),
        "How should I contact the customer?",
    )
    assert result.completed
    assert provider.searches == [("How should I contact the customer?", 5)]
    prompt = system_prompt(model)
    section = prompt[prompt.index("## Recalled memory (notebook)") :]
    assert "- The customer prefers email over phone calls." in section
    assert "- [policy] Refunds above 100 need a manager" in section
    assert prompt.index("Help the customer.") < prompt.index("## Recalled memory")


async def test_recall_is_bounded_by_the_policy() -> None:
    provider = Recorder([MemoryItem(f"item {i} " + "z" * 100) for i in range(20)])
    model = ScriptedModel([FINISH])
    memory = MemoryPolicy(recall_limit=8, recall_chars=400)
    await Runner.run(
        Agent(model=model),
        "go",
        config=RunConfig(memory_providers=[provider], memory=memory),
    )
    assert provider.searches == [("go", 8)]
    prompt = system_prompt(model)
    section = prompt[prompt.index("## Recalled memory") :]
    assert len(section) <= 400
    assert "item 0 " in section and "item 7 " not in section


async def test_providers_from_agent_runner_and_run_add_up_in_that_order() -> None:
    first, second, third = (
        Recorder([MemoryItem("one")]),
        Recorder([MemoryItem("two")]),
        Recorder([MemoryItem("three")]),
    )
    first.name, second.name, third.name = "first", "second", "third"
    model = ScriptedModel([FINISH])
    runner = Runner(RunConfig(memory_providers=[second]))
    await runner.run(
        Agent(model=model, memory_providers=[first]),
        "go",
        config=RunConfig(memory_providers=[third]),
    )
    prompt = system_prompt(model)
    positions = [prompt.index(f"## Recalled memory ({n})") for n in ("first", "second", "third")]
    assert positions == sorted(positions)


async def test_a_failing_search_is_reported_and_the_run_goes_on() -> None:
    class WrongType(Recorder):
        name = "wrong"

        async def search(self, query: str, limit: int) -> Any:
            return ["not a MemoryItem"]

    broken = Recorder([MemoryItem("never shown")], fail={"search"})
    healthy = Recorder([MemoryItem("still recalled")])
    healthy.name = "healthy"
    model = ScriptedModel([FINISH])
    handle = await Runner.start(
        Agent(model=model, memory_providers=[broken, WrongType(), healthy]), "go"
    )
    result = await handle.result()
    assert result.completed
    diagnostics = await events_of(handle, "diagnostic")
    assert [(d.code, d.level, d.details["provider"]) for d in diagnostics] == [
        ("memory_provider_failed", "warning", "notebook"),
        ("memory_provider_failed", "warning", "wrong"),
    ]
    assert diagnostics[0].details["operation"] == "search"
    assert diagnostics[0].details["error"] == "search is down"
    assert "not a list of MemoryItem" in diagnostics[1].details["error"]
    prompt = system_prompt(model)
    assert "never shown" not in prompt and "still recalled" in prompt


async def test_after_compaction_receives_what_left_the_context() -> None:
    provider = Recorder()
    model = ScriptedModel(fetching(40), context_length=6_000, max_output_tokens=1_000)
    agent = Agent(model=model, tools=[fetch], max_cycles=40, memory_providers=[provider])
    handle = await Runner.start(agent, "fetch them all")
    result = await handle.result()
    assert result.completed
    started = await events_of(handle, "memory_compact_started")
    completed = await events_of(handle, "memory_compact_completed")
    assert started and len(provider.notices) == len(started)
    assert len(provider.records) == len(completed)
    for notice, event in zip(provider.notices, started, strict=True):
        assert (notice.run_id, notice.cycle_index) == (result.run_id, event.cycle_index)
        assert notice.estimated_tokens == event.estimated_tokens
    for record, event in zip(provider.records, completed, strict=True):
        assert record.mode == event.mode and list(record.dropped) == event.dropped
        assert record.tokens_before - record.tokens_after == event.reclaimed_tokens

    # Every fetched page that left the context reached the provider whole, exactly once.
    removed = [m for r in provider.records for m in r.removed if isinstance(m, ToolMessage)]
    pages = [int(m.content.split(":")[0].removeprefix("page ")) for m in removed]
    assert all(m.content == fetch_text(n) for m, n in zip(removed, pages, strict=True))
    still_there = {m.content for m in result.messages if isinstance(m, ToolMessage)}
    gone = {n for n in range(1, 40) if fetch_text(n) not in still_there}
    assert sorted(pages) == sorted(gone) and len(pages) == len(set(pages)) > 30
    # What replaced them is the memory note (summaries here), never an original message.
    added = [m for r in provider.records for m in r.added]
    assert added and all(is_memory_note(m) for m in added)


def fetch_text(n: int) -> str:
    return f"page {n}: " + " ".join(f"word{n}_{i}" for i in range(300))


async def test_failing_compaction_notifications_never_fail_the_run() -> None:
    provider = Recorder(fail={"before_compaction", "after_compaction"})
    model = ScriptedModel(fetching(30), context_length=6_000, max_output_tokens=1_000)
    agent = Agent(model=model, tools=[fetch], max_cycles=30, memory_providers=[provider])
    handle = await Runner.start(agent, "go")
    result = await handle.result()
    assert result.completed
    diagnostics = await events_of(handle, "diagnostic")
    operations = {d.details["operation"] for d in diagnostics}
    assert operations == {"before_compaction", "after_compaction"}
    assert all(d.code == "memory_provider_failed" for d in diagnostics)
    assert provider.records  # called every time all the same


async def test_extracted_session_notes_are_saved_to_providers() -> None:
    provider = Recorder(fail=set())
    failing = Recorder(fail={"save"})
    failing.name = "failing"
    memory = MemoryPolicy(session_memory=SessionMemory(store=InMemorySessionMemoryStore()))
    agent = Agent(
        model=ScriptedModel(fetching(3)), tools=[fetch], memory_providers=[failing, provider]
    )
    handle = await Runner.start(
        agent, "go", config=RunConfig(session=MemorySession("chat"), memory=memory)
    )
    result = await handle.result()
    assert result.completed
    assert [(i.kind, i.text) for i in provider.saved] == [
        ("decision", "fetch every page"),
        ("key_fact", "40 pages"),
    ]
    assert provider.saved[0].metadata == {"session_id": "chat", "run_id": result.run_id}
    [diagnostic] = await events_of(handle, "diagnostic")
    assert diagnostic.details["provider"] == "failing" and diagnostic.details["operation"] == "save"


async def test_a_resumed_run_does_not_search_again() -> None:
    provider = Recorder([MemoryItem("remembered")])
    model = ScriptedModel([call_tool("ask_user", {"question": "Which one?"}), FINISH])
    agent = Agent(model=model, memory_providers=[provider])
    waiting = await Runner.run(agent, "pick one")
    state = RunState.from_json(waiting.to_state().to_json())
    result = await Runner.resume(agent, state, input="the first")
    assert result.completed
    assert provider.searches == [("pick one", 5)]
    assert "remembered" in system_prompt(model)


def test_an_object_without_the_provider_methods_is_refused() -> None:
    class SearchOnly:
        async def search(self, query: str, limit: int) -> list[MemoryItem]:
            return []

    agent = Agent(model=ScriptedModel([FINISH]), memory_providers=[SearchOnly()])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="SearchOnly lacks some"):
        Runner.run_sync(agent, "go")
