"""The run log as the checkpoint: records, events and the fold, on every store."""

from __future__ import annotations

from pathlib import Path

from agentcycle import Runner
from agentcycle.events import RunStatus
from agentcycle.runtime.durable import durable_events, run_status
from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.stores.run_records import RecordKind
from tests.durable import scenario


async def test_durable_run_logs_each_step_and_its_events(
    store: CheckpointStore, tmp_path: Path
) -> None:
    handle = await Runner.start(
        scenario.agent(tmp_path, 2), "go", config=scenario.config(store, "run_log_1")
    )
    live = [e async for e in handle.events()]
    result = await handle.result()
    assert result.status is RunStatus.COMPLETED
    records = store.read("run_log_1")
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    kinds = [r.kind for r in records]
    per_cycle = [
        RecordKind.CYCLE_STARTED,
        RecordKind.MODEL_INTENT,
        RecordKind.MODEL_RESULT,
        RecordKind.EFFECT_INTENT,  # the non-idempotent call: intent and result are barriers
        RecordKind.EFFECT_RESULT,
        RecordKind.EFFECT_RESULT,  # the idempotent one: no intent, its result goes with the commit
        RecordKind.CYCLE_COMMITTED,
    ]
    assert kinds == [
        RecordKind.RUN_CREATED,
        *per_cycle,
        *per_cycle,
        # The finishing cycle calls no tool with an effect: its steps go out with its commit,
        # which makes them redundant, so the cycle is that one record.
        RecordKind.CYCLE_COMMITTED,
        RecordKind.TERMINAL,
    ]
    assert records[2].key == "c1/model/intent"
    assert records[4].key == "c1/tool/c1_a/intent"
    # The durable stream is the live one, event for event.
    durable = list(durable_events(store, "run_log_1"))
    assert [e.to_dict() for e in durable] == [e.to_dict() for e in live]
    assert [e.seq for e in durable] == list(range(1, len(durable) + 1))
    commits = [e for e in durable if e.type == "checkpoint_created"]
    assert [e.cycle_index for e in commits] == [1, 2, 3]
    # Each checkpoint event sits inside the commit record it announces.
    for record in records:
        events = record.payload.get("events", [])
        if record.kind is RecordKind.CYCLE_COMMITTED:
            assert events[-1]["type"] == "checkpoint_created"
            assert events[-1]["checkpoint_key"] == record.key
    status = run_status(store, "run_log_1")
    assert status is not None
    assert status["log_status"] == "terminal"
    assert status["run_status"] == "completed"
    assert status["final_output"] == result.final_output
    assert status["partial_output"] is None
    assert status["cycles_committed"] == 3
    assert status["event_seq"] == durable[-1].seq
