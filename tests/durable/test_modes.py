"""Durable runs that stop for their host, execution modes, and the non-durable path."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig, Runner
from agentcycle.errors import ConfigurationError, RunLeaseHeld, RunNotFound
from agentcycle.events import RunStatus
from agentcycle.messages import ToolResult
from agentcycle.runtime.durable import durable_events, run_status
from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.stores.memory_checkpoints import MemoryCheckpointStore
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.base import SideEffect, ToolContext
from agentcycle.tools.builtin.files import read_file_tool, write_file_tool
from agentcycle.tools.builtin.shell import bash_tool
from agentcycle.tools.effects import EffectClass, effect_class_of, idempotency_key
from tests.durable import scenario


def _contiguous(store: CheckpointStore, run_id: str) -> list[int]:
    seqs = [e.seq for e in durable_events(store, run_id)]
    assert seqs == list(range(1, len(seqs) + 1))
    return seqs


async def test_ask_user_waits_in_the_log_and_resumes_with_the_answer(
    store: CheckpointStore,
) -> None:
    first = await Runner.run(
        Agent(model=ScriptedModel([call_tool("ask_user", {"question": "Which env?"})])),
        "deploy",
        config=scenario.config(store, "asks"),
    )
    assert first.status is RunStatus.WAIT_USER
    status = run_status(store, "asks")
    assert status is not None and (status["log_status"], status["waiting_for"]) == (
        "waiting",
        "user",
    )
    assert status["final_output"] == "Which env?"  # the question the host must answer
    with pytest.raises(ConfigurationError, match="waiting for the user"):
        await Runner.resume_run(
            Agent(model=ScriptedModel([])), "asks", config=scenario.config(store)
        )
    model = ScriptedModel([call_tool("task_finish", {"message": "staging it is"})])
    done = await Runner.resume_run(
        Agent(model=model), "asks", input="staging", config=scenario.config(store)
    )
    assert done.final_output == "staging it is"
    assert model.requests[0].messages[-1].content == "staging"
    seqs = _contiguous(store, "asks")
    assert run_status(store, "asks")["event_seq"] == seqs[-1]  # type: ignore[index]


async def test_an_approval_decided_later_runs_the_call_once(
    store: CheckpointStore, tmp_path: Path
) -> None:
    line = scenario.AppendLine(tmp_path / "a.txt")
    line.needs_approval = True  # type: ignore[misc]
    first = await Runner.run(
        Agent(model=ScriptedModel([call_tool("append_line", {"text": "x"})]), tools=[line]),
        "go",
        config=scenario.config(store, "approve"),
    )
    assert first.status is RunStatus.WAIT_USER
    status = run_status(store, "approve")
    assert status is not None and status["waiting_for"] == "approval"
    model = ScriptedModel([call_tool("task_finish", {"message": "ok"})])
    done = await Runner.resume_run(
        Agent(model=model, tools=[line]),
        "approve",
        approvals={first.to_state().pending_tool_calls[0].tool_call_id: "allow"},
        config=scenario.config(store),
    )
    assert done.status is RunStatus.COMPLETED
    assert (tmp_path / "a.txt").read_text() == "x\n"
    _contiguous(store, "approve")


async def test_a_live_lease_refuses_a_second_owner(tmp_path: Path) -> None:
    store = MemoryCheckpointStore()
    gate = asyncio.Event()

    class Blocking(scenario.AppendLine):
        async def invoke(self, ctx: ToolContext, arguments: dict) -> ToolResult:
            await gate.wait()
            return await super().invoke(ctx, arguments)

    model = ScriptedModel(
        [call_tool("append_line", {"text": "x"}), call_tool("task_finish", {"message": "ok"})]
    )
    config = scenario.config(store, "owned")
    handle = await Runner.start(
        Agent(model=model, tools=[Blocking(tmp_path / "a.txt")]), "go", config=config
    )
    async for event in handle.events():
        if event.type == "tool_call_started":
            break
    with pytest.raises(RunLeaseHeld):
        await Runner.resume_run(Agent(model=model), "owned", config=config)
    gate.set()
    assert (await handle.result()).status is RunStatus.COMPLETED


@pytest.mark.parametrize("durable", [False, True])
async def test_thread_execution_runs_the_loop_in_a_worker_thread(
    durable: bool, tmp_path: Path
) -> None:
    threads: list[str] = []

    class Recording(scenario.AppendLine):
        async def invoke(self, ctx: ToolContext, arguments: dict) -> ToolResult:
            threads.append(threading.current_thread().name)
            return await super().invoke(ctx, arguments)

    store = MemoryCheckpointStore()
    model = ScriptedModel(
        [call_tool("append_line", {"text": "x"}), call_tool("task_finish", {"message": "ok"})]
    )
    config = RunConfig(execution="thread", checkpoint_store=store if durable else None)
    handle = await Runner.start(
        Agent(model=model, tools=[Recording(tmp_path / "a.txt")]), "go", config=config
    )
    events = [e async for e in handle.events()]
    result = await handle.result()
    assert result.status is RunStatus.COMPLETED and result.final_output == "ok"
    assert threads == ["agentcycle-run"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "run_completed"
    if durable:
        stored = list(durable_events(store, result.run_id))
        assert [e.to_dict() for e in stored] == [e.to_dict() for e in events]


async def test_thread_execution_can_be_cancelled(tmp_path: Path) -> None:
    gate = threading.Event()

    class Slow(scenario.AppendLine):
        async def invoke(self, ctx: ToolContext, arguments: dict) -> ToolResult:
            gate.set()
            await asyncio.Event().wait()  # until cancelled
            raise AssertionError("unreachable")

    model = ScriptedModel([call_tool("append_line", {"text": "x"})])
    handle = await Runner.start(
        Agent(model=model, tools=[Slow(tmp_path / "a.txt")]),
        "go",
        config=RunConfig(execution="thread"),
    )
    async for event in handle.events():
        if event.type == "tool_call_started":
            break
    await handle.cancel("stop")
    result = await handle.result()
    assert result.status is RunStatus.CANCELLED


@pytest.mark.parametrize("mode", ["threaded", "process"])
async def test_an_unknown_execution_mode_is_a_configuration_error(mode: str) -> None:
    with pytest.raises(ConfigurationError, match="is not supported"):
        await Runner.run(
            Agent(model=ScriptedModel([])),
            "x",
            config=RunConfig(execution=mode),  # type: ignore[arg-type]
        )


async def test_a_celery_run_is_submitted_not_run_here() -> None:
    with pytest.raises(ConfigurationError, match=r"Runner\.submit"):
        await Runner.run(Agent(model=ScriptedModel([])), "x", config=RunConfig(execution="celery"))


def test_effect_classes_of_tools() -> None:
    class Undeclared:
        name = "x"
        side_effect = SideEffect.READ

    assert effect_class_of(Undeclared()) is EffectClass.NON_IDEMPOTENT
    assert effect_class_of(scenario.AppendKeyed(Path("b"))) is EffectClass.IDEMPOTENT
    assert effect_class_of(read_file_tool()) is EffectClass.READ
    assert effect_class_of(write_file_tool()) is EffectClass.NON_IDEMPOTENT
    assert effect_class_of(bash_tool()) is EffectClass.NON_IDEMPOTENT
    key = idempotency_key("run_1", 3, "call_1")
    assert key == idempotency_key("run_1", 3, "call_1") != idempotency_key("run_1", 4, "call_1")
    assert len(key) == 64


async def test_a_run_without_a_store_writes_nothing_durable() -> None:
    model = ScriptedModel([call_tool("task_finish", {"message": "ok"})])
    handle = await Runner.start(Agent(model=model), "go")
    events = [e async for e in handle.events()]
    await handle.result()
    assert handle._loop.env.durable is None  # type: ignore[union-attr]
    assert "checkpoint_created" not in {e.type for e in events}


async def test_a_cancelled_durable_run_ends_its_log(store: CheckpointStore, tmp_path: Path) -> None:
    class Slow(scenario.AppendLine):
        async def invoke(self, ctx: ToolContext, arguments: dict) -> ToolResult:
            await asyncio.Event().wait()  # until cancelled
            raise AssertionError("unreachable")

    model = ScriptedModel([call_tool("append_line", {"text": "x"})])
    handle = await Runner.start(
        Agent(model=model, tools=[Slow(tmp_path / "a.txt")]),
        "go",
        config=scenario.config(store, "cancelled"),
    )
    async for event in handle.events():
        if event.type == "tool_call_started":
            break
    await handle.cancel("stop")
    assert (await handle.result()).status is RunStatus.CANCELLED
    status = run_status(store, "cancelled")
    assert status is not None
    assert (status["log_status"], status["run_status"]) == ("terminal", "cancelled")
    assert list(durable_events(store, "cancelled"))[-1].type == "run_cancelled"
    _contiguous(store, "cancelled")


async def test_resuming_an_unknown_run_is_run_not_found(tmp_path: Path) -> None:
    config = RunConfig(checkpoint_store=f"sqlite:///{tmp_path / 'runs.db'}")
    with pytest.raises(RunNotFound):
        await Runner.resume_run(Agent(model=ScriptedModel([])), "nope", config=config)
    with pytest.raises(ConfigurationError, match=r"needs RunConfig\.checkpoint_store"):
        await Runner.resume_run(Agent(model=ScriptedModel([])), "nope")


@pytest.mark.parametrize("execution", ["inline", "thread"])
async def test_a_cancel_requested_through_the_store_ends_the_run(
    execution: str, store: CheckpointStore, tmp_path: Path
) -> None:
    class Slow(scenario.AppendLine):
        async def invoke(self, ctx: ToolContext, arguments: dict) -> ToolResult:
            await asyncio.Event().wait()  # until cancelled
            raise AssertionError("unreachable")

    handle = await Runner.start(
        Agent(
            model=ScriptedModel([call_tool("append_line", {"text": "x"})]), tools=[Slow(tmp_path)]
        ),
        "go",
        config=scenario.config(store, "stopped", execution=execution),
    )
    async for event in handle.events():
        if event.type == "tool_call_started":
            break
    assert store.request_cancel("stopped", "stop from another process")
    result = await handle.result()  # the next heartbeat (every lease_ttl / 3) sees it
    assert result.status is RunStatus.CANCELLED
    last = list(durable_events(store, "stopped"))[-1]
    assert last.type == "run_cancelled" and last.reason == "stop from another process"
    assert run_status(store, "stopped")["log_status"] == "terminal"  # type: ignore[index]
