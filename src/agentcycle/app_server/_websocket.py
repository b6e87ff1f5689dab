"""The app server over WebSocket (APP_SERVER.md §11.5): one JSON-RPC message per text frame,
any number of connections behind one ``AppServer``.

Each connection writes through its own bounded send queue (1024 messages or 8 MiB): a run
never waits for a slow client; a client that falls that far behind is closed with 1013 and
catches up from its cursor when it reconnects. The upgrade refuses any request carrying an
``Origin`` header (browser pages) and, with a token, one without the right bearer token.
``GET /healthz`` and ``GET /readyz`` answer 200 (ready once the listener accepts).

Needs the ``websockets`` package (the ``ws`` extra); it is imported only here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import signal
import socket as pysocket
import sys
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from agentcycle.app_server import _jsonrpc as rpc
from agentcycle.app_server._connection import Connection
from agentcycle.app_server._runtime import TurnLauncher
from agentcycle.app_server._store import Store
from agentcycle.app_server.server import AppServer

if TYPE_CHECKING:
    from websockets.asyncio.server import Server, ServerConnection
    from websockets.http11 import Request, Response

SEND_QUEUE_MESSAGES = 1024
SEND_QUEUE_BYTES = 8 * 1024 * 1024
"""The per-connection send queue's bounds (§11.4)."""
KERNEL_SEND_BUFFER = 256 * 1024

PING_INTERVAL = 30.0
PING_TIMEOUT = 60.0
CLOSE_TIMEOUT = 10.0

CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_GOING_AWAY = 1001

_LOOPBACK_NAMES = ("localhost",)


class ListenError(ValueError):
    """A ``--listen`` address the server refuses (a usage error: exit 2)."""


@dataclass(frozen=True, slots=True)
class Listen:
    """Where to listen: ``ws://HOST:PORT``."""

    host: str
    port: int

    @property
    def loopback(self) -> bool:
        """Whether only this machine can connect."""
        if self.host in _LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_listen(address: str, token: str | None) -> Listen:
    """Parse ``ws://HOST:PORT``; a host other than loopback needs a ``token``."""
    parts = urlsplit(address)
    if parts.scheme != "ws" or not parts.hostname or parts.path not in ("", "/"):
        raise ListenError(f"--listen {address!r}: expected 'stdio' or 'ws://HOST:PORT'")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        raise ListenError(f"--listen {address!r}: a port is required (0 picks a free one)")
    listen = Listen(parts.hostname, port)
    if not listen.loopback and token is None:
        raise ListenError(f"--listen {address!r}: a non-loopback address needs --ws-token-file")
    return listen


class _SendQueue:
    """A connection's outgoing messages, bounded; a writer task drains it into the socket
    after the store committed what the messages report (persist, then send)."""

    def __init__(self, socket: ServerConnection, store: Store) -> None:
        self._socket = socket
        self._store = store
        self._messages: deque[bytes] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self.overflowed = False
        self._closer: asyncio.Task[None] | None = None

    def put(self, line: bytes) -> None:
        """Queue one encoded message; past the bounds, close the connection with 1013."""
        if self.overflowed:
            return
        if len(self._messages) >= SEND_QUEUE_MESSAGES or (
            self._bytes + len(line) > SEND_QUEUE_BYTES
        ):
            self.overflowed = True
            self._messages.clear()
            self._ready.set()
            # Closed from here, not by the writer, which may be blocked in a send to the
            # client that stopped reading: the close frame follows what the socket holds,
            # and the connection is cut after CLOSE_TIMEOUT if the client never reads it.
            self._closer = asyncio.get_running_loop().create_task(self._close_behind())
            return
        self._messages.append(line)
        self._bytes += len(line)
        self._empty.clear()
        self._ready.set()

    async def run(self) -> None:
        """Send until the connection closes (or overflows: then close it with 1013)."""
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            while True:
                await self._ready.wait()
                self._ready.clear()
                if self.overflowed:
                    return
                self._store.commit()
                while self._messages:
                    line = self._messages.popleft()
                    self._bytes -= len(line)
                    await self._socket.send(line.rstrip(b"\n").decode())
                    if self.overflowed:
                        break
                if not self._messages:
                    self._empty.set()

    async def _close_behind(self) -> None:
        print(
            f"agentcycle app-server: a WebSocket client fell {SEND_QUEUE_MESSAGES} messages "
            "behind; closing it (1013)",
            file=sys.stderr,
        )
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._socket.close(CLOSE_TRY_AGAIN_LATER, "send queue full")
        except TimeoutError:
            # The client does not read even the close frame: cut the connection.
            self._socket.transport.abort()

    async def flushed(self) -> None:
        """Wait until everything queued went out (or the queue overflowed)."""
        if not self.overflowed:
            await self._empty.wait()


class WebSocketListener:
    """Accepts WebSocket clients for one ``AppServer``."""

    def __init__(self, server: AppServer, store: Store, token: str | None) -> None:
        self._server = server
        self._store = store
        self._token = token
        self._ready = False
        self._connections: dict[Connection, tuple[ServerConnection, _SendQueue]] = {}

    def check(self, socket: ServerConnection, request: Request) -> Response | None:
        """The upgrade's gate: health endpoints, then Origin, then the bearer token."""
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return socket.respond(200, "ok\n")
        if path == "/readyz":
            return socket.respond(200 if self._ready else 503, "ready\n")
        if "Origin" in request.headers:
            return socket.respond(403, "Origin not allowed\n")
        if self._token is not None:
            given = request.headers.get("Authorization", "")
            expected = f"Bearer {self._token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return socket.respond(401, "Unauthorized\n")
        return None

    async def handle(self, socket: ServerConnection) -> None:
        """Serve one client until it disconnects."""
        from websockets.exceptions import ConnectionClosed

        raw = socket.transport.get_extra_info("socket")
        if raw is not None:
            # The send queue is the bound (§11.4): the kernel must not hide megabytes more
            # behind it (loopback autotunes a send buffer up to 4 MiB).
            raw.setsockopt(pysocket.SOL_SOCKET, pysocket.SO_SNDBUF, KERNEL_SEND_BUFFER)
        queue = _SendQueue(socket, self._store)
        conn = Connection(queue.put, name=f"ws:{socket.id}")
        self._connections[conn] = (socket, queue)
        writer = asyncio.get_running_loop().create_task(queue.run())
        try:
            while True:
                frame = await socket.recv()
                if isinstance(frame, bytes):
                    await socket.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not supported")
                    break
                self._server.receive(conn, frame.encode())
        except ConnectionClosed:
            pass
        finally:
            del self._connections[conn]
            # A dropped client owes no answer: its approvals stay pending for whoever
            # resumes the thread (§9.3), so nothing is failed here.
            conn.drop()
            self._server.threads.disconnect(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def serve(self, listen: Listen, stop: asyncio.Event) -> int:
        """Listen until ``stop`` is set, then shut the server down; returns the exit code."""
        from websockets.asyncio.server import serve

        server: Server = await serve(
            self.handle,
            listen.host,
            listen.port,
            process_request=self.check,
            max_size=rpc.MAX_MESSAGE_BYTES,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
            # Deflating every small message costs more CPU than a loopback link saves, and
            # would let a stalled client sit on far more than the queue's bound.
            compression=None,
        )
        port = next(iter(server.sockets)).getsockname()[1]
        host = f"[{listen.host}]" if ":" in listen.host else listen.host
        self._ready = True
        print(f"agentcycle app-server: listening on ws://{host}:{port}", file=sys.stderr)
        sys.stderr.flush()
        await stop.wait()
        self._ready = False
        server.close(close_connections=False)
        await self._server.shutdown(*self._connections)
        for socket, queue in list(self._connections.values()):
            # The turns' last notifications go out before the close frame (a client that
            # stopped reading gets CLOSE_TIMEOUT seconds).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.flushed(), CLOSE_TIMEOUT)
            with contextlib.suppress(Exception):
                await socket.close(CLOSE_GOING_AWAY, "server shutdown")
        await server.wait_closed()
        return 0


async def serve_websocket(
    store: Store,
    launcher: TurnLauncher,
    listen: Listen,
    *,
    token: str | None,
    max_queued_requests: int,
    approval_timeout: float,
) -> int:
    """Serve WebSocket clients until SIGTERM or SIGINT; returns the exit code."""
    server = AppServer(
        store,
        launcher,
        max_queued_requests=max_queued_requests,
        approval_timeout=approval_timeout,
    )
    server.recover()
    store.commit()
    loop = asyncio.get_running_loop()

    # Whatever a turn writes is committed at the end of the loop's current pass: durable
    # whether or not any client is listening.
    def commit_soon() -> None:
        loop.call_soon(store.commit)

    store.on_begin = commit_soon
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return await WebSocketListener(server, store, token).serve(listen, stop)
