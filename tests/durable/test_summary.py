"""``run_summary``: a run at a glance from its head, header and last record, on each state a run
can be in, always agreeing with ``run_status`` (which folds the whole log)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, Runner
from agentcycle.events import RunStatus
from agentcycle.messages import ToolResult
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.runtime.crashpoints import CRASHPOINT_ENV
from agentcycle.runtime.durable import Durability, ExecutionYielded, run_status, run_summary
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.stores.run_records import NewRecord, RecordKind, record_keys
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.testing.checkpoint_conformance import expire
from agentcycle.tools.base import ToolContext
from tests._cli import cli_env
from tests.durable import scenario

ROOT = Path(__file__).resolve().parents[2]
SHARED = ("log_status", "run_status", "waiting_for", "lease", "cancel_requested", "agent",
          "cycles_committed")  # fmt: skip
"""The fields ``run_summary`` has in common with ``run_status``."""


def summary(store: CheckpointStore, run_id: str) -> dict[str, Any]:
    """``run_summary`` of the run, checked against ``run_status``."""
    got, full = run_summary(store, run_id), run_status(store, run_id)
    assert got is not None and full is not None
    assert {k: got[k] for k in SHARED} == {k: full[k] for k in SHARED}
    return got


def agent(*steps: ModelResponse, tools: list[Any] | None = None, **fields: Any) -> Agent:
    return Agent(name="summed", model=ScriptedModel(list(steps)), tools=tools or [], **fields)


async def test_runs_that_stopped_say_how(store: CheckpointStore, tmp_path: Path) -> None:
    before = store.head("nope")
    assert before is None and run_summary(store, "nope") is None
    await Runner.run(
        agent(call_tool("task_finish", {"message": "done"})),
        "Summarise   the\nproject",
        config=scenario.config(store, "done"),
    )
    done = summary(store, "done")
    assert done == {
        "run_id": "done",
        "state": "completed",
        "log_status": "terminal",
        "run_status": "completed",
        "waiting_for": None,
        "lease": None,
        "cancel_requested": None,
        "created_ms": store.read("done", limit=1)[0].ts,
        "cycles_committed": 1,
        "agent": "summed",
        "input": "Summarise   the\nproject",
    }
    assert abs(done["created_ms"] - time.time() * 1000) < 60_000

    await Runner.run(
        agent(call_tool("ask_user", {"question": "Which env?"})),
        "deploy",
        config=scenario.config(store, "asks"),
    )
    assert summary(store, "asks")["state"] == "waiting for user"

    line = scenario.AppendLine(tmp_path / "a.txt")
    line.needs_approval = True  # type: ignore[misc]
    await Runner.run(
        agent(call_tool("append_line", {"text": "x"}), tools=[line]),
        "go",
        config=scenario.config(store, "approve"),
    )
    approve = summary(store, "approve")
    assert (approve["state"], approve["run_status"]) == ("waiting for approval", "wait_user")

    def broken(request: ModelRequest) -> ModelResponse:
        raise RuntimeError("the model is down")

    await Runner.run(
        Agent(model=ScriptedModel(broken)), "go", config=scenario.config(store, "broken")
    )
    assert summary(store, "broken")["state"] == "failed"

    loops = [call_tool("todo_write", {"todos": []}) for _ in range(3)]
    result = await Runner.run(
        agent(*loops, max_cycles=2), "go", config=scenario.config(store, "limit")
    )
    assert result.status is RunStatus.MAX_CYCLES
    limit = summary(store, "limit")
    assert (limit["state"], limit["cycles_committed"]) == ("max_cycles", 2)


async def test_a_cancel_of_a_waiting_run_lands_when_it_is_resumed(store: CheckpointStore) -> None:
    """What ``agentcycle runs cancel`` tells about a run waiting for the user: the request
    stands, and the resume with an answer ends the run as cancelled before its model call."""
    await Runner.run(
        agent(call_tool("ask_user", {"question": "Which env?"})),
        "deploy",
        config=scenario.config(store, "asks"),
    )
    assert store.request_cancel("asks", "not needed") is True
    assert summary(store, "asks")["state"] == "waiting for user, cancel requested"
    model = ScriptedModel([call_tool("task_finish", {"message": "never"})])
    resumed = await Runner.resume_run(
        Agent(name="summed", model=model), "asks", input="staging", config=scenario.config(store)
    )
    assert resumed.status is RunStatus.CANCELLED and model.calls == 0
    cancelled = summary(store, "asks")
    assert (cancelled["state"], cancelled["cancel_requested"]) == ("cancelled", "not needed")


async def test_a_run_in_progress_is_leased_and_a_cancel_request_shows(
    store: CheckpointStore, tmp_path: Path
) -> None:
    gate, entered = asyncio.Event(), asyncio.Event()

    class Blocking(scenario.AppendLine):
        async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
            if ctx.cycle_index == 2:
                entered.set()
                await gate.wait()
            return await super().invoke(ctx, arguments)

    steps = [call_tool("append_line", {"text": f"L{k}"}) for k in (1, 2)]
    handle = await Runner.start(
        agent(*steps, call_tool("task_finish", {"message": "ok"}),
              tools=[Blocking(tmp_path / "a.txt")]),
        "go",
        config=scenario.config(store, "busy", durability=Durability(lease_ttl=60)),
    )  # fmt: skip
    await entered.wait()  # cycle 2's intent is durable: the log's last record
    (last,) = store.read("busy", after_seq=store.head("busy").last_seq - 1)  # type: ignore[union-attr]
    assert last.kind is RecordKind.EFFECT_INTENT
    busy = summary(store, "busy")
    assert (busy["state"], busy["cycles_committed"]) == ("running (leased)", 1)
    assert busy["lease"]["live"] is True
    store.request_cancel("busy", "stop")
    assert summary(store, "busy")["state"] == "running (leased), cancel requested"
    gate.set()
    assert (await handle.result()).status is RunStatus.CANCELLED
    assert summary(store, "busy")["state"] == "cancelled"


async def test_a_run_given_up_between_segments_is_not_leased(store: CheckpointStore) -> None:
    steps = [call_tool("todo_write", {"todos": []}), call_tool("task_finish", {"message": "ok"})]
    config = scenario.config(
        store, "segmented", durability=Durability(yield_after=lambda cycles: cycles >= 1)
    )
    with pytest.raises(ExecutionYielded):
        await Runner.run(agent(*steps), "go", config=config)
    yielded = summary(store, "segmented")
    assert (yielded["state"], yielded["cycles_committed"]) == ("running (not leased)", 1)


@pytest.fixture(params=["sqlite", "redis"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL another process can open."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return f"redis://127.0.0.1:6379/0?key_prefix={request.getfixturevalue('redis_prefix')}"


async def test_a_killed_run_its_takeover_and_its_reconciliation(
    shared_url: str, tmp_path: Path
) -> None:
    argv = ["-m", "tests.durable.scenario", "start", shared_url, "killed", str(tmp_path), "3"]
    died = await asyncio.to_thread(
        subprocess.run, [sys.executable, *argv], cwd=ROOT,
        env=cli_env({CRASHPOINT_ENV: "mid_tool:2"}), capture_output=True, timeout=60,
    )  # fmt: skip
    assert died.returncode == -signal.SIGKILL, died.stderr
    store = open_checkpoint_store(shared_url)
    try:
        expire(store, "killed")  # on the store's clock
        killed = summary(store, "killed")
        assert (killed["state"], killed["cycles_committed"]) == ("running (lease expired)", 1)
        assert killed["lease"]["live"] is False and killed["agent"] == "durable"
        # A process took it over and has written nothing else yet: the last record names no
        # cycle, so the summary looks further back.
        lease = store.acquire_lease("killed", "heir", 60_000)
        assert lease is not None
        taken = NewRecord(RecordKind.LEASE_TAKEN, record_keys.lease_taken(lease.epoch), {})
        head = store.head("killed")
        assert head is not None
        store.append("killed", [taken], expected_seq=head.last_seq + 1, epoch=lease.epoch)
        taken_over = summary(store, "killed")
        assert (taken_over["state"], taken_over["cycles_committed"]) == ("running (leased)", 1)
        store.release_lease("killed", "heir", lease.epoch)

        paused = await Runner.resume_run(
            scenario.agent(tmp_path, 3), "killed", config=scenario.config(shared_url)
        )
        assert paused.status is RunStatus.FAILED  # waits for the host to reconcile
        waiting = summary(store, "killed")
        assert (waiting["state"], waiting["cycles_committed"]) == ("waiting for reconciliation", 1)
        # A cancel lands at the resume, before the call is settled or the model asked.
        store.request_cancel("killed", "give up")
        cancelled = await Runner.resume_run(
            scenario.agent(tmp_path, 3), "killed", config=scenario.config(shared_url)
        )
        assert cancelled.status is RunStatus.CANCELLED
        assert summary(store, "killed")["state"] == "cancelled"
    finally:
        store.close()
