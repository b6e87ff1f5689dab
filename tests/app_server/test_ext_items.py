"""ext items (APP_SERVER.md §10): memory compaction, sub-runs and handoffs of a turn's run
become ``memoryCompact``, ``subRun`` and ``handoff`` items, shown to experimental connections
only (live and in snapshots) and stored like every other item."""

from __future__ import annotations

import json
from typing import Any

from agentcycle.app_server import protocol as p
from agentcycle.app_server._artifacts import ArtifactDirectory
from agentcycle.app_server._connection import Connection
from agentcycle.app_server._delivery import Delivery
from agentcycle.app_server._fanout import Fanout
from agentcycle.app_server._projection import TurnProjector
from agentcycle.app_server._runtime import SdkLauncher
from agentcycle.app_server._store import MEMORY, Store
from agentcycle.app_server._threads import ThreadService
from agentcycle.app_server._turn_runs import TurnRuns
from agentcycle.events import (
    EventOrigin,
    HandoffCompleted,
    HandoffStarted,
    MemoryCompactCompleted,
    MemoryCompactStarted,
    RunEvent,
    SubRunCompleted,
    SubRunStarted,
)
from agentcycle.testing import ScriptedModel

ORIGIN = EventOrigin(run_id="run_1", trace_id="trace_1", id_prefix="evt_")


def _project(event: RunEvent) -> tuple[str, dict[str, Any]]:
    projector = TurnProjector("thread_1", "turn_1", lambda _: None)
    emissions, end = projector.project(event)
    assert end is None
    (emission,) = emissions
    assert emission.ext and emission.item is emission.params
    item = emission.params
    assert item["itemId"] == f"item_{event.event_id}"
    assert (item["threadId"], item["turnId"], item["createdAt"]) == ("thread_1", "turn_1", 5.0)
    return emission.method, {k: item[k] for k in ("type", "status", "payload")}


def test_memory_compaction_items() -> None:
    started = MemoryCompactStarted(
        origin=ORIGIN,
        seq=1,
        created_at=5.0,
        trigger="threshold",
        message_count=40,
        estimated_tokens=90_000,
    )
    assert _project(started) == (
        "item/started",
        {
            "type": "memoryCompact",
            "status": "started",
            "payload": {"trigger": "threshold", "messageCount": 40, "estimatedTokens": 90_000},
        },
    )
    completed = MemoryCompactCompleted(
        origin=ORIGIN,
        seq=2,
        created_at=5.0,
        mode="summary",
        before_count=40,
        after_count=6,
        tokens_before=90_000,
        tokens_after=8_000,
        reclaimed_tokens=82_000,
        archived_count=34,
    )
    assert _project(completed) == (
        "item/completed",
        {
            "type": "memoryCompact",
            "status": "completed",
            "payload": {
                "mode": "summary",
                "beforeCount": 40,
                "afterCount": 6,
                "tokensBefore": 90_000,
                "tokensAfter": 8_000,
                "reclaimedTokens": 82_000,
                "archivedCount": 34,
            },
        },
    )


def test_sub_run_items() -> None:
    ids = {"child_run_id": "run_2", "child_agent_name": "researcher", "task_id": "task_1"}
    started = SubRunStarted(
        origin=ORIGIN, seq=1, created_at=5.0, parent_tool_call_id="call_7", **ids
    )
    identity = {
        "childRunId": "run_2",
        "childAgentName": "researcher",
        "parentToolCallId": "call_7",
        "taskId": "task_1",
    }
    assert _project(started) == (
        "item/started",
        {"type": "subRun", "status": "started", "payload": identity},
    )
    failed = SubRunCompleted(
        origin=ORIGIN,
        seq=2,
        created_at=5.0,
        parent_tool_call_id="call_7",
        status="failed",
        error_code="max_cycles",
        **ids,
    )
    assert _project(failed) == (
        "item/completed",
        {
            "type": "subRun",
            "status": "failed",
            "payload": {
                **identity,
                "status": "failed",
                "finalOutput": None,
                "errorCode": "max_cycles",
            },
        },
    )
    done = SubRunCompleted(
        origin=ORIGIN, seq=3, created_at=5.0, status="completed", final_output="42", **ids
    )
    assert _project(done)[1]["status"] == "completed"
    assert _project(done)[1]["payload"]["finalOutput"] == "42"


def test_handoff_items() -> None:
    ids = {"source_agent": "triage", "target_agent": "billing", "tool_call_id": "call_3"}
    identity = {"sourceAgent": "triage", "targetAgent": "billing", "toolCallId": "call_3"}
    started = HandoffStarted(origin=ORIGIN, seq=1, created_at=5.0, **ids)
    assert _project(started) == (
        "item/started",
        {"type": "handoff", "status": "started", "payload": identity},
    )
    completed = HandoffCompleted(origin=ORIGIN, seq=2, created_at=5.0, status="completed", **ids)
    assert _project(completed) == (
        "item/completed",
        {"type": "handoff", "status": "completed", "payload": {**identity, "status": "completed"}},
    )


async def test_ext_items_reach_experimental_connections_only() -> None:
    store = Store(MEMORY)
    launcher = SdkLauncher(ScriptedModel([]), None, [], 1.0, 1.0, None)
    fanout = Fanout(store, ArtifactDirectory(store.artifacts))
    service = ThreadService(store, TurnRuns(store, launcher, Delivery(store, fanout, 30.0)))
    plain_lines: list[bytes] = []
    ext_lines: list[bytes] = []
    plain, ext = Connection(plain_lines.append), Connection(ext_lines.append)
    ext.experimental = True
    thread_id = store.create_thread("default", None, {}, 1.0).thread_id
    turn_id = store.create_turn(thread_id, [], 1.0)
    for conn in (plain, ext):
        await service.thread_resume(conn, p.ThreadResumeParams(thread_id=thread_id))
    projector = TurnProjector(thread_id, turn_id, lambda _: None)
    event = HandoffStarted(
        origin=ORIGIN, seq=1, created_at=5.0, source_agent="a", target_agent="b", tool_call_id="c"
    )
    (emission,) = projector.project(event)[0]
    fanout.publish(thread_id, emission.method, emission.params, emission.item, ext_only=True)

    assert plain_lines == []
    (line,) = ext_lines
    sent = json.loads(line)
    assert sent["method"] == "item/started"
    assert sent["params"]["type"] == "handoff" and "cursor" in sent["params"]
    for conn, expected in ((plain, []), (ext, ["handoff"])):
        snapshot, _ = await service.thread_read(conn, p.ThreadReadParams(thread_id=thread_id))
        assert [item["type"] for item in snapshot["items"].decoded()] == expected
    store.close()
