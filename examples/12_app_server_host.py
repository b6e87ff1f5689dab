"""A UI host driving the app server: spawn it, start a thread, render a turn as its items
stream in, and answer the approval it asks for.

The server speaks JSON-RPC 2.0 over stdio (the v1 app-server protocol); any language can
host it. This host uses the typed Python client and an offline scripted model.

Run: python examples/12_app_server_host.py
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from agentcycle.app_server.client import AppServerClient
from agentcycle.app_server.protocol import ApprovalRequestParams

REPLIES = [  # what the scripted model answers, one entry per model call
    {
        "content": "Let me count the files.",
        "tool_calls": [{"id": "call_1", "name": "bash", "arguments": {"command": "ls | wc -l"}}],
    },
    {
        "content": "",
        "tool_calls": [
            {"id": "call_2", "name": "task_finish", "arguments": {"message": "Counted them."}}
        ],
    },
]


async def approve(request: ApprovalRequestParams) -> dict[str, str]:
    """A real host would show ``request.preview`` and ask its user."""
    print(f"approval asked: {request.preview}")
    return {"decision": "allow", "reason": "looks harmless"}


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "replies.json"
        script.write_text(json.dumps(REPLIES))
        args = ["--scripted-model", str(script), "--store", ":memory:"]
        async with await AppServerClient.spawn(args, on_approval=approve, cwd=folder) as client:
            await client.initialize("example-host")
            thread = await client.thread_start(cwd=folder)
            await client.turn_start(thread.thread_id, "How many files are here?")
            async for note in client.notifications():
                item = note.params
                if note.method == "item/completed" and item["type"] == "agentMessage":
                    print(f"assistant: {item['payload']['text']}")
                elif note.method == "item/completed" and item["type"] == "toolCall":
                    print(f"tool {item['payload']['toolName']}: {item['status']}")
                elif note.method == "turn/completed":
                    print(f"turn {item['status']}: {item.get('finalOutput')}")
                    break
            snapshot = await client.thread_read(thread.thread_id)
            print(f"stored: {len(snapshot.items)} items in {len(snapshot.turns)} turn")


if __name__ == "__main__":
    asyncio.run(main())
