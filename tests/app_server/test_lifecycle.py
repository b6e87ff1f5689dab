"""Shutdown, owner departure and a real model: every approval ends, every turn ends, and the
server runs against a settings file like the CLI does."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from agentcycle.app_server.client import AppServerClient
from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer, ServerToolCall
from tests.app_server.conftest import Spawn, ready


def _params(client: AppServerClient, method: str) -> list[dict[str, object]]:
    return [m["params"] for m in client.received if m.get("method") == method]


async def _pending_approval(spawn: Spawn) -> AppServerClient:
    client = await ready(spawn)
    await client.thread_start()
    await client.turn_start("thread_1", "hi")
    await client.wait_for("approval/request")
    return client


async def test_stdin_eof_ends_turns_and_approvals_then_exits_0(spawn: Spawn) -> None:
    client = await _pending_approval(spawn)
    assert await client.close() == 0
    (resolved,) = _params(client, "approval/resolved")
    assert (resolved["decision"], resolved["reason"]) == ("timeout", "server shutdown")
    (completed,) = _params(client, "turn/completed")
    assert completed["status"] == "failed"
    assert completed["completionReason"] == "cancelled"
    assert completed["error"] == "server shutdown"


async def test_sigterm_shuts_down_cleanly(spawn: Spawn) -> None:
    client = await _pending_approval(spawn)
    client.process.send_signal(signal.SIGTERM)
    assert await client.process.wait() == 0
    await client.close()
    assert [p["decision"] for p in _params(client, "approval/resolved")] == ["timeout"]
    assert [p["status"] for p in _params(client, "turn/completed")] == ["failed"]


async def test_the_owner_leaving_times_its_approval_out(spawn: Spawn) -> None:
    client = await spawn()
    await client.initialize("tests", experimental_api=True)
    await client.thread_start()
    await client.turn_start("thread_1", "hi")
    await client.wait_for("approval/request")
    (requested,) = _params(client, "approval/requested")
    left = await client.thread_unsubscribe("thread_1")
    assert (left.subscribed, left.closed) == (False, False)  # a turn is still running
    # Catch up from the approval on: the missed notifications, then live ones.
    await client.request_raw(
        "thread/resume", {"threadId": "thread_1", "afterCursor": requested["cursor"]}
    )
    resolved = await client.wait_for("approval/resolved")
    assert (resolved.params["decision"], resolved.params["reason"]) == (
        "timeout",
        "owner unsubscribed",
    )
    completed = await client.wait_for("turn/completed")
    assert completed.params["status"] == "completed"


async def test_a_settings_file_model(tmp_path: Path) -> None:
    with OpenAICompatServer() as server:
        server.enqueue(
            ChatReply(text="Working on it."),
            ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": "real done"})]),
        )
        settings = {
            "VERSION": "2",
            "endpoints": [{"id": "loop", "api_base": server.base_url, "api_key_env": "LOOP_KEY"}],
            "backends": {
                "local": {
                    "models": {
                        "loop-model": {
                            "id": "loop-model",
                            "endpoints": [{"endpoint_id": "loop", "model_id": "served"}],
                            "context_length": 8192,
                        }
                    }
                }
            },
        }
        path = tmp_path / "settings.json"
        path.write_text(json.dumps(settings))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCYCLE_")}
        args = ["--settings-file", str(path), "--backend", "local", "--model", "loop-model"]
        client = await AppServerClient.spawn(
            [*args, "--store", ":memory:"], cwd=tmp_path, env={**env, "LOOP_KEY": "sk-x"}
        )
        async with client:
            await client.initialize("tests")
            models = await client.request_raw("model/list")
            assert models["models"] == [
                {
                    "id": "local/loop-model",
                    "supportsTools": True,
                    "provider": "local",
                    "displayName": "loop-model",
                    "contextLength": 8192,
                }
            ]
            await client.thread_start()
            await client.turn_start("thread_1", "go")
            completed = await client.wait_for("turn/completed")
            assert completed.params["finalOutput"] == "real done"
        assert server.requests[0].json["model"] == "served"
