"""Turns and approvals end to end against a real server subprocess with a scripted model:
ordering, items from the run's events, allow / allow_session / deny / timeout / interrupt,
approval/resolve, steer, follow-up and the errors of the turn methods."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from agentcycle.app_server import protocol as p
from agentcycle.app_server.client import AppServerClient, AppServerError, ServerMessage
from agentcycle.messages import content_text
from agentcycle.sessions.sqlite import SQLiteSession
from tests.app_server.conftest import BASH_THEN_FINISH, Spawn, ready

FINISH = {
    "content": "",
    "tool_calls": [{"id": "call_9", "name": "task_finish", "arguments": {"message": "again"}}],
}


def _answer(decision: str, reason: str = "ok") -> Any:
    async def answer(request: p.ApprovalRequestParams) -> dict[str, Any]:
        assert request.tool_name == "bash"
        return {"decision": decision, "reason": reason}

    return answer


async def _run_turn(client: AppServerClient, text: str = "hi") -> ServerMessage:
    await client.thread_start()
    started = await client.turn_start("thread_1", text)
    assert started.wire() == {"threadId": "thread_1", "turnId": "turn_1", "status": "running"}
    return await client.wait_for("turn/completed")


def _methods(client: AppServerClient) -> list[str]:
    return [m.get("method", f"response:{m.get('id')}") for m in client.received]


def _first(client: AppServerClient, method: str) -> dict[str, Any]:
    """The params of the first ``method`` notification the server sent."""
    return next(m["params"] for m in client.received if m.get("method") == method)


def _index(client: AppServerClient, method: str, **match: Any) -> int:
    for i, message in enumerate(client.received):
        params = message.get("params") or {}
        if message.get("method") == method and all(params.get(k) == v for k, v in match.items()):
            return i
    raise AssertionError(f"{method} {match} not sent")


async def test_a_turn_with_an_approval_allowed_for_the_session(spawn: Spawn) -> None:
    client = await ready(spawn, on_approval=_answer("allow_session"))
    completed = await _run_turn(client)
    params = completed.params
    assert params["status"] == "completed"
    assert params["finalOutput"] == "done"
    assert params["completionReason"] == "tool_finish"
    assert params["completionToolName"] == "task_finish"
    assert params["tokenUsage"]["schemaVersion"] == "vv-agent.task-token-usage.v2"
    assert params["tokenUsage"]["inputTokens"] is None  # unknown, never 0
    resolved = _first(client, "approval/resolved")
    assert resolved["decision"] == "allow_session"
    assert resolved["reason"] == "ok"

    # Wire order: response -> running -> turn/started -> items -> idle -> turn/completed.
    response = next(i for i, m in enumerate(client.received) if m.get("result", {}).get("turnId"))
    running = _index(client, "thread/status/changed", status="running")
    turn_started = _index(client, "turn/started")
    idle = _index(client, "thread/status/changed", status="idle")
    done = _index(client, "turn/completed")
    assert response < running < turn_started < idle < done
    # Approval order: item/started approval -> requested -> request -> item/completed -> resolved.
    approval_started = _index(client, "item/started", type="approval")
    requested = _index(client, "approval/requested")
    request = _index(client, "approval/request")
    approval_completed = _index(client, "item/completed", type="approval")
    resolved_at = _index(client, "approval/resolved")
    assert approval_started < requested < request < approval_completed < resolved_at
    # Tool order: item/started toolCall -> delta (arguments) -> item/completed toolCall.
    tool_started = _index(
        client,
        "item/started",
        type="toolCall",
        payload={"toolCallId": "call_1", "toolName": "bash"},
    )
    tool_delta = _index(client, "item/toolCall/delta", status="started")
    assert client.received[tool_delta]["params"]["delta"] == {"command": "echo hi"}
    tool_done = _index(client, "item/completed", type="toolCall", status="completed")
    assert resolved_at < tool_started < tool_delta < tool_done

    snapshot = await client.thread_read("thread_1")
    assert snapshot.thread.status == "idle"
    kinds = {item.type for item in snapshot.items}
    assert {"userMessage", "approval", "toolCall", "agentMessage", "modelCall"} <= kinds
    user = next(i for i in snapshot.items if i.type == "userMessage")
    assert user.payload == {"text": "hi"}
    assert all(item.item_id.startswith("item_evt_") for item in snapshot.items)
    (turn,) = snapshot.turns
    assert turn.status == "completed" and turn.completed_at is not None
    assert turn.result["finalOutput"] == "done" and turn.run_id is not None
    assert turn.input == [{"type": "text", "text": "hi"}]
    later = await client.thread_read("thread_1", after_item_id=snapshot.items[-3].item_id)
    assert [i.item_id for i in later.items] == [i.item_id for i in snapshot.items[-2:]]


async def test_a_denied_approval_refuses_the_call(spawn: Spawn) -> None:
    client = await ready(spawn, on_approval=_answer("deny", "not now"))
    completed = await _run_turn(client)
    assert completed.params["status"] == "completed"
    resolved = _first(client, "approval/resolved")
    assert resolved["decision"] == "deny" and resolved["reason"] == "not now"
    tool = next(
        m["params"]
        for m in client.received
        if m.get("method") == "item/completed"
        and m["params"]["type"] == "toolCall"
        and m["params"]["payload"]["toolName"] == "bash"
    )
    assert tool["status"] == "failed"
    assert tool["payload"]["executionStarted"] is False
    assert tool["payload"]["durationMs"] is None
    assert tool["payload"]["errorCode"] == "tool_approval_denied"
    assert "not now" in tool["payload"]["resultPreview"]  # what the model was told


async def test_an_unknown_decision_in_a_response_counts_as_deny(spawn: Spawn) -> None:
    client = await ready(spawn, on_approval=_answer("ALLOW"))
    await _run_turn(client)
    resolved = _first(client, "approval/resolved")
    assert resolved["decision"] == "deny"
    assert resolved["reason"] == "invalid approval response"


async def test_an_unanswered_approval_times_out(spawn: Spawn) -> None:
    client = await ready(spawn, None, "--approval-timeout-seconds", "1")
    completed = await _run_turn(client)
    assert completed.params["status"] == "completed"
    resolved = _first(client, "approval/resolved")
    assert resolved["decision"] == "timeout"


async def test_interrupt_while_an_approval_is_pending(spawn: Spawn) -> None:
    client = await ready(spawn)
    await client.thread_start()
    await client.turn_start("thread_1", "hi")
    request = await client.wait_for("approval/request")
    mismatch = await _error(
        client, "turn/interrupt", {"threadId": "thread_1", "expectedTurnId": "turn_7"}
    )
    assert (mismatch.code, mismatch.message) == (-32031, "Turn id mismatch")
    interrupted = await client.turn_interrupt("thread_1", expected_turn_id="turn_1")
    assert interrupted.wire() == {"threadId": "thread_1", "turnId": "turn_1", "cancelled": True}
    resolved = await client.wait_for("approval/resolved")
    assert resolved.params == {
        "requestId": request.params["requestId"],
        "threadId": "thread_1",
        "turnId": "turn_1",
        "decision": "timeout",
        "reason": "turn interrupted",
    }
    completed = await client.wait_for("turn/completed")
    assert completed.params["status"] == "failed"
    assert completed.params["completionReason"] == "cancelled"
    assert completed.params["error"] == "Turn cancelled"
    late = await _error(
        client,
        "approval/resolve",
        {
            "threadId": "thread_1",
            "turnId": "turn_1",
            "requestId": request.params["requestId"],
            "decision": "allow",
        },
    )
    assert (late.code, late.message) == (-32602, "Unknown approval request")
    assert [m for m in client.received if m.get("method") == "approval/resolved"] == [
        {"jsonrpc": "2.0", "method": "approval/resolved", "params": resolved.params}
    ]
    assert (await client.thread_read("thread_1")).thread.status == "idle"


async def _error(client: AppServerClient, method: str, params: Any) -> AppServerError:
    with pytest.raises(AppServerError) as caught:
        await client.request_raw(method, params)
    return caught.value


async def test_approval_resolve_answers_a_pending_request(spawn: Spawn) -> None:
    client = await ready(spawn)
    await client.thread_start()
    await client.turn_start("thread_1", "hi")
    request = await client.wait_for("approval/request")
    request_id = request.params["requestId"]
    assert request.id == request_id and request_id.startswith("approval_")
    base = {"threadId": "thread_1", "turnId": "turn_1", "requestId": request_id}
    assert (await _error(client, "approval/resolve", {**base, "decision": "ALLOW"})).code == -32602
    unknown = await _error(
        client, "approval/resolve", {**base, "requestId": "approval_0", "decision": "allow"}
    )
    assert unknown.message == "Unknown approval request"
    busy = await _error(client, "turn/start", {"threadId": "thread_1", "input": []})
    assert (busy.code, busy.message) == (-32602, "Thread already has an active turn")
    await client.approval_resolve("thread_1", "turn_1", request_id, "allow", reason="fine")
    completed = await client.wait_for("turn/completed")
    assert completed.params["status"] == "completed"
    resolved = _first(client, "approval/resolved")
    assert resolved["decision"] == "allow" and resolved["reason"] == "fine"
    await client.respond(request_id, {"decision": "deny"})  # late: ignored, never fatal
    assert (await client.model_list()).models


async def test_turn_methods_without_an_active_turn(spawn: Spawn) -> None:
    client = await ready(spawn)
    await client.thread_start()
    for method in ("turn/steer", "turn/followUp", "turn/interrupt"):
        error = await _error(client, method, {"threadId": "thread_1"})
        assert (error.code, error.message) == (-32030, "Active turn not found"), method
    bad_input = await _error(client, "turn/start", {"threadId": "thread_1", "input": ["hello"]})
    assert bad_input.code == -32602
    for item in (7, True, None, []):
        error = await _error(client, "turn/start", {"threadId": "thread_1", "input": [item]})
        assert error.code == -32602


async def test_follow_up_starts_the_next_turn_after_completion(spawn: Spawn) -> None:
    client = await ready(spawn, [*BASH_THEN_FINISH, FINISH])
    await client.thread_start()
    await client.turn_start("thread_1", "first")
    request = await client.wait_for("approval/request")
    queued = await client.turn_follow_up("thread_1", "second", expected_turn_id="turn_1")
    assert queued.wire() == {"threadId": "thread_1", "turnId": "turn_1", "queued": True}
    await client.respond(request.id or "", {"decision": "allow"})
    first = await client.wait_for("turn/completed")
    assert first.params["turnId"] == "turn_1"
    started = await client.wait_for("turn/started")
    assert started.params["turnId"] == "turn_2"
    second = await client.wait_for("turn/completed")
    assert (second.params["turnId"], second.params["finalOutput"]) == ("turn_2", "again")
    turns = (await client.thread_read("thread_1")).turns
    assert [t.input for t in turns] == [
        [{"type": "text", "text": "first"}],
        [{"type": "text", "text": "second"}],
    ]


async def test_steer_reaches_the_run(spawn: Spawn, tmp_path: Path) -> None:
    store = tmp_path / "app.sqlite"
    client = await ready(spawn, [*BASH_THEN_FINISH], store=str(store))
    await client.thread_start()
    await client.turn_start("thread_1", "hi")
    request = await client.wait_for("approval/request")
    empty = await _error(client, "turn/steer", {"threadId": "thread_1", "input": []})
    assert empty.code == -32602
    steered = await client.turn_steer("thread_1", "use ls instead", expected_turn_id="turn_1")
    assert steered.wire() == {"threadId": "thread_1", "turnId": "turn_1", "queued": True}
    await client.respond(request.id or "", {"decision": "allow"})
    completed = await client.wait_for("turn/completed")
    assert completed.params["status"] == "completed"
    assert await client.close() == 0
    # The thread's conversation (its session) holds the steering message the model was sent.
    session = SQLiteSession("thread_1", f"{store}.sessions.sqlite")
    texts = [content_text(m.content) for m in await session.get_items() if m.role == "user"]
    session.close()
    assert texts == ["hi", "use ls instead"]


async def test_opted_out_notifications_are_not_sent_but_still_stored(spawn: Spawn) -> None:
    client = await spawn(
        [{"content": "streaming words", "tool_calls": FINISH["tool_calls"]}],
        "--scripted-stream-chunk-chars",
        "4",
    )
    await client.initialize("tests", opt_out_notification_methods=["item/agentMessage/delta"])
    await _run_turn(client)
    assert "item/agentMessage/delta" not in _methods(client)
    snapshot = await client.thread_read("thread_1")
    deltas = [i for i in snapshot.items if i.type == "agentMessage" and i.status == "inProgress"]
    assert "".join(i.payload["delta"] for i in deltas) == "streaming words"


async def test_a_run_that_fails_ends_the_turn_failed(spawn: Spawn) -> None:
    client = await ready(spawn, [])  # the script is exhausted at the first model call
    completed = await _run_turn(client)
    assert completed.params["status"] == "failed"
    assert completed.params["error"]
    warning = _first(client, "error/warning")
    assert warning["code"] == "run_failed"
    snapshot = await client.thread_read("thread_1")
    assert any(i.type == "error" for i in snapshot.items)


def _artifact(uri: str) -> Any:
    return json.loads(Path(urlparse(uri).path).read_text())


async def test_an_oversized_item_payload_is_cut_and_kept_in_full_elsewhere(spawn: Spawn) -> None:
    text = "word " * 300_000  # 1.5 MB
    client = await ready(spawn, [{"content": text, "tool_calls": FINISH["tool_calls"]}])
    await _run_turn(client)
    message = next(
        m["params"]
        for m in client.received
        if m.get("method") == "item/completed" and m["params"]["type"] == "agentMessage"
    )
    payload = message["payload"]
    assert len(payload["text"]) < len(text)
    truncated = payload["truncated"]
    assert truncated["fields"] == ["text"]
    assert truncated["originalBytes"] > 1024 * 1024
    assert _artifact(truncated["artifactUri"]) == {"text": text}
    stored = (await client.thread_read("thread_1")).items
    assert any(i.payload.get("truncated") == truncated for i in stored)


async def test_thread_resume_sends_the_pending_approval_again(spawn: Spawn) -> None:
    client = await ready(spawn)
    await client.thread_start()
    await client.turn_start("thread_1", "hi")
    first = await client.wait_for("approval/request")
    resumed = await client.thread_resume("thread_1")
    assert resumed.thread.status == "running"
    again = await client.wait_for("approval/request")
    assert (again.id, again.params) == (first.id, first.params)
    await client.respond(again.id or "", {"decision": "allow"})
    completed = await client.wait_for("turn/completed")
    assert completed.params["status"] == "completed"


async def test_allow_session_lasts_for_the_thread(spawn: Spawn) -> None:
    again = {
        "content": "",
        "tool_calls": [{"id": "call_3", "name": "bash", "arguments": {"command": "echo again"}}],
    }
    client = await ready(
        spawn, [*BASH_THEN_FINISH, again, FINISH], on_approval=_answer("allow_session")
    )
    await _run_turn(client)
    await client.turn_start("thread_1", "once more")
    second = await client.wait_for("turn/completed")
    assert (second.params["turnId"], second.params["finalOutput"]) == ("turn_2", "again")
    assert len([m for m in client.received if m.get("method") == "approval/request"]) == 1
    bash = [
        m["params"]
        for m in client.received
        if m.get("method") == "item/completed"
        and m["params"]["type"] == "toolCall"
        and m["params"]["payload"]["toolName"] == "bash"
    ]
    assert [(b["turnId"], b["status"]) for b in bash] == [
        ("turn_1", "completed"),
        ("turn_2", "completed"),
    ]
