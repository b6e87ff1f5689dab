"""What a ``ChatSession`` costs over driving the runs yourself.

A conversation of ``--turns`` turns with an instant scripted model (one tool call, then
``task_finish``, per turn), on a ``MemorySession``, driven two ways in the same process:

- ``handle``: ``Runner.start`` per turn with ``RunConfig(session=...)``, reading every event of
  ``handle.events()`` and awaiting the result (what a host writes by hand);
- ``chat``: the same turns as ``ChatSession.follow_up`` calls queued up front, with one
  subscribed listener, until ``wait_idle``.

Prints ms per turn for each (best of ``--repeat``, alternating), the difference per turn and
per stream entry, and the cost of replaying the whole stream to a late subscriber (µs per
entry). Run: ``.venv/bin/python benchmarks/chat_session.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.chat import ChatSession, StreamEntry
from agentcycle.messages import UserMessage
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.sessions import MemorySession
from agentcycle.testing import ScriptedModel, call_tool


@function_tool(run_in_thread=False)
def tick(n: int) -> str:
    """A trivial tool."""
    return "ok"


def model_fn(request: ModelRequest) -> ModelResponse:
    """One tick per turn, then finish."""
    if isinstance(request.messages[-1], UserMessage):
        return call_tool("tick", {"n": 1})
    return call_tool("task_finish", {"message": "done"})


def agent() -> Agent:
    return Agent(model=ScriptedModel(model_fn, record_requests=False), tools=[tick])


async def by_handle(turns: int) -> float:
    config = RunConfig(session=MemorySession("bench-handle"))
    begin = time.perf_counter()
    a = agent()
    for i in range(turns):
        handle = await Runner.start(a, f"turn {i}", config=config)
        async for _ in handle.events():
            pass
        await handle.result()
    return time.perf_counter() - begin


async def by_chat(turns: int) -> tuple[float, int, float]:
    begin = time.perf_counter()
    seen: list[StreamEntry] = []
    async with ChatSession(agent(), session=MemorySession("bench-chat")) as chat:
        chat.subscribe(seen.append)
        for i in range(turns):
            await chat.follow_up(f"turn {i}")
        await chat.wait_idle()
        elapsed = time.perf_counter() - begin
        replay_begin = time.perf_counter()
        late: list[StreamEntry] = []
        chat.subscribe(late.append, since=0).close()
        replay = time.perf_counter() - replay_begin
    return elapsed, len(late), replay


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    await by_handle(10)  # warm up imports and adapters
    await by_chat(10)
    handle_best = chat_best = replay_best = float("inf")
    entries = 0
    for _ in range(args.repeat):
        handle_best = min(handle_best, await by_handle(args.turns))
        elapsed, entries, replay = await by_chat(args.turns)
        chat_best = min(chat_best, elapsed)
        replay_best = min(replay_best, replay)
    per_turn_handle = handle_best / args.turns * 1e3
    per_turn_chat = chat_best / args.turns * 1e3
    per_turn_entries = entries / args.turns
    print(f"turns: {args.turns}, stream entries: {entries} ({per_turn_entries:.1f} per turn)")
    print(f"handle: {per_turn_handle:.3f} ms per turn")
    print(f"chat:   {per_turn_chat:.3f} ms per turn")
    diff_us = (per_turn_chat - per_turn_handle) * 1e3
    print(
        f"chat session overhead: {diff_us:+.1f} µs per turn "
        f"({diff_us / per_turn_entries:+.2f} µs per stream entry)"
    )
    print(f"replay of the whole stream: {replay_best / entries * 1e6:.3f} µs per entry")


if __name__ == "__main__":
    asyncio.run(main())
