"""What the Celery driver builds on, in one process: a cancel requested through the store
stops the run before the next model or tool call, an execution yields its run at a cycle
boundary, the crash-loop guard fails a run whose processes keep dying, and ``Runner.submit``
refuses what workers could not run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig, Runner
from agentcycle.errors import ConfigurationError, CrashLoop, RunNotFound
from agentcycle.events import RunStatus
from agentcycle.messages import ToolResult
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.runtime.crashpoints import CRASHPOINT_ENV
from agentcycle.runtime.durable import Durability, ExecutionYielded, durable_events, run_status
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.stores.run_records import RecordKind
from agentcycle.submitted import SubmittedRun
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.base import ToolContext
from tests.durable import scenario

ROOT = Path(__file__).resolve().parents[2]
SLOW_BEATS = Durability(lease_ttl=600)
"""A heartbeat every 200 s: any cancel seen within a test was seen by the pre-call check."""


def _contiguous(store: CheckpointStore, run_id: str) -> None:
    seqs = [e.seq for e in durable_events(store, run_id)]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_a_cancel_through_the_store_stops_the_next_model_call(
    store: CheckpointStore, tmp_path: Path
) -> None:
    calls: list[int] = []

    def step(request: ModelRequest) -> ModelResponse:
        calls.append(len(calls) + 1)
        store.request_cancel("pre-model", "from another process")  # during model call 1
        return call_tool("append_keyed", {"text": "L1"})

    agent = Agent(model=ScriptedModel(step), tools=[scenario.AppendKeyed(tmp_path / "b.txt")])
    config = scenario.config(store, "pre-model", durability=SLOW_BEATS)
    result = await Runner.run(agent, "go", config=config)
    assert result.status is RunStatus.CANCELLED
    assert calls == [1]  # no second model call
    # The tool call of cycle 1 was not started either: the check runs before every call.
    assert not (tmp_path / "b.txt").exists()
    last = list(durable_events(store, "pre-model"))[-1]
    assert last.type == "run_cancelled" and last.reason == "from another process"
    _contiguous(store, "pre-model")


async def test_a_cancel_through_the_store_stops_the_next_tool_call(
    store: CheckpointStore, tmp_path: Path
) -> None:
    class Cancelling(scenario.AppendLine):
        async def invoke(self, ctx: ToolContext, arguments: dict) -> ToolResult:
            store.request_cancel("pre-tool", "stop")
            return await super().invoke(ctx, arguments)

    model = ScriptedModel(
        [
            ModelResponse(
                tool_calls=(
                    call_tool("append_line", {"text": "first"})
                    .tool_calls[0]
                    .model_copy(update={"id": "a"}),
                    call_tool("append_keyed", {"text": "second"})
                    .tool_calls[0]
                    .model_copy(update={"id": "b"}),
                ),
                finish_reason="tool_calls",
            )
        ]
    )
    agent = Agent(
        model=model,
        tools=[Cancelling(tmp_path / "a.txt"), scenario.AppendKeyed(tmp_path / "b.txt")],
    )
    result = await Runner.run(
        agent, "go", config=scenario.config(store, "pre-tool", durability=SLOW_BEATS)
    )
    assert result.status is RunStatus.CANCELLED
    assert (tmp_path / "a.txt").read_text() == "first\n"
    assert not (tmp_path / "b.txt").exists()  # the second call never started
    _contiguous(store, "pre-tool")


async def test_an_execution_yields_its_run_at_a_cycle_boundary(
    store: CheckpointStore, tmp_path: Path
) -> None:
    options = Durability(lease_ttl=scenario.LEASE_TTL, yield_after=lambda cycles: cycles >= 1)
    handle = await Runner.start(
        scenario.agent(tmp_path, 3), "go", config=scenario.config(store, "y", durability=options)
    )
    with pytest.raises(ExecutionYielded) as yielded:
        await handle.result()
    assert yielded.value.cycles == 1
    head = store.head("y")
    assert head is not None and head.lease is None  # released: the next owner starts at once
    status = run_status(store, "y")
    assert status is not None and status["cycles_committed"] == 1
    result = await Runner.resume_run(
        scenario.agent(tmp_path, 3), "y", config=scenario.config(store)
    )
    assert result.status is RunStatus.COMPLETED
    records = store.read("y")
    assert not [r for r in records if r.kind is RecordKind.LEASE_TAKEN]  # a handoff, no takeover
    assert (tmp_path / "a.txt").read_text().splitlines() == ["L1", "L2", "L3"]
    _contiguous(store, "y")


def _scenario(mode: str, url: str, run_id: str, directory: Path, crash: str) -> int:
    env = {**os.environ, CRASHPOINT_ENV: crash}
    argv = [sys.executable, "-m", "tests.durable.scenario", mode, url, run_id, str(directory)]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=60).returncode


async def test_a_run_that_keeps_killing_its_process_fails_with_crash_loop(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    crash = "before_commit:2"
    assert _scenario("start", url, "loop", tmp_path, crash) == -signal.SIGKILL
    assert _scenario("resume", url, "loop", tmp_path, crash) == -signal.SIGKILL  # takeover 1
    assert _scenario("resume", url, "loop", tmp_path, crash) == -signal.SIGKILL  # takeover 2
    with pytest.raises(CrashLoop) as caught:  # the third takeover in cycle 2: no more tries
        await Runner.resume_run(scenario.agent(tmp_path, 3), "loop", config=scenario.config(url))
    assert caught.value.details == {"run_id": "loop", "cycle": 2, "takeovers": 3}
    store = open_checkpoint_store(url)
    try:
        status = run_status(store, "loop")
        assert status is not None
        assert (status["log_status"], status["run_status"]) == ("terminal", "failed")
        assert status["error"]["code"] == "crash_loop"
        last = list(durable_events(store, "loop"))[-1]
        assert last.type == "run_failed" and last.error_code == "crash_loop"
        _contiguous(store, "loop")
    finally:
        store.close()


async def test_submit_refuses_what_workers_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="a URL the workers can open"):
        await Runner.submit("tests.celery.crash_app:agent", "go", config=RunConfig())
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with pytest.raises(ConfigurationError, match="a URL the workers can open"):
        await Runner.submit(
            "tests.celery.crash_app:agent", "go", config=RunConfig(checkpoint_store="memory:")
        )
    with pytest.raises(ConfigurationError, match="expected 'module:name'"):
        await Runner.submit("no_colon", "go", config=RunConfig(checkpoint_store=url))
    with pytest.raises(ConfigurationError, match="cannot be imported"):
        await Runner.submit("no.such.module:agent", "go", config=RunConfig(checkpoint_store=url))
    with pytest.raises(ConfigurationError, match="must give an Agent"):
        await Runner.submit("os:sep", "go", config=RunConfig(checkpoint_store=url))


def test_following_an_unknown_run_is_run_not_found(tmp_path: Path) -> None:
    with SubmittedRun("nope", f"sqlite:///{tmp_path / 'runs.db'}") as run:
        with pytest.raises(RunNotFound):
            run.status()
        with pytest.raises(RunNotFound):
            list(run.events())
