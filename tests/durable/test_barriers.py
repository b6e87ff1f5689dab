"""Where a durable cycle waits for its store: only where the effect ledger needs a record
durable before the run goes on. A cycle of ``read`` tools is one append (its commit, carrying
its start, model answer and events), an ``idempotent`` call's answer is durable before it runs,
and a cancel the store reports in an append's reply stops the next call."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from agentcycle import Agent, Runner
from agentcycle.events import ApprovalRequested, RunStatus
from agentcycle.messages import ToolResult
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.runtime import _durable_lease
from agentcycle.runtime.approvals import ApprovalDecision
from agentcycle.runtime.durable import Durability, durable_events
from agentcycle.stores.checkpoints import AppendResult, CheckpointStore
from agentcycle.stores.run_records import NewRecord, RecordKind
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.base import SideEffect, ToolContext
from agentcycle.tools.function_tool import FunctionTool, function_tool
from tests.durable import scenario

CYCLES = 3


class CountingStore:
    """A store that counts the appends made through it (everything else passes through)."""

    def __init__(self, store: CheckpointStore) -> None:
        self.store = store
        self.appends: list[list[RecordKind]] = []

    def append(
        self, run_id: str, records: Sequence[NewRecord], *, expected_seq: int, epoch: int
    ) -> AppendResult:
        self.appends.append([r.kind for r in records])
        return self.store.append(run_id, records, expected_seq=expected_seq, epoch=epoch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class Probe:
    """A tool of the given effect class that records, each time it runs, the keys of the
    run's log as the store holds them at that moment."""

    description = "Look at the log."
    parameters = {"type": "object", "properties": {}, "additionalProperties": False}
    side_effect = SideEffect.NONE
    read_only = False
    needs_approval = False
    timeout_seconds = None

    def __init__(self, store: CheckpointStore, effect_class: str) -> None:
        self.name = f"probe_{effect_class}"
        self.effect_class = effect_class
        self.store = store
        self.seen: list[set[str]] = []

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        self.seen.append({r.key for r in self.store.read(ctx.run_id)})
        return ToolResult.success("looked")


def _agent(tool: Probe, calls: list[int] | None = None) -> Agent:
    """Cycles 1..CYCLES call ``tool`` (call id ``c<cycle>``), then the model finishes; the
    cycle of each model call goes to ``calls``."""

    def step(request: ModelRequest) -> ModelResponse:
        index = request.cycle_index or 0
        if calls is not None:
            calls.append(index)
        if index > CYCLES:
            return call_tool("task_finish", {"message": "done"})
        response = call_tool(tool.name, {})
        call = response.tool_calls[0].model_copy(update={"id": f"c{index}"})
        return replace(response, tool_calls=(call,))

    return Agent(model=ScriptedModel(step), tools=[tool], max_cycles=CYCLES + 2)


@pytest.mark.parametrize(
    ("effect", "appends"), [("read", 1), ("idempotent", 2), ("non_idempotent", 3)]
)
async def test_a_cycle_appends_only_at_its_barriers(
    store: CheckpointStore, effect: str, appends: int
) -> None:
    counting = CountingStore(store)
    probe = Probe(store, effect)
    run_id = f"barriers-{effect}"
    result = await Runner.run(_agent(probe), "go", config=scenario.config(counting, run_id))
    assert result.status is RunStatus.COMPLETED
    # Cycles 1..CYCLES, then the finishing cycle (a read tool) and the terminal record.
    assert len(counting.appends) == CYCLES * appends + 2
    for index, keys in enumerate(probe.seen, start=1):
        if effect == "read":
            # Nothing of the cycle is durable yet: a crash re-runs it, the read tool included.
            assert not any(key.startswith(f"c{index}/") for key in keys), keys
        else:
            # The model's answer is durable before the call runs (a resume re-runs the call
            # with the same idempotency key, or settles its intent, instead of asking the
            # model for new calls).
            assert {f"c{index}/started", f"c{index}/model/result"} <= keys
            assert f"c{index}/tool/c{index}/result" not in keys
        intent = f"c{index}/tool/c{index}/intent"
        assert (intent in keys) is (effect == "non_idempotent")
        assert f"c{index}/committed" not in keys
    if effect == "non_idempotent":
        # The answer rides with the intent: the cycle's first append is both.
        first = counting.appends[0]
        assert first[-2:] == [RecordKind.MODEL_RESULT, RecordKind.EFFECT_INTENT]
        assert counting.appends[1] == [RecordKind.EFFECT_RESULT]  # durable before going on
    # Every cycle's records and events are in the log, in order, once.
    kinds = [r.kind for r in store.read(run_id)]
    # A cycle whose steps went out with its commit is that one record (the commit makes its
    # step records redundant): every read cycle, and the finishing one.
    assert kinds.count(RecordKind.CYCLE_STARTED) == (0 if effect == "read" else CYCLES)
    assert kinds.count(RecordKind.CYCLE_COMMITTED) == CYCLES + 1
    seqs = [e.seq for e in durable_events(store, run_id)]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_a_cancel_in_an_append_reply_stops_the_next_model_call(
    store: CheckpointStore,
) -> None:
    calls: list[int] = []

    class Canceller(Probe):
        async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
            store.request_cancel(ctx.run_id, "from another process")
            return await super().invoke(ctx, arguments)

    counting = CountingStore(store)
    config = scenario.config(counting, "cancel-reply", durability=Durability(lease_ttl=600))
    result = await Runner.run(_agent(Canceller(store, "read"), calls), "go", config=config)
    assert result.status is RunStatus.CANCELLED
    # Cycle 1's commit learned of the cancel: cycle 2 never called its model.
    assert calls == [1]
    assert len(counting.appends) == 2  # the commit of cycle 1, the terminal record
    last = list(durable_events(store, "cancel-reply"))[-1]
    assert last.type == "run_cancelled" and last.reason == "from another process"


async def test_a_cancel_seen_before_a_tool_call_closes_the_call_as_not_run(
    store: CheckpointStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every check asks the store (a real model's call outlasts the 2 ms the store's last answer
    # stands for): the cancel requested during the model call is seen before the tool runs.
    monkeypatch.setattr(_durable_lease, "CANCEL_FRESH", 0.0)
    probe = Probe(store, "non_idempotent")
    run_id = "cancel-before-tool"

    def step(request: ModelRequest) -> ModelResponse:
        store.request_cancel(run_id, "from another process")
        return call_tool(probe.name, {})

    agent = Agent(model=ScriptedModel(step), tools=[probe])
    result = await Runner.run(agent, "go", config=scenario.config(store, run_id))
    assert result.status is RunStatus.CANCELLED
    assert probe.seen == []  # never ran
    (completed,) = [e for e in durable_events(store, run_id) if e.type == "tool_call_completed"]
    assert (completed.error_code, completed.execution_started) == ("tool_call_skipped", False)


async def test_a_run_that_never_lets_its_heartbeat_run_keeps_its_lease(
    store: CheckpointStore,
) -> None:
    # Each cycle blocks the event loop longer than a renewal interval (a model or tool that
    # never awaits): the heartbeat task never runs, and the cycle boundary renews instead.
    run_id = "blocking-cycles"
    live: list[bool] = []

    @function_tool(run_in_thread=False, read_only=True)
    def crunch() -> str:
        """Work without awaiting."""
        time.sleep(0.15)  # the blocking work itself, not a wait for anything
        head = store.head(run_id)
        live.append(head is not None and head.lease_live)
        return "crunched"

    def step(request: ModelRequest) -> ModelResponse:
        if (request.cycle_index or 0) > 6:
            return call_tool("task_finish", {"message": "done"})
        return call_tool("crunch", {})

    agent = Agent(model=ScriptedModel(step), tools=[crunch], max_cycles=8)
    config = scenario.config(store, run_id, durability=Durability(lease_ttl=0.4))
    result = await Runner.run(agent, "go", config=config)
    assert result.status is RunStatus.COMPLETED
    assert live == [True] * 6  # 0.9 s of blocking against a 0.4 s lease


@pytest.mark.parametrize("effect", ["read", "non_idempotent"])
async def test_the_answer_is_durable_before_an_approval_is_asked(
    store: CheckpointStore, effect: str
) -> None:
    # A person may take long to decide, and decides about these very calls: a run killed
    # while waiting resumes with the same calls (and asks again), not with a new answer.
    probe = Probe(store, effect)
    probe.needs_approval = True  # type: ignore[misc]
    run_id = f"approval-{effect}"
    config = scenario.config(store, run_id, live_approvals=True)
    handle = await Runner.start(_agent(probe), "go", config=config)
    asked = []
    async for event in handle.events():
        if isinstance(event, ApprovalRequested):
            index = event.cycle_index
            keys = {r.key for r in store.read(run_id)}
            assert {f"c{index}/started", f"c{index}/model/result"} <= keys
            assert f"c{index}/tool/c{index}/intent" not in keys  # not allowed yet
            asked.append(index)
            handle.approve(event.request_id, ApprovalDecision.allow())
    result = await handle.result()
    assert result.status is RunStatus.COMPLETED
    assert asked == list(range(1, CYCLES + 1))
    assert len(probe.seen) == CYCLES
    seqs = [e.seq for e in durable_events(store, run_id)]
    assert seqs == list(range(1, len(seqs) + 1))


def _function_tool(options: dict[str, Any]) -> FunctionTool:
    @function_tool(name="note", run_in_thread=False, **options)
    def note() -> str:
        """Take a note."""
        return "noted"

    return note


@pytest.mark.parametrize(
    ("options", "appends"),
    [
        ({"read_only": True}, 1),  # changes nothing: re-run freely after a crash
        ({"side_effect": "none"}, 1),
        ({"effect_class": "idempotent"}, 2),
        ({"side_effect": "read", "effect_class": "non_idempotent"}, 3),  # declared wins
        ({}, 3),  # declares nothing, may act outside: the safe case
    ],
)
async def test_a_function_tool_declares_its_effect_class_with_the_decorator(
    store: CheckpointStore, options: dict[str, Any], appends: int
) -> None:
    counting = CountingStore(store)
    tool = _function_tool(options)

    def step(request: ModelRequest) -> ModelResponse:
        if (request.cycle_index or 0) > CYCLES:
            return call_tool("task_finish", {"message": "done"})
        return call_tool("note", {})

    agent = Agent(model=ScriptedModel(step), tools=[tool], max_cycles=CYCLES + 2)
    run_id = f"function-tool-{len(options)}-{appends}"
    result = await Runner.run(agent, "go", config=scenario.config(counting, run_id))
    assert result.status is RunStatus.COMPLETED
    assert len(counting.appends) == CYCLES * appends + 2
