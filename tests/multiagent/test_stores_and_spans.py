"""Child runs and handoffs through the event store, the span builder and the JSON wire."""

from __future__ import annotations

import json
from pathlib import Path

from agentcycle import Agent, RunConfig, SubAgent
from agentcycle.events import parse_event
from agentcycle.handoffs import handoff
from agentcycle.stores import JsonlRunEventStore
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tracing import Span
from tests.multiagent.helpers import (
    child_run_ids,
    of_run,
    planner,
    researcher,
    run_with_events,
    types,
)
from tests.multiagent.sub_task_helpers import parent, worker


class Recorder:
    def __init__(self) -> None:
        self.ended: list[Span] = []

    def on_span_start(self, span: Span) -> None:
        """Only ended spans are checked."""

    def on_span_end(self, span: Span) -> None:
        self.ended.append(span)


def nested() -> Agent:
    """Planner -> Researcher (as a tool) -> Fetcher (as a tool of the researcher)."""
    fetcher = Agent(
        name="Fetcher", model=ScriptedModel([call_tool("task_finish", {"message": "raw data"})])
    )
    child = researcher(
        [
            call_tool("fetcher", {"task_description": "fetch"}),
            call_tool("task_finish", {"message": "X is 42"}),
        ],
        tools=[fetcher.as_tool()],
    )
    return planner(child)


async def test_replaying_the_store_gives_the_live_stream_with_the_child_runs(
    tmp_path: Path,
) -> None:
    store = JsonlRunEventStore(tmp_path / "events.jsonl")
    result, live = await run_with_events(nested(), config=RunConfig(event_store=store))
    (child_id,) = child_run_ids(live, result.run_id)
    (grandchild_id,) = child_run_ids(live, child_id)

    replayed = [e async for e in store.replay(result.run_id)]
    assert [e.to_dict() for e in replayed] == [e.to_dict() for e in live]
    assert {e.run_id for e in replayed} == {result.run_id, child_id, grandchild_id}
    alone = [e async for e in store.replay(result.run_id, include_children=False)]
    assert alone == of_run(live, result.run_id)
    subtree = [e async for e in store.replay(child_id)]
    assert {e.run_id for e in subtree} == {child_id, grandchild_id}
    runs = {run.run_id: run for run in await store.runs()}
    assert runs[grandchild_id].parent_run_id == child_id
    await store.aclose()


async def test_child_spans_hang_under_the_tool_call_that_started_them() -> None:
    recorder = Recorder()
    result, events = await run_with_events(nested(), config=RunConfig(trace_processors=[recorder]))
    (child_id,) = child_run_ids(events, result.run_id)
    (grandchild_id,) = child_run_ids(events, child_id)
    spans = recorder.ended
    runs = {s.run_id: s for s in spans if s.kind == "run"}
    tools = {(s.run_id, s.attributes["tool_name"]): s for s in spans if s.kind == "tool_call"}
    assert runs[result.run_id].parent_span_id is None
    assert runs[child_id].parent_span_id == tools[(result.run_id, "researcher")].span_id
    assert runs[grandchild_id].parent_span_id == tools[(child_id, "fetcher")].span_id
    assert {s.trace_id for s in spans} == {result.trace_id}
    assert all(s.status == "ok" for s in runs.values())
    child_cycles = [s for s in spans if s.kind == "cycle" and s.run_id == child_id]
    assert {s.parent_span_id for s in child_cycles} == {runs[child_id].span_id}
    assert spans[-1] is runs[result.run_id]


async def test_every_multi_agent_event_round_trips_through_json() -> None:
    specialist = Agent(
        name="Billing", model=ScriptedModel([call_tool("task_finish", {"message": "done"})])
    )
    triage = Agent(
        name="Triage",
        model=ScriptedModel(
            [
                call_tool("researcher", {"task_description": "find X"}),
                call_tool("transfer_to_billing", {"input": "refund"}),
            ]
        ),
        tools=[researcher().as_tool()],
        handoffs=[handoff(specialist)],
    )
    _, events = await run_with_events(triage)
    kinds = set(types(events))
    assert {"sub_run_started", "sub_run_completed", "handoff_started", "handoff_completed"} <= kinds
    for event in events:
        assert parse_event(json.loads(json.dumps(event.to_dict()))) == event


async def test_a_background_sub_task_started_after_its_call_ended_hangs_under_that_call() -> None:
    # One slot: the second task starts only when the first ends, after create_sub_task returned.
    lead = parent(
        [
            call_tool(
                "create_sub_task",
                {
                    "agent_id": "worker",
                    "tasks": [{"task_description": "one"}, {"task_description": "two"}],
                    "wait_for_completion": False,
                },
            ),
            call_tool(
                "sub_task_status",
                {"task_ids": ["worker-1", "worker-2"], "wait_for_completion": True},
            ),
            call_tool("task_finish", {"message": "both done"}),
        ],
        {"worker": SubAgent(worker(), "Does one thing.", max_concurrency=1)},
    )
    recorder = Recorder()
    result, events = await run_with_events(lead, config=RunConfig(trace_processors=[recorder]))
    assert result.final_output == "both done"
    children = child_run_ids(events, result.run_id)
    assert len(children) == 2
    spans = recorder.ended
    (create,) = [
        s for s in spans if s.kind == "tool_call" and s.attributes["tool_name"] == "create_sub_task"
    ]
    runs = {s.run_id: s for s in spans if s.kind == "run"}
    assert [runs[child].parent_span_id for child in children] == [create.span_id] * 2
    # The second child really did start after the call's span had ended.
    assert runs[children[1]].start_time >= create.end_time
