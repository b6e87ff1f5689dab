"""Conformance of the stdio transport: handshake, JSON-RPC framing and error codes, the thread
methods and the global ones, all against a real server subprocess."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from agentcycle.app_server.client import AppServerClient, AppServerError
from agentcycle.app_server.schemas import json_schemas, typescript_files
from tests.app_server.conftest import Spawn, ready


async def _error(client: AppServerClient, method: str, params: Any = None) -> AppServerError:
    with pytest.raises(AppServerError) as caught:
        await client.request_raw(method, params)
    return caught.value


async def _raw(client: AppServerClient, line: bytes) -> dict[str, Any]:
    """Send one raw line and return the next response the server writes."""
    before = len(client.received)
    await client.send_line(line)
    await client.request_raw("model/list")  # answered after the line sent before it
    return next(m for m in client.received[before:] if "method" not in m)


async def test_handshake(spawn: Spawn) -> None:
    client = await spawn()
    early = await _error(client, "thread/list")
    assert (early.code, early.message) == (-32010, "Not initialized")
    blank = await _error(client, "initialize", {"clientInfo": {"name": "  "}})
    assert blank.code == -32602
    extra = await _error(
        client, "initialize", {"clientInfo": {"name": "x"}, "capabilities": {"x": 1}}
    )
    assert extra.code == -32602
    result = await client.initialize("my-ui", title="My UI", version="1.2")
    assert result.protocol_version == "v1"
    assert result.user_agent.startswith("agentcycle-app-server/")
    assert result.capabilities.wire() == {
        "modelList": True,
        "threadLifecycle": True,
        "notificationOptOut": True,
        "schemaExport": True,
        "approvalResolve": True,
    }
    again = await _error(client, "initialize", {"clientInfo": {"name": "x"}})
    assert (again.code, again.message) == (-32011, "Already initialized")
    assert await client.close() == 0


@pytest.mark.parametrize(
    ("line", "code", "echo"),
    [
        (b"not json", -32700, None),
        (b"[1]", -32600, None),
        (b'{"jsonrpc":"2.0","id":null,"method":"thread/list"}', -32600, None),
        (b'{"jsonrpc":"2.0","id":true,"method":"thread/list"}', -32600, None),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"thread/list"}', -32600, None),
        (b'{"jsonrpc":"2.0","id":[1],"method":"thread/list"}', -32600, None),
        (b'{"jsonrpc":"2.0","id":9223372036854775808,"method":"thread/list"}', -32600, None),
        (b'{"id":"a","method":"thread/list"}', -32600, "a"),
        (b'{"jsonrpc":"1.0","id":7,"method":"thread/list"}', -32600, 7),
        (b'{"jsonrpc":"2.0","id":8,"method":"thread/list","extra":1}', -32600, 8),
        (b'"just a string"', -32600, None),
        (b"\xff\xfe binary", -32700, None),
    ],
)
async def test_bad_frames_get_typed_errors_and_the_server_keeps_serving(
    spawn: Spawn, line: bytes, code: int, echo: Any
) -> None:
    client = await ready(spawn)
    answer = await _raw(client, line)
    assert answer["id"] == echo
    assert answer["error"]["code"] == code
    assert set(answer["error"]) <= {"code", "message", "data"}
    if code == -32700:
        assert answer == {
            "jsonrpc": "2.0",
            "id": None,
            "error": {"code": -32700, "message": "Parse error"},
        }
    assert (await client.model_list()).models  # still serving


async def test_blank_lines_and_unknown_notifications_are_ignored(spawn: Spawn) -> None:
    client = await ready(spawn)
    await client.send_line(b"")
    await client.send_line(b"   ")
    await client.send({"jsonrpc": "2.0", "method": "no/such/notification", "params": {}})
    await client.send({"jsonrpc": "2.0", "method": "initialized"})
    await client.model_list()
    assert [m for m in client.received if "error" in m] == []


async def test_an_oversized_line_is_refused_and_the_server_keeps_serving(spawn: Spawn) -> None:
    client = await ready(spawn)
    big = (
        b'{"jsonrpc":"2.0","id":1,"method":"thread/list","params":{"x":"'
        + b"a" * (8 * 1024 * 1024)
        + b'"}}'
    )
    answer = await _raw(client, big)
    assert answer == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32600, "message": "Message too large"},
    }


async def test_unknown_method_and_bad_params(spawn: Spawn) -> None:
    client = await ready(spawn)
    unknown = await _error(client, "thread/teleport", {})
    assert (unknown.code, unknown.message, unknown.data) == (
        -32601,
        "Method not found: thread/teleport",
        {"method": "thread/teleport"},
    )
    for method, params in [
        ("thread/start", {"agentKey": 5}),
        ("thread/start", {"unknownKey": 1}),
        ("thread/start", "not an object"),
        ("thread/read", {}),
        ("thread/read", {"thread_id": "thread_1"}),
        ("schema/export", {"x": 1}),
        ("thread/list", {"limit": -1}),
    ]:
        error = await _error(client, method, params)
        assert error.code == -32602, (method, params)
        assert error.message


async def test_thread_start_answers_then_announces(spawn: Spawn) -> None:
    client = await ready(spawn)
    started = await client.thread_start(cwd="/tmp", metadata={"k": "v"})
    assert (started.thread_id, started.agent_key, started.cwd, started.status) == (
        "thread_1",
        "default",
        "/tmp",
        "idle",
    )
    note = await client.wait_for("thread/started")
    assert note.params == {
        "threadId": "thread_1",
        "agentKey": "default",
        "cwd": "/tmp",
        "status": "idle",
    }
    response_at = next(i for i, m in enumerate(client.received) if m.get("id") == 2)
    note_at = next(i for i, m in enumerate(client.received) if m.get("method") == "thread/started")
    assert response_at < note_at
    second = await client.thread_start(agent_key="coder")
    assert (second.thread_id, second.agent_key, second.cwd) == ("thread_2", "coder", None)


async def test_thread_read_list_archive_unsubscribe_resume(spawn: Spawn) -> None:
    client = await ready(spawn)
    for _ in range(3):
        await client.thread_start()
    snapshot = await client.thread_read("thread_1")
    assert snapshot.thread.status == "idle" and snapshot.turns == [] and snapshot.items == []
    assert snapshot.thread.archived_at is None

    archived = await client.thread_archive("thread_2")
    assert archived.wire() == {"threadId": "thread_2", "archived": True}
    assert (await client.wait_for("thread/archived")).params == {
        "threadId": "thread_2",
        "archived": True,
    }
    status = await client.wait_for("thread/status/changed")
    assert status.params == {"threadId": "thread_2", "status": "archived"}

    def ids(listing: Any) -> list[str]:
        return [t.thread_id for t in listing.threads]

    assert ids(await client.thread_list()) == ["thread_1", "thread_3"]
    assert ids(await client.thread_list(include_archived=True)) == [
        "thread_1",
        "thread_2",
        "thread_3",
    ]
    assert ids(await client.thread_list(archived=True)) == ["thread_2"]
    assert ids(await client.thread_list(archived=False, include_archived=True)) == [
        "thread_1",
        "thread_3",
    ]
    assert ids(await client.thread_list(include_archived=True, offset=1, limit=1)) == ["thread_2"]
    read = await client.thread_read("thread_2")
    assert read.thread.status == "archived" and read.thread.archived_at is not None

    turn = await _error(client, "turn/start", {"threadId": "thread_2", "input": []})
    assert (turn.code, turn.message) == (-32021, "Thread archived")

    closed = await client.thread_unsubscribe("thread_3")
    assert closed.wire() == {"threadId": "thread_3", "subscribed": False, "closed": True}
    assert (await client.wait_for("thread/closed")).params == {"threadId": "thread_3"}
    status = await client.wait_for("thread/status/changed")
    assert status.params == {"threadId": "thread_3", "status": "closed"}
    resumed = await client.thread_resume("thread_3")
    assert resumed.thread.status == "idle"


async def test_unknown_threads(spawn: Spawn) -> None:
    client = await ready(spawn)
    for method, params in [
        ("thread/read", {"threadId": "thread_9"}),
        ("thread/resume", {"threadId": "thread_9"}),
        ("thread/archive", {"threadId": "thread_9"}),
        ("thread/unsubscribe", {"threadId": "thread_9"}),
        ("turn/start", {"threadId": "thread_9"}),
        ("turn/steer", {"threadId": "thread_9"}),
        ("turn/interrupt", {"threadId": "thread_9"}),
    ]:
        error = await _error(client, method, params)
        assert (error.code, error.message) == (-32020, "Thread not found"), method


async def test_model_list_and_schema_export(spawn: Spawn) -> None:
    client = await ready(spawn)
    models = await client.request_raw("model/list")
    assert models == {"models": [{"id": "scripted", "provider": "scripted", "supportsTools": True}]}
    exported = await client.request_raw("schema/export", {})
    assert exported["jsonSchema"] == json_schemas()
    assert exported["typescript"] == typescript_files()
    assert json.loads(exported["jsonSchema"]["AppItem"])["title"] == "AppItem"


async def test_turn_resume_validates_its_params(spawn: Spawn) -> None:
    client = await ready(spawn)
    await client.thread_start()
    for params in [
        {"threadId": "thread_1", "turnId": "turn_1", "checkpointKey": ""},
        {"threadId": "thread_1", "turnId": "turn_1", "checkpointKey": "k" * 513},
        {"threadId": "thread_1", "turnId": "turn_9", "checkpointKey": "ck"},
        {"threadId": "thread_1", "turnId": "turn_1"},
        {"threadId": "thread_1", "turnId": "turn_1", "checkpointKey": "ck", "extra": 1},
    ]:
        assert (await _error(client, "turn/resume", params)).code == -32602, params


async def test_a_flood_is_answered_or_refused_never_dropped(spawn: Spawn) -> None:
    client = await ready(spawn, None, "--max-queued-requests", "5")
    count = 10_000
    lines = b"\n".join(
        json.dumps({"jsonrpc": "2.0", "id": f"f{i}", "method": "model/list"}).encode()
        for i in range(count)
    )
    before = len(client.received)
    await client.send_line(lines)
    await client.request_raw("thread/list")  # answered after everything sent before it
    answers = {m["id"]: m for m in client.received[before:] if str(m.get("id", "")).startswith("f")}
    assert len(answers) == count
    # Lines arrive in batches far larger than the scope's five slots: some are refused.
    assert any("error" in answer for answer in answers.values())
    for answer in answers.values():
        assert "result" in answer or answer["error"]["code"] == -32001
        if "error" in answer:
            assert answer["error"]["data"]["retryAfterMs"] > 0


async def test_garbage_is_answered_line_by_line_and_never_fatal(spawn: Spawn) -> None:
    client = await ready(spawn)
    rng = random.Random(7)
    fragments = [b"{", b"}", b"[", b'"', b"null", b"1", b":", b",", b"\\", b"\xc3", b"\x00"]
    lines = []
    for _ in range(300):
        if rng.random() < 0.5:
            line = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        else:
            line = b"".join(rng.choice(fragments) for _ in range(rng.randrange(1, 12)))
        line = line.replace(b"\n", b" ")
        if line.strip():
            lines.append(line)
    before = len(client.received)
    await client.send_line(b"\n".join(lines))
    await client.request_raw("model/list")
    errors = [m for m in client.received[before:] if "error" in m]
    assert len(errors) == len(lines)
    assert {e["error"]["code"] for e in errors} <= {-32700, -32600}
