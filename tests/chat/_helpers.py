"""What the chat-session tests share: a step tool held at a gate, and stream readers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from agentcycle import ToolResult, function_tool
from agentcycle.chat import ChatSession, StreamEntry
from agentcycle.events import RunEvent
from agentcycle.messages import Finish, Message, UserMessage, content_text
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.sessions import MemorySession
from agentcycle.testing import call_tool
from agentcycle.tools.base import Tool


class Gate:
    """Holds a tool call until the test opens it; ``entered`` says one is waiting."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        self.ran: list[str] = []

    def open(self) -> None:
        self.opened.set()

    def step_tool(self) -> Tool:
        gate = self

        @function_tool
        async def step(name: str) -> str:
            """A step that waits for the test."""
            gate.ran.append(name)
            gate.entered.set()
            await gate.opened.wait()
            return f"did {name}"

        return step

    def finish_tool(self) -> Tool:
        """A tool that waits at the gate and then finishes the run (its batch has nothing
        after it, so a steer sent while it waits comes too late for the run)."""
        gate = self

        @function_tool
        async def wrap_up(summary: str) -> ToolResult:
            """Finish after the gate opens."""
            gate.ran.append(summary)
            gate.entered.set()
            await gate.opened.wait()
            return ToolResult.success(summary, directive=Finish(message=summary))

        return wrap_up


def last_user_text(request: ModelRequest) -> str:
    """The text of the latest user message a model request carries."""
    users = [m for m in request.messages if isinstance(m, UserMessage)]
    return content_text(users[-1].content)


def echo_finish(request: ModelRequest) -> ModelResponse:
    """A model that finishes every run by echoing the latest user message."""
    return call_tool("task_finish", {"message": f"re: {last_user_text(request)}"})


async def first_entry(
    chat: ChatSession, match: Callable[[RunEvent], bool], since: int | None = None
) -> StreamEntry:
    """The first entry of the stream (after ``since``) whose event matches."""
    async with contextlib.aclosing(chat.events(since)) as entries:
        async for entry in entries:
            if match(entry.event):
                return entry
    raise AssertionError("the stream ended without a matching event")


def of_type(name: str) -> Callable[[RunEvent], bool]:
    return lambda event: event.type == name


def snapshot(chat: ChatSession) -> list[StreamEntry]:
    """Every entry the stream holds now."""
    entries: list[StreamEntry] = []
    chat.subscribe(entries.append).close()
    return entries


class SlowStore(MemorySession):
    """A session store that makes the next run wait at ``get_items`` until released (a run
    being started, for tests that act in that moment). Blocks a thread, so the release may
    come from any thread."""

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.loading = threading.Event()
        self.release = threading.Event()

    async def get_items(self, limit: int | None = None) -> list[Message]:
        self.loading.set()
        await asyncio.to_thread(self.release.wait, 30)
        return await super().get_items(limit)
