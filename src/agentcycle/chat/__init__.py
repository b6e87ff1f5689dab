"""Interactive sessions for chat-style hosts: one conversation across runs, with prompt, steer
and follow-up queues and one numbered event stream.

    from agentcycle.chat import ChatSession

    async with ChatSession(agent) as chat:
        chat.subscribe(lambda entry: print(entry.position, entry.event.type))
        await chat.prompt("Plan the release")
        await chat.steer("Skip the changelog")      # before the run's next model call
        await chat.follow_up("Now draft the notes")  # its own run, after this one
        await chat.wait_idle()

``ChatSession`` is async; ``SyncChatSession`` is its twin for synchronous code. Both are built
on ``Runner.start`` / ``RunHandle`` and a session store (``agentcycle.sessions``); the user
guide is ``docs/sessions.md``.
"""

from __future__ import annotations

from agentcycle.chat._stream import StreamEntry, StreamListener, Subscription
from agentcycle.chat.session import ChatSession, SessionInput
from agentcycle.chat.sync import SyncChatSession, SyncSubscription

__all__ = [
    "ChatSession",
    "SessionInput",
    "StreamEntry",
    "StreamListener",
    "Subscription",
    "SyncChatSession",
    "SyncSubscription",
]
