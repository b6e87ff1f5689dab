"""The app server over stdio: JSONL JSON-RPC 2.0 on stdin/stdout (APP_SERVER.md §2, §3).

``serve_stdio(store, launcher)`` reads requests from stdin, answers on stdout and returns the
exit code once stdin ends (or SIGTERM arrives): active turns are cancelled, pending approvals
time out with "server shutdown", everything is flushed. stdout carries protocol messages only:
anything else that writes to file descriptor 1 while the server runs lands on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from pydantic import BaseModel, ValidationError

from agentcycle import __version__
from agentcycle.app_server import _jsonrpc as rpc
from agentcycle.app_server import protocol as p
from agentcycle.app_server._artifacts import ArtifactDirectory
from agentcycle.app_server._connection import Connection
from agentcycle.app_server._delivery import Delivery
from agentcycle.app_server._fanout import Fanout
from agentcycle.app_server._jsonrpc import Reply
from agentcycle.app_server._projection import interrupted_tool_call, open_tool_calls
from agentcycle.app_server._runtime import TurnLauncher
from agentcycle.app_server._scheduler import Scheduler
from agentcycle.app_server._store import Store, now
from agentcycle.app_server._threads import ThreadService
from agentcycle.app_server._turn_methods import TurnService
from agentcycle.app_server._turn_runs import TurnRuns

USER_AGENT = f"agentcycle-app-server/{__version__}"
RETRY_AFTER_MS = 200
"""What ``-32001`` suggests a client waits before retrying (with its own jitter)."""

_EXCLUSIVE = True
_SHARED = False

Handler = Callable[[Connection, Any], Awaitable[Reply]]


class AppServer:
    """The protocol engine for one store and one launcher: classifies inbound lines, gates the
    handshake, schedules requests per scope and writes responses. Transports feed it lines
    (``receive``) and give it a connection to write to."""

    def __init__(
        self,
        store: Store,
        launcher: TurnLauncher,
        *,
        max_queued_requests: int,
        approval_timeout: float,
    ) -> None:
        self._store = store
        self._launcher = launcher
        artifacts = ArtifactDirectory(store.artifacts)
        fanout = Fanout(store, artifacts)
        self._runs = TurnRuns(store, launcher, Delivery(store, fanout, approval_timeout))
        self.threads = ThreadService(store, self._runs)
        self.turns = TurnService(store, launcher, self._runs)
        self._scheduler = Scheduler(max_queued_requests)
        self._closing = False
        self._handlers: dict[str, tuple[Handler, Callable[[Any], Hashable], bool]] = {
            "thread/start": (self.threads.thread_start, lambda _: "thread", _EXCLUSIVE),
            "thread/resume": (self.threads.thread_resume, _by_thread, _EXCLUSIVE),
            "thread/read": (self.threads.thread_read, _by_thread, _SHARED),
            "thread/list": (self.threads.thread_list, lambda _: "thread/list", _SHARED),
            "thread/archive": (self.threads.thread_archive, _by_thread, _EXCLUSIVE),
            "thread/unsubscribe": (self.threads.thread_unsubscribe, _by_thread, _EXCLUSIVE),
            "turn/start": (self.turns.turn_start, _by_thread, _EXCLUSIVE),
            "turn/steer": (self.turns.turn_steer, _by_thread, _EXCLUSIVE),
            "turn/followUp": (self.turns.turn_follow_up, _by_thread, _EXCLUSIVE),
            "turn/interrupt": (self.turns.turn_interrupt, _by_thread, _EXCLUSIVE),
            "turn/resume": (self.turns.turn_resume, _by_thread, _EXCLUSIVE),
            "approval/resolve": (self.turns.approval_resolve, _by_thread, _EXCLUSIVE),
            "model/list": (self._model_list, lambda _: "model/list", _SHARED),
            "schema/export": (self._schema_export, lambda _: "schema/export", _SHARED),
            "thread/events/list": (self.threads.thread_events_list, _by_thread, _SHARED),
        }

    # ------------------------------------------------------------------ inbound

    def receive(self, conn: Connection, line: bytes) -> None:
        """Handle one inbound line (``b""`` ends nothing: blank lines are ignored)."""
        if not line.strip():
            return
        message = rpc.classify(line)
        if isinstance(message, rpc.Invalid):
            conn.send(rpc.error_response(message.id, message.error))
        elif isinstance(message, rpc.Response):
            conn.answered(message)
        elif isinstance(message, rpc.Notification):
            return  # ``initialized`` needs nothing; unknown notifications are ignored
        elif self._closing:
            return  # shutting down: nothing new is answered
        else:
            self._request(conn, message)

    def too_large(self, conn: Connection) -> None:
        """Answer a line over the inbound limit."""
        conn.send(rpc.error_response(None, rpc.invalid_request("Message too large")))

    def _request(self, conn: Connection, message: rpc.Request) -> None:
        method = message.method
        try:
            if method == "initialize":
                conn.send(rpc.response(message.id, self._initialize(conn, message.params)))
                return
            if not conn.initialized:
                raise rpc.RpcError(rpc.NOT_INITIALIZED, "Not initialized")
            entry = self._handlers.get(method)
            if entry is None:
                raise rpc.RpcError(
                    rpc.METHOD_NOT_FOUND, f"Method not found: {method}", {"method": method}
                )
            handler, scope_of, exclusive = entry
            params = _parse(method, message.params, conn.experimental)
        except rpc.RpcError as exc:
            conn.send(rpc.error_response(message.id, exc))
            return

        async def job() -> None:
            await self._run(conn, message.id, handler, params)

        if not self._scheduler.submit(scope_of(params), exclusive, job):
            overloaded = rpc.RpcError(
                rpc.OVERLOADED, "Server overloaded; retry later.", {"retryAfterMs": RETRY_AFTER_MS}
            )
            conn.send(rpc.error_response(message.id, overloaded))

    async def _run(
        self, conn: Connection, request_id: rpc.RequestId, handler: Handler, params: Any
    ) -> None:
        after = None
        try:
            result, after = await handler(conn, params)
            conn.send(rpc.response(request_id, result))
        except rpc.RpcError as exc:
            conn.send(rpc.error_response(request_id, exc))
        except Exception as exc:  # a bug or a store failure: answered, never fatal
            print(f"agentcycle app-server: internal error: {exc!r}", file=sys.stderr)
            conn.send(rpc.error_response(request_id, rpc.RpcError(rpc.INTERNAL_ERROR, str(exc))))
        if after is not None:
            after()

    def _initialize(self, conn: Connection, raw: Any) -> dict[str, Any]:
        if conn.initialized:
            raise rpc.RpcError(rpc.ALREADY_INITIALIZED, "Already initialized")
        params = _parse("initialize", raw, experimental=False)
        assert isinstance(params, p.InitializeParams)
        if not params.client_info.name.strip():
            raise rpc.invalid_params("clientInfo.name must not be blank")
        capabilities = params.capabilities or p.ClientCapabilities()
        conn.experimental = bool(capabilities.experimental_api)
        conn.opted_out = frozenset(capabilities.opt_out_notification_methods or ())
        conn.initialized = True
        return p.InitializeResponse(
            user_agent=USER_AGENT,
            protocol_version=p.PROTOCOL_VERSION,
            capabilities=p.ServerCapabilities(
                model_list=True,
                thread_lifecycle=True,
                notification_opt_out=True,
                schema_export=True,
                approval_resolve=True,
            ),
        ).wire()

    # ------------------------------------------------------------------ global methods

    async def _model_list(self, conn: Connection, params: p.ModelListParams) -> Reply:
        models = self._launcher.models()
        if params.provider is not None:
            models = [m for m in models if m.get("provider") == params.provider]
        return {"models": models}, None

    async def _schema_export(self, conn: Connection, params: p.SchemaExportParams) -> Reply:
        from agentcycle.app_server.schemas import json_schemas, typescript_files

        return {"jsonSchema": json_schemas(), "typescript": typescript_files()}, None

    # ------------------------------------------------------------------ lifecycle

    def recover(self) -> None:
        """Apply the store's restart rules (nobody is connected yet to hear them); a tool
        call the killed server left running is closed ``interrupted`` with its turn."""
        at = now()

        def close_tool_calls(
            thread_id: str, turn_id: str, items: list[dict[str, Any]]
        ) -> list[dict[str, Any]]:
            return [
                interrupted_tool_call(started["itemId"], thread_id, turn_id, call_id, name, at)
                for call_id, (name, started) in open_tool_calls(items).items()
            ]

        self._store.recover(at, close_tool_calls)

    async def shutdown(self, *connections: Connection) -> None:
        """Stop answering, let accepted requests finish, end every turn, fail what the
        clients still owe."""
        self._closing = True
        await self._scheduler.drain()
        await self._runs.shutdown()
        for conn in connections:
            conn.close()
            self.threads.disconnect(conn)


def _experimental_required(data: dict[str, str]) -> rpc.RpcError:
    return rpc.RpcError(rpc.EXPERIMENTAL_REQUIRED, "Experimental API required", data)


def _by_thread(params: Any) -> Hashable:
    return ("thread", params.thread_id)


def _parse(method: str, raw: Any, experimental: bool) -> BaseModel:
    """Validate ``method``'s params; ext methods and params need ``experimental``."""
    ext_method = p.EXT_REQUESTS.get(method)
    if ext_method is not None:
        if not experimental:
            raise _experimental_required({"method": method})
        model, required = ext_method[0], True
    else:
        model, _result, required = p.CLIENT_REQUESTS[method]
    if raw is None and not required:
        raw = {}
    if not isinstance(raw, dict):
        raise rpc.invalid_params(f"Invalid params for {method}: expected an object")
    ext_params = p.EXT_PARAMS.get(method)
    if ext_params is not None:
        used = sorted(ext_params[1] & raw.keys())
        if used and not experimental:
            raise _experimental_required({"method": method, "field": used[0]})
        if experimental:
            model = ext_params[0]
    try:
        return model.model_validate(raw, by_alias=True, by_name=False)
    except ValidationError as exc:
        raise rpc.params_error(method, exc) from None


async def serve_stdio(
    store: Store, launcher: TurnLauncher, *, max_queued_requests: int, approval_timeout: float
) -> int:
    """Serve one client on stdin/stdout until stdin ends; returns the exit code.
    ``approval_timeout`` is the launcher's, announced to experimental clients as
    ``expiresAt``."""
    out = _claim_stdout()
    loop = asyncio.get_running_loop()
    outbox = _Outbox(out, store, loop)
    server = AppServer(
        store,
        launcher,
        max_queued_requests=max_queued_requests,
        approval_timeout=approval_timeout,
    )
    server.recover()
    conn = Connection(outbox.add)
    ended = asyncio.Event()

    def deliver(lines: list[bytes | None]) -> None:
        for line in lines:
            if line is None:
                server.too_large(conn)
            else:
                server.receive(conn, line)

    reader = threading.Thread(
        target=_read_lines,
        args=(sys.stdin.buffer.fileno(), loop, deliver, ended.set),
        name="app-server-stdin",
        daemon=True,
    )
    reader.start()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, ended.set)
    await ended.wait()
    await server.shutdown(conn)
    with contextlib.suppress(OSError):
        outbox.flush()
    return 0


class _Outbox:
    """Messages on their way to stdout. They gather while the loop is busy and go out
    together once it is about to wait (or ``BATCH`` are queued), right after the store
    commits the writes behind them: persist, then send, at one commit and one flush per
    batch. The write blocks when the client reads slowly: producers slow down, nothing is
    dropped."""

    BATCH = 256

    def __init__(self, out: Any, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self._out = out
        self._store = store
        self._loop = loop
        self._lines: list[bytes] = []
        self._scheduled = False
        self._gone = False

    def add(self, line: bytes) -> None:
        """Queue one encoded message."""
        self._lines.append(line)
        if len(self._lines) >= self.BATCH:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Commit the store, then write and flush every queued message."""
        self._scheduled = False
        if not self._lines:
            return
        self._store.commit()
        data = b"".join(self._lines)
        self._lines.clear()
        if self._gone:
            return
        try:
            self._out.write(data)
            self._out.flush()
        except OSError as exc:
            # The client stopped reading for good: keep persisting, stop writing; stdin's
            # end (or SIGTERM) shuts the server down as usual.
            self._gone = True
            print(f"agentcycle app-server: stdout closed ({exc}); not writing", file=sys.stderr)


def _claim_stdout() -> Any:
    """A private handle on the real stdout; file descriptor 1 (and ``sys.stdout``) now go to
    stderr, so no library can write into the protocol stream."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "wb", buffering=1 << 16)


def _read_lines(
    fd: int,
    loop: asyncio.AbstractEventLoop,
    deliver: Callable[[list[bytes | None]], None],
    on_eof: Callable[[], None],
) -> None:
    """Read stdin in a thread and hand complete lines to the loop (``None`` for a line over
    the limit, discarded up to its newline)."""
    buffer = bytearray()
    discarding = False
    try:
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            lines: list[bytes | None] = []
            start = 0
            while True:
                newline = chunk.find(b"\n", start)
                if newline < 0:
                    if not discarding:
                        buffer += chunk[start:]
                        if len(buffer) > rpc.MAX_MESSAGE_BYTES:
                            discarding = True
                            buffer.clear()
                    break
                if discarding:
                    discarding = False
                    lines.append(None)
                else:
                    buffer += chunk[start:newline]
                    too_long = len(buffer) > rpc.MAX_MESSAGE_BYTES
                    lines.append(None if too_long else bytes(buffer))
                buffer.clear()
                start = newline + 1
            if lines:
                loop.call_soon_threadsafe(deliver, lines)
        last: list[bytes | None] = [None] if discarding else [bytes(buffer)] if buffer else []
        if last:
            loop.call_soon_threadsafe(deliver, last)
    except OSError as exc:
        print(f"agentcycle app-server: reading stdin failed: {exc}", file=sys.stderr)
    finally:
        with contextlib.suppress(RuntimeError):  # the loop closed already
            loop.call_soon_threadsafe(on_eof)
