"""Machinery shared by the loopback test servers: a threaded stdlib HTTP server bound to
127.0.0.1 on an ephemeral port, a reply queue, request recording, SSE over chunked transfer
encoding, and a clean shutdown that also ends kept-alive connections."""

from __future__ import annotations

import collections
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request the server received. ``headers`` keys are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    received_at: float
    """``time.monotonic()`` when the request arrived (for asserting retry delays)."""


@dataclass(frozen=True, slots=True)
class ServerToolCall:
    """A tool call the server answers with. ``arguments`` given as text are sent verbatim
    (malformed JSON included); a mapping is JSON-encoded. ``id`` defaults to a generated one."""

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    id: str | None = None

    def arguments_text(self) -> str:
        """The arguments as the JSON text the server sends."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An HTTP error response. Without ``body`` the server writes its API's usual error body
    from ``message``, ``error_type`` and ``code``; ``headers`` such as ``Retry-After`` are sent
    as given. ``delay`` seconds pass before the response is written."""

    status: int
    message: str = "error"
    error_type: str | None = None
    code: str | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


def split(text: str, size: int) -> list[str]:
    """``text`` in pieces of ``size`` characters (at least one piece for non-empty text)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Idle kept-alive connections give up eventually even if shutdown misses them.
    timeout = 30
    owner: LoopbackServer[Any]

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection)

    def finish(self) -> None:
        self.owner._untrack(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr log."""

    def do_GET(self) -> None:
        self.owner._dispatch(self, "GET")

    def do_POST(self) -> None:
        self.owner._dispatch(self, "POST")


class Exchange:
    """The response side of one request, used by server subclasses to write replies."""

    def __init__(self, handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        self._handler = handler
        self._stopping = stopping
        self.started = False
        """Whether a status line was written (a response can no longer be replaced)."""

    def wait(self, seconds: float) -> bool:
        """Wait ``seconds`` (a scripted delay); False when the server is stopping instead."""
        return not self._stopping.wait(seconds) if seconds > 0 else True

    def json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        """Write a complete JSON (or, for ``str`` bodies, text) response."""
        if isinstance(body, str | bytes):
            data = body.encode() if isinstance(body, str) else body
            content_type = "text/plain; charset=utf-8"
        else:
            data = json.dumps(body).encode()
            content_type = "application/json"
        handler = self._handler
        self.started = True
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()

    def start_events(self) -> None:
        """Begin a ``text/event-stream`` response with chunked transfer encoding."""
        handler = self._handler
        self.started = True
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

    def event(self, data: str, event: str | None = None) -> None:
        """Write one server-sent event as one HTTP chunk."""
        text = f"event: {event}\ndata: {data}\n\n" if event else f"data: {data}\n\n"
        payload = text.encode()
        self._handler.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self._handler.wfile.flush()

    def comment(self, text: str = "keep-alive") -> None:
        """Write one server-sent-events comment line (a keep-alive) as one HTTP chunk."""
        payload = f": {text}\n\n".encode()
        self._handler.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
        self._handler.wfile.flush()

    def end_events(self) -> None:
        """Finish the chunked body properly."""
        self._handler.wfile.write(b"0\r\n\r\n")
        self._handler.wfile.flush()

    def cut(self) -> None:
        """Drop the connection without finishing the body (a stream cut mid-way)."""
        handler = self._handler
        handler.close_connection = True
        handler.wfile.flush()
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)


class LoopbackServer(Generic[R]):
    """Base of the scripted API servers. Subclasses implement ``_serve``.

    Replies come from the queue first (``replies`` and ``enqueue``), then from ``handler``
    (called with the request's JSON body). With neither, the server answers HTTP 400 with a
    message saying the script ran out.
    """

    def __init__(
        self,
        replies: Iterable[R | ErrorReply | str] = (),
        *,
        handler: Callable[[Any], R | ErrorReply | str] | None = None,
        chunk_size: int = 4,
    ) -> None:
        self._queue: collections.deque[R | ErrorReply | str] = collections.deque(replies)
        self._handler = handler
        self.chunk_size = chunk_size
        """Characters per streamed text or argument piece, unless a reply sets its own."""
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and serve in a background thread."""
        if self._server is not None:
            return self
        handler_class = type("Handler", (_Handler,), {"owner": self})
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), handler_class)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end open connections and join every server thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()  # joins the handler threads
        if thread is not None:
            thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import asyncio

        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        """The bound port (the server must be started)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ script and records

    def enqueue(self, *replies: R | ErrorReply | str) -> None:
        """Append scripted replies, answered in order before ``handler`` is consulted."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def pending_replies(self) -> int:
        """How many queued replies have not been used yet."""
        with self._lock:
            return len(self._queue)

    def _next_reply(self, body: Any) -> R | ErrorReply | str:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self._handler is not None:
            try:
                return self._handler(body)
            except Exception as exc:
                # A broken test handler should fail the call visibly, not be retried.
                return ErrorReply(400, message=f"loopback handler raised {exc!r}", code="no_reply")
        return ErrorReply(400, message="loopback server: no scripted reply left", code="no_reply")

    # ------------------------------------------------------------------ request handling

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)
        if self._stopping.is_set():
            # Accepted while stopping: do not wait for it to go idle.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _dispatch(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = handler.path.split("?", 1)[0]
        record = RecordedRequest(
            method=method,
            path=path,
            headers={name.lower(): value for name, value in handler.headers.items()},
            json=body,
            received_at=time.monotonic(),
        )
        with self._lock:
            self._requests.append(record)
        exchange = Exchange(handler, self._stopping)
        try:
            self._serve(exchange, method, path, body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
        except Exception as exc:
            # A reply the server cannot render: say so instead of dropping the connection.
            handler.close_connection = True
            if not exchange.started:
                message = f"loopback server could not send the reply: {exc!r}"
                exchange.json(500, {"error": {"message": message, "type": "server_error"}})
        if self._stopping.is_set():
            handler.close_connection = True

    def _serve(self, exchange: Exchange, method: str, path: str, body: Any) -> None:
        raise NotImplementedError
