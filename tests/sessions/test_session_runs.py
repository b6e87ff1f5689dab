"""Runs on a session: what each ending stores, resuming through the session, retries, events."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig, Runner, RunState, RunStatus, function_tool
from agentcycle.errors import ConfigurationError, ModelError, SessionStorageError
from agentcycle.messages import AssistantMessage, Message, ToolMessage, UserMessage
from agentcycle.sessions import MemorySession, SQLiteSession
from agentcycle.testing import ScriptedModel, call_tool


def finishing(message: str = "done") -> ScriptedModel:
    return ScriptedModel([call_tool("task_finish", {"message": message})])


def asking(question: str = "Which environment?") -> ScriptedModel:
    return ScriptedModel([call_tool("ask_user", {"question": question})])


@function_tool(needs_approval=True)
def deploy(target: str) -> str:
    """Deploy the app.

    Args:
        target: Where to deploy.
    """
    return f"deployed to {target}"


async def test_an_ask_user_run_resumed_through_its_session(tmp_path: Path) -> None:
    session = SQLiteSession("chat", tmp_path / "sessions.sqlite3")
    config = RunConfig(session=session)
    waiting = await Runner.run(Agent(model=asking()), "Deploy the app", config=config)
    assert waiting.status is RunStatus.WAIT_USER
    assert await session.get_items() == waiting.messages[1:]  # input, ask_user call, its result

    state = RunState.from_json(waiting.to_state().to_json())  # as if from another process
    model = finishing("deployed to staging")
    done = await Runner.resume(Agent(model=model), state, input="staging", config=config)
    assert done.status is RunStatus.COMPLETED
    seen = model.requests[0].messages
    assert seen[:-1] == waiting.messages and seen[-1] == UserMessage(content="staging")
    stored = await session.get_items()
    assert stored == done.messages[1:]  # the continuation was appended once, after the turn
    assert len(stored) == len(waiting.messages[1:]) + 3  # answer, task_finish call, result


async def test_an_ask_user_run_answered_by_the_next_run_on_the_session() -> None:
    session = MemorySession("chat")
    config = RunConfig(session=session)
    waiting = await Runner.run(Agent(model=asking()), "Deploy the app", config=config)
    model = finishing()
    await Runner.run(Agent(model=model), "staging", config=config)
    seen = model.requests[0].messages
    assert seen[1:-1] == waiting.messages[1:]
    assert isinstance(seen[-2], ToolMessage) and seen[-2].name == "ask_user"
    assert seen[-1] == UserMessage(content="staging")


async def test_a_run_waiting_for_approval_resumes_through_its_session() -> None:
    session = MemorySession("ops")
    config = RunConfig(session=session)
    agent = Agent(model=ScriptedModel([call_tool("deploy", {"target": "prod"})]), tools=[deploy])
    waiting = await Runner.run(agent, "ship it", config=config)
    assert waiting.status is RunStatus.WAIT_USER
    stored = await session.get_items()
    assert isinstance(stored[-1], AssistantMessage) and stored[-1].tool_calls[0].name == "deploy"

    request_id = waiting.to_state().pending_tool_calls[0].request_id
    assert request_id is not None
    resumed_agent = Agent(model=finishing("shipped"), tools=[deploy])
    done = await Runner.resume(
        resumed_agent, waiting.to_state(), approvals={request_id: "allow"}, config=config
    )
    assert done.status is RunStatus.COMPLETED
    stored = await session.get_items()
    assert stored == done.messages[1:]
    result = stored[len(waiting.messages) - 1]
    assert isinstance(result, ToolMessage) and result.content == "deployed to prod"


async def test_a_failed_run_stores_nothing_and_its_retry_stores_the_turn_once() -> None:
    session = MemorySession("retry")
    config = RunConfig(session=session, run_id="run-42")
    boom = ScriptedModel([ModelError("provider down", code="server_error")])
    failed = await Runner.run(Agent(model=boom), "summarise", config=config)
    assert failed.status is RunStatus.FAILED
    assert await session.get_items() == []

    done = await Runner.run(Agent(model=finishing()), "summarise", config=config)
    assert await session.get_items() == done.messages[1:]

    handle = await Runner.start(Agent(model=finishing()), "summarise", config=config)
    await handle.result()
    events = [e async for e in handle.events()]
    assert await session.get_items() == done.messages[1:]  # the same run id appends once
    notes = [e for e in events if e.type == "diagnostic"]
    assert [(n.code, n.details) for n in notes] == [
        ("session_turn_already_stored", {"turn_id": "run-42"})
    ]


async def test_a_run_out_of_cycles_stores_its_turn() -> None:
    session = MemorySession("long")
    model = ScriptedModel([call_tool("todo_write", {"todos": []})])
    result = await Runner.run(
        Agent(model=model), "work", config=RunConfig(session=session, max_cycles=1)
    )
    assert result.status is RunStatus.MAX_CYCLES
    assert await session.get_items() == result.messages[1:]


async def test_a_cancelled_run_stores_nothing_until_its_resume_ends() -> None:
    session = MemorySession("interrupted")
    config = RunConfig(session=session)
    started = asyncio.Event()

    async def slow_lookup() -> str:
        """Look something up slowly."""
        started.set()
        await asyncio.Event().wait()  # until cancelled
        return "never"

    agent = Agent(model=ScriptedModel([call_tool("slow_lookup", {})]), tools=[slow_lookup])
    handle = await Runner.start(agent, "look it up", config=config)
    await started.wait()
    await handle.cancel()
    cancelled = await handle.result()
    assert cancelled.status is RunStatus.CANCELLED
    assert await session.get_items() == []

    resumed = Agent(model=finishing("gave up on the lookup"), tools=[slow_lookup])
    done = await Runner.resume(resumed, cancelled.to_state(), config=config)
    assert done.status is RunStatus.COMPLETED
    assert await session.get_items() == done.messages[1:]  # the interrupted part too, once


async def test_a_run_resumes_only_with_the_session_it_started_with() -> None:
    waiting = await Runner.run(
        Agent(model=asking()), "deploy", config=RunConfig(session=MemorySession("a"))
    )
    for config in (RunConfig(session=MemorySession("b")), None):
        with pytest.raises(ConfigurationError, match="started with session 'a'"):
            await Runner.resume(
                Agent(model=finishing()), waiting.to_state(), input="x", config=config
            )
    plain = await Runner.run(Agent(model=asking()), "deploy")
    with pytest.raises(ConfigurationError, match="started with session None"):
        await Runner.resume(
            Agent(model=finishing()),
            plain.to_state(),
            input="x",
            config=RunConfig(session=MemorySession("a")),
        )


async def test_events_carry_the_session_id_and_report_the_append() -> None:
    handle = await Runner.start(
        Agent(model=finishing()), "hi", config=RunConfig(session=MemorySession("s-1"))
    )
    await handle.result()
    events = [e async for e in handle.events()]
    assert {e.session_id for e in events} == {"s-1"}
    assert [e.type for e in events[-2:]] == ["session_persisted", "run_completed"]


async def test_a_session_that_cannot_store_the_turn_fails_the_run(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    session = SQLiteSession("locked", path, busy_timeout=0.05)
    await session.clear()  # creates the file and its schema
    blocker = sqlite3.connect(path, isolation_level=None)

    def hold_the_write_lock() -> str:
        """Start a write transaction on the session file and keep it open."""
        blocker.execute("BEGIN IMMEDIATE")
        return "locked"

    agent = Agent(
        model=ScriptedModel(
            [call_tool("hold_the_write_lock", {}), call_tool("task_finish", {"message": "ok"})]
        ),
        tools=[function_tool(hold_the_write_lock, run_in_thread=False)],
    )
    handle = await Runner.start(agent, "hi", config=RunConfig(session=session))
    result = await handle.result()
    blocker.execute("ROLLBACK")
    blocker.close()
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "session_storage_error"
    assert "save_session_turn" in result.error["message"]
    assert "session_persisted" not in [e.type async for e in handle.events()]
    assert await session.get_items() == []
    # The turn is not lost: once the store is back, the host stores it, exactly once.
    assert await result.save_session_turn(session) is True
    stored = await session.get_items()
    assert [type(m).__name__ for m in stored] == [
        "UserMessage",
        "AssistantMessage",
        "ToolMessage",
        "AssistantMessage",
        "ToolMessage",
    ]
    assert await result.save_session_turn(session) is False
    assert len(await session.get_items()) == 5


class LockedOnce(SQLiteSession):
    """A SQLite session whose file another connection holds locked until the first write
    attempt fails on it (a real lock, released by the failure)."""

    def __init__(self, session_id: str, path: Path) -> None:
        super().__init__(session_id, path, busy_timeout=0.05)
        self.blocker: sqlite3.Connection | None = None
        self.failures = 0

    async def add_items(self, items: Sequence[Message], *, turn_id: str | None = None) -> bool:
        try:
            return await super().add_items(items, turn_id=turn_id)
        except SessionStorageError:
            self.failures += 1
            if self.blocker is not None:
                self.blocker.execute("ROLLBACK")
                self.blocker.close()
                self.blocker = None
            raise


async def test_a_turn_the_store_refuses_once_is_stored_on_retry(tmp_path: Path) -> None:
    session = LockedOnce("retry", tmp_path / "sessions.sqlite3")
    await session.clear()

    def lock_the_file() -> str:
        """Hold the session file's write lock."""
        session.blocker = sqlite3.connect(tmp_path / "sessions.sqlite3", isolation_level=None)
        session.blocker.execute("BEGIN IMMEDIATE")
        return "locked"

    agent = Agent(
        model=ScriptedModel(
            [call_tool("lock_the_file", {}), call_tool("task_finish", {"message": "ok"})]
        ),
        tools=[function_tool(lock_the_file, run_in_thread=False)],
    )
    result = await Runner.run(agent, "hi", config=RunConfig(session=session))
    assert result.completed
    assert session.failures == 1
    assert len(await session.get_items()) == 5
