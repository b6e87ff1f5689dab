"""The run log as the checkpoint: records, events and the fold, on every store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentcycle import Agent, Runner, handoff
from agentcycle.events import RunStatus
from agentcycle.messages import ToolResult
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.runtime.durable import Durability, durable_events, run_status
from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.stores.run_records import RecordKind
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.base import SideEffect, ToolContext
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


class Note:
    """A host tool that keeps a list in ``RunToolState.extra`` and appends to it in place."""

    name = "note"
    description = "Note a number."
    parameters = {
        "type": "object",
        "properties": {"n": {"type": "integer"}},
        "required": ["n"],
        "additionalProperties": False,
    }
    side_effect = SideEffect.NONE
    read_only = False
    needs_approval = False
    timeout_seconds = None
    effect_class = "read"

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        ctx.state.extra.setdefault("notes", []).append(arguments["n"])
        return ToolResult.success("noted")


async def test_a_commit_carries_the_tools_state_only_when_it_changed(
    store: CheckpointStore, tmp_path: Path
) -> None:
    files = 200
    for n in range(files):
        (tmp_path / f"f{n}.txt").write_text(f"line {n}\n")
    # Cycles 1-200 read a new file each (the state grows); 201 reads a file again, unchanged;
    # 202-206 list files (no state change); 207 reads a file changed on disk (a new stamp at
    # a path already seen); 208-209 note numbers (the host's state, the second change in
    # place inside it).
    steps: dict[int, tuple[str, dict[str, Any]]] = {
        n + 1: ("read_file", {"path": f"f{n}.txt"}) for n in range(files)
    }
    steps[201] = ("read_file", {"path": "f0.txt"})
    steps.update((c, ("find_files", {"glob": "f0.txt"})) for c in range(202, 207))
    steps[207] = ("read_file", {"path": "f1.txt"})
    steps[208] = ("note", {"n": 1})
    steps[209] = ("note", {"n": 2})

    def step(request: ModelRequest) -> ModelResponse:
        index = request.cycle_index or 0
        if index == 207:
            (tmp_path / "f1.txt").write_text("changed\n")
        if index not in steps:
            return call_tool("task_finish", {"message": "done"})
        return call_tool(*steps[index])

    agent = Agent(model=ScriptedModel(step), tools=[Note()], max_cycles=len(steps) + 1)
    # A long lease: the run is long, and leases are not what this test is about.
    durability = Durability(lease_ttl=30)
    config = scenario.config(store, "tool_state_1", workspace=tmp_path, durability=durability)
    result = await Runner.run(agent, "go", config=config)
    assert result.status is RunStatus.COMPLETED
    records = store.read("tool_state_1")
    commits = {r.payload["cycle"]: r for r in records if r.kind is RecordKind.CYCLE_COMMITTED}

    def state(cycle: int) -> dict[str, Any] | None:
        carried: dict[str, Any] | None = commits[cycle].payload.get("tool_state")
        return carried

    for cycle in range(1, files + 1):
        carried = state(cycle)
        assert carried is not None and len(carried["files_seen"]) == cycle
    full = len(commits[files].payload_json)
    for cycle in range(201, 207):
        assert state(cycle) is None
        # The commit does not grow with the files the run has seen.
        assert len(commits[cycle].payload_json) < full / 3
    changed = state(207)
    assert changed is not None
    before = state(files)
    assert before is not None
    assert changed["files_seen"]["f1.txt"] != before["files_seen"]["f1.txt"]
    notes = [state(cycle) or {} for cycle in (208, 209)]
    assert [carried.get("extra") for carried in notes] == [{"notes": [1]}, {"notes": [1, 2]}]
    # The end record always carries it, whole.
    assert records[-1].payload["tool_state"]["extra"] == {"notes": [1, 2]}


async def test_events_of_every_origin_read_back_from_the_log_as_they_were_emitted(
    store: CheckpointStore,
) -> None:
    # A record stores the run's own events without their identity, once per record, and a
    # child run's forwarded events whole; a handoff changes the run's origin mid-run. Reading
    # the log back gives every event exactly as the live stream did.
    researcher = Agent(
        name="Researcher",
        model=ScriptedModel([call_tool("task_finish", {"message": "three sources"})]),
    )
    writer = Agent(
        name="Writer",
        model=ScriptedModel(
            [
                call_tool("researcher", {"task_description": "find sources"}),
                call_tool("task_finish", {"message": "done"}),
            ]
        ),
        tools=[researcher.as_tool()],
    )
    triage = Agent(
        name="Triage",
        model=ScriptedModel([call_tool("transfer_to_writer", {"input": "write it"})]),
        handoffs=[handoff(writer, "writing")],
    )
    handle = await Runner.start(triage, "go", config=scenario.config(store, "origins"))
    live = [e async for e in handle.events()]
    assert (await handle.result()).status is RunStatus.COMPLETED
    assert {e.agent_name for e in live if e.run_id == "origins"} == {"Triage", "Writer"}
    assert {e.run_id for e in live} - {"origins"}  # the child's events are in the stream
    durable = list(durable_events(store, "origins"))
    assert [e.to_dict() for e in durable] == [e.to_dict() for e in live]
    stored = [e for record in store.read("origins") for e in record.payload.get("events", [])]
    assert len(stored) == len(live)
    whole = [event["run_id"] for event in stored if "run_id" in event]
    assert len(whole) < len(stored) / 2  # most are the run's own, stored without identity
    assert set(whole) - {"origins"}  # the child's, stored whole
    status = run_status(store, "origins")
    assert status is not None and status["event_seq"] == live[-1].seq
