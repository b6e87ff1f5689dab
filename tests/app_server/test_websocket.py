"""The WebSocket transport (APP_SERVER.md §11.5, §11.4, §9.3): a real server subprocess on a
loopback port, driven by the typed client and by raw ``websockets`` connections."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agentcycle.app_server._websocket import Listen, ListenError, parse_listen
from agentcycle.app_server.client import AppServerClient
from tests.app_server.conftest import BASH_THEN_FINISH, assert_valid_v1, write_script

ENTRY = "import sys; from agentcycle.cli import main; sys.exit(main(sys.argv[1:]))"


@dataclass
class WsServer:
    """A server subprocess listening on ``url``."""

    process: asyncio.subprocess.Process
    url: str
    stderr: list[str] = field(default_factory=list)
    clients: list[AppServerClient] = field(default_factory=list)

    async def client(self, **kwargs: Any) -> AppServerClient:
        """A typed client on a new connection (closed at the end)."""
        client = await AppServerClient.connect(self.url, **kwargs)
        self.clients.append(client)
        return client

    def http_status(self, path: str) -> int:
        """The status of a plain GET (health endpoints)."""
        try:
            with urllib.request.urlopen(f"http://{self.url[5:]}{path}", timeout=10) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)


StartServer = Callable[..., Awaitable[WsServer]]


async def _launch(args: list[str], cwd: Path) -> tuple[asyncio.subprocess.Process, str | None]:
    """Start the server; the address it listens on (``None``: it exited first)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ENTRY,
        "app-server",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    assert process.stderr is not None
    while line := (await process.stderr.readline()).decode():
        if "listening on " in line:
            return process, line.rsplit("listening on ", 1)[1].strip()
    return process, None


@pytest.fixture
async def ws_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start WebSocket servers; at the end: clients closed, messages checked against the v1
    schemas, servers stopped with SIGTERM (exit 0)."""
    servers: list[WsServer] = []
    readers: list[asyncio.Task[None]] = []

    async def start(
        replies: list[dict[str, Any]] | None = None, *extra: str, store: str = ":memory:"
    ) -> WsServer:
        script = write_script(tmp_path, replies if replies is not None else BASH_THEN_FINISH)
        args = ["--listen", "ws://127.0.0.1:0", "--scripted-model", str(script)]
        process, url = await _launch([*args, "--store", store, *extra], tmp_path)
        assert url is not None, "the server did not start"
        server = WsServer(process, url)

        async def drain() -> None:
            assert process.stderr is not None
            while line := await process.stderr.readline():
                server.stderr.append(line.decode())

        readers.append(asyncio.get_running_loop().create_task(drain()))
        servers.append(server)
        return server

    yield start
    for server in servers:
        for client in server.clients:
            await client.close()
            assert_valid_v1(client)
        if server.process.returncode is None:
            server.process.send_signal(signal.SIGTERM)
            assert await server.process.wait() == 0
    await asyncio.gather(*readers)


async def _raw(url: str, **kwargs: Any) -> ClientConnection:
    return await connect(url, max_size=None, **kwargs)


async def _call(ws: ClientConnection, request_id: int, method: str, params: Any = None) -> Any:
    """Send a request on a raw connection and read until its response."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    await ws.send(json.dumps(message))
    while True:
        reply = json.loads(await ws.recv())
        if reply.get("id") == request_id and "method" not in reply:
            return reply


async def test_a_full_turn_with_an_approval_over_websocket(ws_server: StartServer) -> None:
    server = await ws_server()
    assert server.http_status("/healthz") == 200
    assert server.http_status("/readyz") == 200

    async def allow(request: Any) -> dict[str, Any]:
        return {"decision": "allow", "reason": "fine"}

    client = await server.client(on_approval=allow)
    await client.initialize("ws-tests")
    thread = await client.thread_start()
    await client.turn_start(thread.thread_id, "say hi")
    completed = await client.wait_for("turn/completed")
    assert completed.params["status"] == "completed"
    assert completed.params["finalOutput"] == "done"
    resolved = [m for m in client.received if m.get("method") == "approval/resolved"]
    assert [m["params"]["decision"] for m in resolved] == ["allow"]
    snapshot = await client.thread_read(thread.thread_id)
    kinds = {item.type for item in snapshot.items}
    assert {"userMessage", "approval", "toolCall", "agentMessage"} <= kinds
    # A second connection sees the same thread (one store behind every connection).
    other = await server.client()
    await other.initialize("second")
    listed = await other.thread_list()
    assert [t.thread_id for t in listed.threads] == [thread.thread_id]


async def test_a_token_is_required_when_configured(ws_server: StartServer, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    server = await ws_server(None, "--ws-token-file", str(token_file))
    for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        with pytest.raises(InvalidStatus) as refused:
            await _raw(server.url, additional_headers=headers)
        assert refused.value.response.status_code == 401
    client = await server.client(token="s3cret")
    assert (await client.initialize("with-token")).protocol_version == "v1"
    assert server.http_status("/healthz") == 200  # health needs no token


async def test_upgrades_with_an_origin_header_are_refused(ws_server: StartServer) -> None:
    server = await ws_server()
    with pytest.raises(InvalidStatus) as refused:
        await _raw(server.url, origin="http://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


async def test_unsafe_or_bad_listen_addresses_exit_2(tmp_path: Path) -> None:
    script = write_script(tmp_path, BASH_THEN_FINISH)
    token_file = tmp_path / "empty"
    token_file.write_text("  \n")
    for listen, extra in (
        ("ws://0.0.0.0:0", []),  # not loopback and no token
        ("ws://127.0.0.1:0", ["--ws-token-file", str(token_file)]),
    ):
        args = ["--listen", listen, "--scripted-model", str(script), "--store", ":memory:"]
        process, url = await _launch([*args, *extra], tmp_path)
        assert url is None
        assert await process.wait() == 2, listen


def test_listen_addresses() -> None:
    assert parse_listen("ws://127.0.0.1:0", None) == Listen("127.0.0.1", 0)
    assert parse_listen("ws://[::1]:8080", None) == Listen("::1", 8080)
    assert parse_listen("ws://localhost:1", None).loopback
    assert parse_listen("ws://0.0.0.0:9000", "token") == Listen("0.0.0.0", 9000)
    for bad, why in (
        ("ws://127.0.0.1", "a port is required"),
        ("http://127.0.0.1:0", "expected 'stdio' or 'ws://HOST:PORT'"),
        ("ws://127.0.0.1:0/path", "expected 'stdio' or 'ws://HOST:PORT'"),
        ("ws://10.0.0.5:80", "needs --ws-token-file"),
        ("ws://example.com:80", "needs --ws-token-file"),
    ):
        with pytest.raises(ListenError, match=why):
            parse_listen(bad, None)


async def test_garbage_frames_never_kill_the_server(ws_server: StartServer) -> None:
    server = await ws_server()
    ws = await _raw(server.url)
    await ws.send("not json")
    assert json.loads(await ws.recv()) == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error"},
    }
    await ws.send("[1]")
    assert json.loads(await ws.recv())["error"]["code"] == -32600
    reply = await _call(ws, 1, "initialize", {"clientInfo": {"name": "raw"}})
    assert reply["result"]["protocolVersion"] == "v1"
    await ws.send(b"\x00\x01binary")
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert ws.close_code == 1003

    big = await _raw(server.url)
    await big.send("x" * (8 * 1024 * 1024 + 1))
    with pytest.raises(ConnectionClosed):
        await big.recv()
    assert big.close_code == 1009

    client = await server.client()  # the server still serves
    assert (await client.initialize("after-garbage")).protocol_version == "v1"


async def test_a_flood_is_answered_or_refused_and_the_server_lives(
    ws_server: StartServer,
) -> None:
    server = await ws_server()
    ws = await _raw(server.url)
    await _call(ws, 0, "initialize", {"clientInfo": {"name": "flood"}})
    count = 10_000
    for request_id in range(1, count + 1):
        message = {"jsonrpc": "2.0", "id": request_id, "method": "thread/list"}
        await ws.send(json.dumps(message))
    answered: set[int] = set()
    try:
        while len(answered) < count:
            reply = json.loads(await ws.recv())
            assert "result" in reply or reply["error"]["code"] == -32001
            answered.add(reply["id"])
    except ConnectionClosed:
        # Falling 1024 messages behind closes the connection with 1013 (bounded queue).
        assert ws.close_code == 1013
    client = await server.client()
    assert (await client.initialize("after-flood")).protocol_version == "v1"
    assert (await client.thread_list()).threads == []


def _socket_with_receive_buffer(url: str, size: int) -> socket.socket:
    """A connected TCP socket whose kernel receive buffer holds ``size`` bytes."""
    host, port = url[5:].rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def test_a_client_that_falls_behind_is_closed_1013_and_others_go_on(
    ws_server: StartServer,
) -> None:
    # Streamed one character per delta: about twice what the slow client's queue (1,024
    # messages) and kernel buffers (its 4 KiB, the server's send buffer) hold. The reader's
    # kernel receive buffer holds the whole stream, so it keeps up even when this process gets
    # no CPU during the turn (a loaded CI machine): only the slow client can fall behind.
    chars = 4000
    reply = {
        "content": "x" * chars,
        "tool_calls": [{"id": "c1", "name": "task_finish", "arguments": {"message": "done"}}],
    }
    server = await ws_server([reply], "--scripted-stream-chunk-chars", "1")
    # Raw connections: checking thousands of distinct deltas against the schemas would take
    # half a minute (the full-turn test validates a WebSocket session).
    reader_socket = _socket_with_receive_buffer(server.url, 4 * 1024 * 1024)
    reader = await connect(server.url, sock=reader_socket, max_queue=None)
    await _call(reader, 1, "initialize", {"clientInfo": {"name": "reader"}})
    thread_id = (await _call(reader, 2, "thread/start"))["result"]["threadId"]
    slow = await connect(
        server.url, sock=_socket_with_receive_buffer(server.url, 4096), max_queue=1
    )
    await _call(slow, 1, "initialize", {"clientInfo": {"name": "slow"}})
    await _call(slow, 2, "thread/resume", {"threadId": thread_id})
    slow.transport.pause_reading()  # ``slow`` reads nothing from here on
    input_ = [{"type": "text", "text": "stream"}]
    await _call(reader, 3, "turn/start", {"threadId": thread_id, "input": input_})
    streamed: list[str] = []
    while True:
        message = json.loads(await reader.recv())
        if message.get("method") == "item/agentMessage/delta":
            streamed.append(message["params"]["delta"])
        elif message.get("method") == "turn/completed":
            break
    assert message["params"]["status"] == "completed"
    assert "".join(streamed) == "x" * chars
    slow.transport.resume_reading()
    async with asyncio.timeout(60):
        with pytest.raises(ConnectionClosed):
            while True:
                await slow.recv()
    assert slow.close_code == 1013
    await reader.close()


async def test_catch_up_after_a_websocket_drop_mid_turn(ws_server: StartServer) -> None:
    """Disconnect while the turn waits for an approval, reconnect with the last cursor: the
    replay plus what follows live equals the thread's log, with no gap and no duplicate;
    the pending approval is asked again of the new connection (§9.3)."""
    server = await ws_server(None, "--approval-timeout-seconds", "60")
    first = await server.client()
    await first.initialize("first", experimental_api=True)
    thread = await first.thread_start()
    await first.turn_start(thread.thread_id, "hi")
    request = await first.wait_for("approval/request")
    seen = [m["params"] for m in first.received if "cursor" in m.get("params", {})]
    await first.close()  # dropped without answering: the approval stays pending

    second = await server.client()
    await second.initialize("second", experimental_api=True)
    # Resume from a cursor in the middle of what ``first`` saw.
    handled = seen[: len(seen) // 2]
    await second.request_raw(
        "thread/resume", {"threadId": thread.thread_id, "afterCursor": handled[-1]["cursor"]}
    )
    again = await second.wait_for("approval/request")
    assert again.id == request.id  # the same request, asked of the new owner
    await second.respond(again.id, {"decision": "allow"})
    completed = await second.wait_for("turn/completed")
    assert completed.params["status"] == "completed"

    received = [m["params"]["cursor"] for m in second.received if "cursor" in m.get("params", {})]
    got = [m["cursor"] for m in handled] + received
    log = await second.request_raw(
        "thread/events/list", {"threadId": thread.thread_id, "limit": 256}
    )
    assert got == [event["cursor"] for event in log["events"]]  # no gap, no duplicate
    resolved = [e["params"] for e in log["events"] if e["method"] == "approval/resolved"]
    assert [r["decision"] for r in resolved] == ["allow"]
