"""Conversation history across runs: a session remembers what earlier runs said.

Each run on ``RunConfig(session=...)`` starts from the session's messages and appends its own
turn when it ends. ``SQLiteSession`` keeps them in a file, so a later process continues the
conversation too (``MemorySession`` and ``RedisSession`` work the same way).

Run: python examples/05_session.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from agentcycle import Agent, RunConfig, Runner
from agentcycle.messages import UserMessage, content_text
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.sessions import SQLiteSession
from agentcycle.testing import ScriptedModel, call_tool

INTRO = "My name is "


def remembering_model(request: ModelRequest) -> ModelResponse:
    """A stand-in for an LLM that answers from the whole conversation it is shown."""
    said = [content_text(m.content) for m in request.messages if isinstance(m, UserMessage)]
    names = [text.removeprefix(INTRO).rstrip(".") for text in said if text.startswith(INTRO)]
    if said[-1].startswith(INTRO):
        answer = f"Nice to meet you, {names[-1]}."
    else:
        answer = f"Your name is {names[-1]}." if names else "You have not told me your name."
    return call_tool("task_finish", {"message": answer})


def main() -> None:
    agent = Agent(model=ScriptedModel(remembering_model))
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "sessions.sqlite3"
        chat = RunConfig(session=SQLiteSession("user-42", store))

        print("first run:", Runner.run_sync(agent, "My name is Ada.", config=chat).final_output)
        later = Runner.run_sync(agent, "What is my name?", config=chat)
        print("second run remembered:", later.final_output)

        fresh = RunConfig(session=SQLiteSession("user-7", store))
        print(
            "another session:",
            Runner.run_sync(agent, "What is my name?", config=fresh).final_output,
        )


if __name__ == "__main__":
    main()
