"""``RunConfig.event_store``: every event of a run is persisted, and replaying the store gives
back exactly the live stream (completed, resumed, cancelled, failed runs; tool calls)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig, RunHandle, Runner, function_tool
from agentcycle.errors import EventStoreWriteError
from agentcycle.events import Diagnostic, RunEvent, RunStatus
from agentcycle.messages import TokenUsage
from agentcycle.stores import JsonlRunEventStore, RunEventStore, SQLiteRunEventStore
from agentcycle.testing import ScriptedModel, call_tool, reply
from agentcycle.testing.event_store_conformance import dicts, replayed

STORES: dict[str, Callable[[Path], RunEventStore]] = {
    "jsonl": lambda tmp: JsonlRunEventStore(tmp / "events.jsonl"),
    "sqlite": lambda tmp: SQLiteRunEventStore(tmp / "events.sqlite3"),
}


@pytest.fixture(params=sorted(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunEventStore]:
    store = STORES[request.param](tmp_path)
    yield store
    await store.aclose()


@function_tool
def lookup(city: str) -> str:
    """Look up the weather of a city."""
    return f"sunny in {city}"


def tool_script() -> list:
    usage = TokenUsage.of(120, 30, cached_tokens=100)
    return [
        call_tool("lookup", {"city": "Paris"}, text="checking", usage=usage),
        call_tool([("lookup", {"city": "Oslo"}), ("nope", {})], usage=usage),
        reply("thinking aloud", reasoning="hmm", usage=usage),
        call_tool("task_finish", {"message": "done"}, usage=usage),
    ]


async def live_events(handle: RunHandle) -> list[RunEvent]:
    return [event async for event in handle.events()]


async def test_a_run_with_tool_calls_replays_exactly(store: RunEventStore) -> None:
    agent = Agent(model=ScriptedModel(tool_script(), stream_chunk_chars=3), tools=[lookup])
    handle = await Runner.start(agent, "weather?", config=RunConfig(event_store=store))
    result = await handle.result()  # returns once every event is stored
    live = await live_events(handle)
    assert result.status is RunStatus.COMPLETED
    assert {"tool_call_completed", "assistant_delta", "reasoning_delta"} <= {e.type for e in live}
    stored = await replayed(store, handle.run_id)
    assert dicts(live) == dicts(stored)
    assert [type(e) for e in live] == [type(e) for e in stored]
    (run,) = await store.runs()
    assert (run.run_id, run.status, run.last_seq) == (handle.run_id, "completed", live[-1].seq)


async def test_a_waiting_run_resumed_is_one_stored_stream(store: RunEventStore) -> None:
    config = RunConfig(event_store=store)
    asking = Agent(model=ScriptedModel([call_tool("ask_user", {"question": "Which env?"})]))
    first = await Runner.start(asking, "deploy", config=config)
    waiting = await first.result()
    before = await live_events(first)
    assert [r.status for r in await store.runs()] == ["wait_user"]

    finishing = Agent(model=ScriptedModel([call_tool("task_finish", {"message": "deployed"})]))
    second = await Runner.start_resumed(
        finishing, waiting.to_state(), input="staging", config=config
    )
    await second.result()
    after = await live_events(second)

    assert second.run_id == first.run_id
    assert [e.seq for e in before + after] == list(range(1, after[-1].seq + 1))
    assert dicts(await replayed(store, first.run_id)) == dicts(before + after)
    assert dicts(await replayed(store, first.run_id, since_seq=before[-1].seq)) == dicts(after)
    (run,) = await store.runs()
    assert (run.status, run.event_count) == ("completed", len(before) + len(after))


async def test_a_cancelled_run_replays_exactly(store: RunEventStore) -> None:
    release = asyncio.Event()

    @function_tool
    async def wait_for_release() -> str:
        """Block until the test releases it."""
        await release.wait()
        return "released"

    agent = Agent(
        model=ScriptedModel([call_tool("wait_for_release", {})]), tools=[wait_for_release]
    )
    handle = await Runner.start(agent, "go", config=RunConfig(event_store=store))
    async for event in handle.events():
        if event.type == "tool_call_started":
            break
    await handle.cancel("user pressed stop")
    result = await handle.result()
    live = await live_events(handle)
    assert result.status is RunStatus.CANCELLED and live[-1].type == "run_cancelled"
    assert dicts(await replayed(store, handle.run_id)) == dicts(live)
    assert [r.status for r in await store.runs()] == ["cancelled"]


async def test_a_failed_run_replays_exactly(store: RunEventStore) -> None:
    agent = Agent(model=ScriptedModel([reply("no tool")]), no_tool_policy="continue")
    handle = await Runner.start(agent, "go", config=RunConfig(event_store=store))
    result = await handle.result()
    live = await live_events(handle)
    assert result.status is RunStatus.FAILED and live[-1].type == "run_failed"
    assert dicts(await replayed(store, handle.run_id)) == dicts(live)


async def test_streamed_runs_are_stored_when_the_stream_ends(store: RunEventStore) -> None:
    agent = Agent(model=ScriptedModel(tool_script()), tools=[lookup])
    live = [e async for e in Runner.stream(agent, "go", config=RunConfig(event_store=store))]
    assert dicts(await replayed(store, live[0].run_id)) == dicts(live)


def test_run_sync_with_a_store(tmp_path: Path) -> None:
    store = SQLiteRunEventStore(tmp_path / "events.sqlite3")
    agent = Agent(model=ScriptedModel(tool_script()), tools=[lookup])
    result = Runner.run_sync(agent, "go", config=RunConfig(event_store=store))

    async def stored() -> list[RunEvent]:
        events = await replayed(store, result.run_id)
        await store.aclose()
        return events

    events = asyncio.run(stored())
    assert events[-1].type == "run_completed" and events[-1].seq == result.state.event_seq


async def test_concurrent_runs_share_one_sqlite_store(tmp_path: Path) -> None:
    store = SQLiteRunEventStore(tmp_path / "events.sqlite3")
    config = RunConfig(event_store=store)
    handles = [
        await Runner.start(
            Agent(model=ScriptedModel(tool_script()), tools=[lookup]), "go", config=config
        )
        for _ in range(8)
    ]
    await asyncio.gather(*(h.result() for h in handles))
    for handle in handles:
        assert dicts(await replayed(store, handle.run_id)) == dicts(await live_events(handle))
    assert sorted(r.run_id for r in await store.runs()) == sorted(h.run_id for h in handles)
    await store.aclose()


async def test_writes_are_batched_off_the_loop(tmp_path: Path) -> None:
    class CountingStore(JsonlRunEventStore):
        batches: list[int] = []

        async def append_many(self, events) -> None:  # type: ignore[no-untyped-def]
            self.batches.append(len(events))
            await super().append_many(events)

    store = CountingStore(tmp_path / "events.jsonl")
    script = [call_tool("lookup", {"city": str(n)}) for n in range(20)]
    agent = Agent(
        model=ScriptedModel([*script, call_tool("task_finish", {})]), tools=[lookup], max_cycles=30
    )
    handle = await Runner.start(agent, "go", config=RunConfig(event_store=store))
    await handle.result()
    live = await live_events(handle)
    assert sum(store.batches) == len(live)
    assert len(store.batches) < len(live) / 4


async def test_a_store_failure_is_reported_not_swallowed(tmp_path: Path) -> None:
    store = JsonlRunEventStore(tmp_path / "no-such-dir" / "events.jsonl")
    release = asyncio.Event()

    @function_tool
    async def wait_for_release() -> str:
        """Block until the test releases it."""
        await release.wait()
        return "released"

    agent = Agent(
        model=ScriptedModel([call_tool("wait_for_release", {}), call_tool("task_finish", {})]),
        tools=[wait_for_release],
    )
    handle = await Runner.start(agent, "go", config=RunConfig(event_store=store))
    async for event in handle.events():
        if isinstance(event, Diagnostic) and event.code == "event_store_write_failed":
            assert event.level == "error"
            assert event.details["cause_code"] == "event_store_io_error"
            release.set()
    with pytest.raises(EventStoreWriteError) as caught:
        await handle.result()
    assert caught.value.code == "event_store_write_failed"
    assert caught.value.run_id == handle.run_id
    assert caught.value.result.status is RunStatus.COMPLETED  # the run itself went on
    assert release.is_set()


def test_run_sync_raises_when_the_store_fails(tmp_path: Path) -> None:
    store = JsonlRunEventStore(tmp_path / "no-such-dir" / "events.jsonl")
    agent = Agent(model=ScriptedModel([call_tool("task_finish", {"message": "done"})]))
    with pytest.raises(EventStoreWriteError) as caught:
        Runner.run_sync(agent, "go", config=RunConfig(event_store=store))
    assert caught.value.result.final_output == "done"


async def test_a_runner_level_store_records_every_run(store: RunEventStore) -> None:
    runner = Runner(RunConfig(event_store=store))
    first = await runner.run(Agent(model=ScriptedModel([call_tool("task_finish", {})])), "a")
    second = await runner.run(Agent(model=ScriptedModel([call_tool("task_finish", {})])), "b")
    assert [r.run_id for r in await store.runs()] == [first.run_id, second.run_id]
