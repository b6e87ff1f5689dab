"""Conformance suite for :class:`~agentcycle.sessions.Session`.

Every session backend agentcycle ships passes these tests; run them against your own::

    import pytest
    from agentcycle.testing.session_conformance import SessionConformance

    class TestMySession(SessionConformance):
        @pytest.fixture
        def session_factory(self):
            store = MyStore(...)  # fresh and empty for every test
            yield lambda session_id: MySession(session_id, store)

``session_factory(session_id)`` returns a handle on the session ``session_id`` of one store:
handles with the same id share the conversation, different ids are isolated. The suite needs
pytest with pytest-asyncio in auto mode.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from agentcycle.agent import Agent
from agentcycle.errors import SessionError
from agentcycle.events import RunStatus
from agentcycle.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentcycle.run_config import RunConfig
from agentcycle.runner import Runner
from agentcycle.sessions.base import Session
from agentcycle.testing.scripted import ScriptedModel, call_tool

__all__ = ["SessionConformance", "SessionFactory", "sample_turn"]

SessionFactory = Callable[[str], Session]


def sample_turn(tag: str) -> list[Message]:
    """A realistic four-message turn whose every message mentions ``tag``."""
    return [
        UserMessage(content=f"question {tag}"),
        AssistantMessage(
            content=f"looking up {tag}",
            tool_calls=(ToolCall(id=f"call-{tag}", name="lookup", arguments=f'{{"q": "{tag}"}}'),),
            reasoning=f"need data for {tag}",
        ),
        ToolMessage(tool_call_id=f"call-{tag}", name="lookup", content=f"result {tag}"),
        AssistantMessage(content=f"answer {tag}"),
    ]


def _turns_in(items: list[Message], size: int) -> list[str]:
    """The tag of each consecutive ``size``-message block, asserting every block is one turn."""
    assert len(items) % size == 0, f"{len(items)} items do not split into turns of {size}"
    tags = []
    for start in range(0, len(items), size):
        block = items[start : start + size]
        tag = str(block[0].content).removeprefix("question ")
        assert block == sample_turn(tag), f"turn {tag} is interleaved or changed: {block}"
        tags.append(tag)
    return tags


class SessionConformance:
    """Behaviour every session backend shares. Provide a ``session_factory`` fixture."""

    @pytest.fixture
    def session_factory(self) -> SessionFactory:
        """Handles on sessions of one fresh store. Subclasses must override this."""
        raise NotImplementedError("subclasses provide a `session_factory` fixture")

    @pytest.fixture
    def session(self, session_factory: SessionFactory) -> Session:
        """A fresh, empty session."""
        return session_factory(f"conformance-{uuid.uuid4().hex[:12]}")

    # -- storing and reading ----------------------------------------------------------------

    async def test_a_new_session_is_empty(self, session_factory: SessionFactory) -> None:
        session = session_factory("empty-one")
        assert session.session_id == "empty-one"
        assert isinstance(session, Session)
        assert await session.get_items() == []
        assert await session.get_items(limit=3) == []
        assert await session.pop_item() is None

    async def test_every_message_kind_round_trips_in_order(self, session: Session) -> None:
        items: list[Message] = [
            SystemMessage(content="be brief"),
            UserMessage(
                content=[
                    TextPart(text="what is in this picture? — ünïcödé ✓"),
                    ImagePart(data="aGVsbG8=", media_type="image/png", detail="low"),
                ]
            ),
            *sample_turn("a"),
            ToolMessage(tool_call_id="c9", name="bash", content="exit 1", is_error=True),
            UserMessage(content="(hint)", synthetic=True),
        ]
        assert await session.add_items(items) is True
        stored = await session.get_items()
        assert stored == items
        assert [type(m) for m in stored] == [type(m) for m in items]

    async def test_limit_returns_the_latest_items_oldest_first(self, session: Session) -> None:
        await session.add_items(sample_turn("a"))
        await session.add_items(sample_turn("b"))
        everything = sample_turn("a") + sample_turn("b")
        assert await session.get_items(limit=3) == everything[-3:]
        assert await session.get_items(limit=1) == everything[-1:]
        assert await session.get_items(limit=100) == everything
        assert await session.get_items(limit=0) == []

    async def test_a_negative_limit_is_refused(self, session: Session) -> None:
        with pytest.raises(SessionError) as caught:
            await session.get_items(limit=-1)
        assert caught.value.code == "invalid_session_limit"

    # -- turns ------------------------------------------------------------------------------

    async def test_a_repeated_turn_id_appends_nothing(self, session: Session) -> None:
        assert await session.add_items(sample_turn("a"), turn_id="run-1") is True
        assert await session.add_items(sample_turn("a"), turn_id="run-1") is False
        assert await session.add_items(sample_turn("b"), turn_id="run-2") is True
        assert _turns_in(await session.get_items(), 4) == ["a", "b"]

    async def test_an_empty_turn_still_records_its_id(self, session: Session) -> None:
        assert await session.add_items([], turn_id="quiet") is True
        assert await session.add_items(sample_turn("late"), turn_id="quiet") is False
        assert await session.get_items() == []

    async def test_a_turn_with_a_non_message_stores_nothing(self, session: Session) -> None:
        bad: list[Any] = [UserMessage(content="fine"), {"role": "user", "content": "a dict"}]
        with pytest.raises(SessionError) as caught:
            await session.add_items(bad, turn_id="t1")
        assert caught.value.code == "invalid_session_item"
        assert await session.get_items() == []
        assert await session.add_items(sample_turn("a"), turn_id="t1") is True  # id not taken

    # -- pop and clear ----------------------------------------------------------------------

    async def test_pop_item_removes_the_latest_message(self, session: Session) -> None:
        turn = sample_turn("a")
        await session.add_items(turn, turn_id="t1")
        assert await session.pop_item() == turn[-1]
        assert await session.pop_item() == turn[-2]
        assert await session.get_items() == turn[:2]
        assert await session.add_items(turn, turn_id="t1") is False  # the turn stays recorded
        await session.add_items([UserMessage(content="next")])
        assert await session.get_items() == [*turn[:2], UserMessage(content="next")]

    async def test_clear_forgets_messages_and_turn_ids(self, session: Session) -> None:
        await session.add_items(sample_turn("a"), turn_id="t1")
        await session.clear()
        assert await session.get_items() == []
        assert await session.pop_item() is None
        assert await session.add_items(sample_turn("b"), turn_id="t1") is True
        assert _turns_in(await session.get_items(), 4) == ["b"]

    # -- identity ---------------------------------------------------------------------------

    async def test_sessions_with_different_ids_are_isolated(
        self, session_factory: SessionFactory
    ) -> None:
        first, second = session_factory("iso-first"), session_factory("iso-second")
        await first.add_items(sample_turn("a"), turn_id="shared-id")
        assert await second.get_items() == []
        assert await second.add_items(sample_turn("b"), turn_id="shared-id") is True
        await first.clear()
        assert _turns_in(await second.get_items(), 4) == ["b"]
        assert await first.get_items() == []

    async def test_handles_with_one_id_share_the_conversation(
        self, session_factory: SessionFactory
    ) -> None:
        writer, reader = session_factory("shared"), session_factory("shared")
        await writer.add_items(sample_turn("a"), turn_id="t1")
        assert _turns_in(await reader.get_items(), 4) == ["a"]
        assert await reader.add_items(sample_turn("a"), turn_id="t1") is False
        assert await reader.pop_item() == sample_turn("a")[-1]
        assert len(await writer.get_items()) == 3

    # -- concurrency ------------------------------------------------------------------------

    async def test_concurrent_turns_are_all_kept_and_never_interleave(
        self, session: Session
    ) -> None:
        tags = [f"w{i}" for i in range(16)]
        results = await asyncio.gather(
            *(session.add_items(sample_turn(tag), turn_id=tag) for tag in tags)
        )
        assert all(results)
        assert sorted(_turns_in(await session.get_items(), 4)) == sorted(tags)

    async def test_concurrent_retries_of_one_turn_append_it_once(self, session: Session) -> None:
        results = await asyncio.gather(
            *(session.add_items(sample_turn("once"), turn_id="retried") for _ in range(8))
        )
        assert sorted(results) == [False] * 7 + [True]
        assert _turns_in(await session.get_items(), 4) == ["once"]

    # -- with a runner ----------------------------------------------------------------------

    async def test_runs_on_the_session_continue_the_conversation(self, session: Session) -> None:
        config = RunConfig(session=session, run_id="run-first")
        first = ScriptedModel([call_tool("task_finish", {"message": "Lisbon it is"})])
        done = await Runner.run(Agent(model=first), "Plan a trip to Lisbon", config=config)
        assert done.status is RunStatus.COMPLETED
        turn = done.messages[1:]  # everything but the system prompt
        assert await session.get_items() == turn

        second = ScriptedModel([call_tool("task_finish", {"message": "Four days"})])
        await Runner.run(
            Agent(model=second), "Make it four days", config=RunConfig(session=session)
        )
        seen = second.requests[0].messages
        assert seen[1:-1] == turn and seen[-1] == UserMessage(content="Make it four days")
        assert len(await session.get_items()) == 2 * len(turn)

        retry = ScriptedModel([call_tool("task_finish", {"message": "Lisbon again"})])
        await Runner.run(Agent(model=retry), "Plan a trip to Lisbon", config=config)
        assert len(await session.get_items()) == 2 * len(turn)  # run-first is stored once
