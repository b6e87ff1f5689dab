"""A typed Python client for the app server: spawn ``agentcycle app-server`` as a subprocess
(stdio) or connect to one listening on a WebSocket, send typed requests, iterate
notifications, answer approvals.

    async with await AppServerClient.spawn(["--scripted-model", "replies.json",
                                            "--store", ":memory:"]) as client:
        await client.initialize("my-host")
        thread = await client.thread_start()
        await client.turn_start(thread.thread_id, "hello")
        async for note in client.notifications():
            if note.method == "turn/completed":
                break

``AppServerClient.connect("ws://127.0.0.1:PORT", token=...)`` does the same over a
WebSocket (the ``ws`` extra). With ``on_approval`` every ``approval/request`` is answered by
that callback; without it the request shows up in ``notifications()`` (``ServerMessage.id``
set) and ``respond`` answers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

from agentcycle.app_server import protocol as p

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

T = TypeVar("T", bound=p.WireModel)

_LINE_LIMIT = 256 * 1024 * 1024
"""How long a line from the server may be (a large thread's snapshot is one line)."""

_APPROVAL_REQUEST_KEYS = frozenset(
    field.alias or name for name, field in p.ApprovalRequestParams.model_fields.items()
)
"""The wire names of ``approval/request``'s v1 params."""


class AppServerError(Exception):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data


@dataclass(frozen=True, slots=True)
class ServerMessage:
    """A notification, or (``id`` set) a server request waiting for ``respond``."""

    method: str
    params: dict[str, Any]
    id: str | int | None = None


ApprovalAnswer = dict[str, Any]
"""``{"decision": "allow" | "allow_session" | "deny" | "timeout", "reason"?: str}``."""

ApprovalCallback = Callable[[p.ApprovalRequestParams], Awaitable[ApprovalAnswer]]


class _Transport(Protocol):
    """How the client reaches the server: one message per ``write``, ``read`` until
    ``None`` (the server went away)."""

    async def write(self, data: bytes) -> None: ...

    async def read(self) -> bytes | None: ...

    async def close(self) -> int | None: ...


class _StdioTransport:
    """The spawned server's stdin and stdout, one message per line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    async def write(self, data: bytes) -> None:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(data + b"\n")
        await stdin.drain()

    async def read(self) -> bytes | None:
        stdout = self._process.stdout
        assert stdout is not None
        return await stdout.readline() or None

    async def close(self) -> int:
        stdin = self._process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await stdin.wait_closed()
        return await self._process.wait()


class _WebSocketTransport:
    """A WebSocket, one message per text frame."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def write(self, data: bytes) -> None:
        await self.socket.send(data.decode("utf-8", "replace"))

    async def read(self) -> bytes | None:
        from websockets.exceptions import ConnectionClosed

        try:
            frame = await self.socket.recv()
        except ConnectionClosed:
            return None
        return frame.encode() if isinstance(frame, str) else frame

    async def close(self) -> None:
        await self.socket.close()


class AppServerClient:
    """One connection to a server (see the module docstring). ``received`` keeps every
    message the server wrote and ``sent`` every message written to it, in order, for hosts
    that log or validate them. ``process`` is the spawned server (``None`` over a
    WebSocket)."""

    def __init__(
        self,
        transport: _Transport,
        on_approval: ApprovalCallback | None,
        process: asyncio.subprocess.Process | None = None,
    ) -> None:
        self.process = process
        self._transport = transport
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        self._on_approval = on_approval
        self._ids = itertools.count(1)
        self._pending: dict[str | int, asyncio.Future[Any]] = {}
        self._messages: asyncio.Queue[ServerMessage | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def spawn(
        cls,
        args: Sequence[str],
        *,
        on_approval: ApprovalCallback | None = None,
        command: Sequence[str] | None = None,
        cwd: str | Path | None = None,
        env: dict[str, str] | None = None,
        stderr: IO[Any] | int | None = None,
    ) -> AppServerClient:
        """Start ``agentcycle app-server --listen stdio *args`` (``command`` replaces the
        program, default: this Python running the agentcycle CLI)."""
        program = list(command or [sys.executable, "-c", _ENTRY])
        process = await asyncio.create_subprocess_exec(
            *program,
            "app-server",
            "--listen",
            "stdio",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            cwd=None if cwd is None else str(cwd),
            env={**os.environ, **(env or {})},
            limit=_LINE_LIMIT,
        )
        return cls(_StdioTransport(process), on_approval, process)

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        on_approval: ApprovalCallback | None = None,
    ) -> AppServerClient:
        """Connect to ``agentcycle app-server --listen ws://HOST:PORT`` (``token``: the
        server's ``--ws-token-file`` token, sent as a bearer token)."""
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        socket = await connect(
            url, additional_headers=headers, max_size=_LINE_LIMIT, open_timeout=30
        )
        return cls(_WebSocketTransport(socket), on_approval)

    @property
    def close_code(self) -> int | None:
        """How the server closed the WebSocket (e.g. 1013: this client fell too far behind;
        reconnect and resume from the last cursor); ``None`` over stdio or while open."""
        if isinstance(self._transport, _WebSocketTransport):
            return self._transport.socket.close_code
        return None

    async def __aenter__(self) -> AppServerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ transport

    async def send(self, message: dict[str, Any]) -> None:
        """Write one raw message (a line of JSON)."""
        self.sent.append(message)
        await self.send_line(json.dumps(message, separators=(",", ":")).encode())

    async def send_line(self, line: bytes) -> None:
        """Write raw bytes as one message: a line, or a text frame (conformance tests send
        garbage this way)."""
        await self._transport.write(line)

    async def request_raw(self, method: str, params: Any = None) -> Any:
        """Send a request and return its ``result``; raises ``AppServerError``."""
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)
        return await future

    async def request(self, method: str, params: p.WireModel | None, result: type[T]) -> T:
        """Send a typed request and read its typed result."""
        raw = await self.request_raw(method, None if params is None else params.wire())
        return result.model_validate(raw)

    async def respond(self, request_id: str | int, result: Any) -> None:
        """Answer a server request."""
        await self.send({"jsonrpc": "2.0", "id": request_id, "result": result})

    async def notifications(self) -> AsyncIterator[ServerMessage]:
        """Notifications (and unhandled server requests) in arrival order, until the server
        exits."""
        while True:
            message = await self._messages.get()
            if message is None:
                self._messages.put_nowait(None)  # later iterators end too
                return
            yield message

    async def wait_for(
        self, method: str, predicate: Callable[[ServerMessage], bool] | None = None
    ) -> ServerMessage:
        """The next message of ``method`` (matching ``predicate``); earlier ones are
        skipped. Raises ``EOFError`` if the server exits first."""
        async for message in self.notifications():
            if message.method == method and (predicate is None or predicate(message)):
                return message
        raise EOFError(f"the server exited before {method}")

    async def close(self) -> int | None:
        """Close stdin (the server shuts down) and return its exit code, or close the
        WebSocket (the server goes on; ``None``)."""
        code = await self._transport.close()
        await self._reader
        return code

    async def _read(self) -> None:
        try:
            while line := await self._transport.read():
                message = json.loads(line)
                self.received.append(message)
                self._route(message)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(EOFError("the server exited"))
            self._messages.put_nowait(None)

    def _route(self, message: dict[str, Any]) -> None:
        if "method" not in message:
            future = self._pending.pop(message.get("id"), None)  # type: ignore[arg-type]
            if future is None or future.done():
                return
            error = message.get("error")
            if error is not None:
                future.set_exception(
                    AppServerError(error["code"], error["message"], error.get("data"))
                )
            else:
                future.set_result(message.get("result"))
            return
        params = message.get("params") or {}
        if "id" in message and message["method"] == "approval/request" and self._on_approval:
            task = asyncio.get_running_loop().create_task(self._approve(message["id"], params))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._messages.put_nowait(ServerMessage(message["method"], params, message.get("id")))

    async def _approve(self, request_id: str | int, params: dict[str, Any]) -> None:
        assert self._on_approval is not None
        # The v1 params only: an experimental connection's ext fields (``expiresAt``) are not
        # in the closed v1 model, and refusing them would leave the approval unanswered.
        v1 = {key: value for key, value in params.items() if key in _APPROVAL_REQUEST_KEYS}
        answer = await self._on_approval(p.ApprovalRequestParams.model_validate(v1))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, *_closed()):
            await self.respond(request_id, answer)

    # ------------------------------------------------------------------ typed methods

    async def initialize(
        self,
        name: str,
        *,
        title: str | None = None,
        version: str | None = None,
        experimental_api: bool | None = None,
        opt_out_notification_methods: Sequence[str] | None = None,
    ) -> p.InitializeResponse:
        """``initialize`` then the ``initialized`` notification."""
        capabilities = None
        if experimental_api is not None or opt_out_notification_methods is not None:
            capabilities = p.ClientCapabilities(
                experimental_api=experimental_api,
                opt_out_notification_methods=(
                    None
                    if opt_out_notification_methods is None
                    else list(opt_out_notification_methods)
                ),
            )
        params = p.InitializeParams(
            client_info=p.ClientInfo(name=name, title=title, version=version),
            capabilities=capabilities,
        )
        result = await self.request("initialize", params, p.InitializeResponse)
        await self.send({"jsonrpc": "2.0", "method": "initialized"})
        return result

    async def thread_start(
        self,
        *,
        agent_key: str | None = None,
        cwd: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> p.ThreadStartResponse:
        """``thread/start``."""
        params = p.ThreadStartParams(agent_key=agent_key, cwd=cwd, metadata=metadata)
        return await self.request("thread/start", params, p.ThreadStartResponse)

    async def thread_resume(
        self, thread_id: str, *, subscribe: bool | None = None
    ) -> p.ThreadResumeResponse:
        """``thread/resume``."""
        params = p.ThreadResumeParams(thread_id=thread_id, subscribe=subscribe)
        return await self.request("thread/resume", params, p.ThreadResumeResponse)

    async def thread_read(
        self, thread_id: str, *, after_item_id: str | None = None
    ) -> p.ThreadReadResponse:
        """``thread/read``."""
        params = p.ThreadReadParams(thread_id=thread_id, after_item_id=after_item_id)
        return await self.request("thread/read", params, p.ThreadReadResponse)

    async def thread_list(self, **params: Any) -> p.ThreadListResponse:
        """``thread/list`` (``include_archived``, ``archived``, ``offset``, ``limit``)."""
        return await self.request("thread/list", p.ThreadListParams(**params), p.ThreadListResponse)

    async def thread_archive(self, thread_id: str) -> p.ThreadArchiveResponse:
        """``thread/archive``."""
        params = p.ThreadArchiveParams(thread_id=thread_id)
        return await self.request("thread/archive", params, p.ThreadArchiveResponse)

    async def thread_unsubscribe(self, thread_id: str) -> p.ThreadUnsubscribeResponse:
        """``thread/unsubscribe``."""
        params = p.ThreadUnsubscribeParams(thread_id=thread_id)
        return await self.request("thread/unsubscribe", params, p.ThreadUnsubscribeResponse)

    async def turn_start(
        self, thread_id: str, text: str | None = None, *, input: list[dict[str, Any]] | None = None
    ) -> p.TurnStartResponse:
        """``turn/start`` with ``text`` as one text item (or the raw ``input`` items)."""
        items = input if input is not None else [{"type": "text", "text": text or ""}]
        params = p.TurnStartParams(thread_id=thread_id, input=items)
        return await self.request("turn/start", params, p.TurnStartResponse)

    async def turn_resume(
        self, thread_id: str, turn_id: str, checkpoint_key: str
    ) -> p.TurnResumeResponse:
        """``turn/resume``: continue the turn's durable run from its checkpoint (the key is
        the turn's ``runId``)."""
        params = p.TurnResumeParams(
            thread_id=thread_id, turn_id=turn_id, checkpoint_key=checkpoint_key
        )
        return await self.request("turn/resume", params, p.TurnResumeResponse)

    async def turn_steer(
        self, thread_id: str, text: str, *, expected_turn_id: str | None = None
    ) -> p.TurnQueuedResponse:
        """``turn/steer``: ``text`` reaches the model before its next call."""
        return await self._queue("turn/steer", thread_id, text, expected_turn_id)

    async def turn_follow_up(
        self, thread_id: str, text: str, *, expected_turn_id: str | None = None
    ) -> p.TurnQueuedResponse:
        """``turn/followUp``: ``text`` starts a new turn once this one completes."""
        return await self._queue("turn/followUp", thread_id, text, expected_turn_id)

    async def _queue(
        self, method: str, thread_id: str, text: str, expected_turn_id: str | None
    ) -> p.TurnQueuedResponse:
        params = p.TurnSteerParams(
            thread_id=thread_id,
            expected_turn_id=expected_turn_id,
            input=[{"type": "text", "text": text}],
        )
        return await self.request(method, params, p.TurnQueuedResponse)

    async def turn_interrupt(
        self, thread_id: str, *, expected_turn_id: str | None = None, reason: str | None = None
    ) -> p.TurnInterruptResponse:
        """``turn/interrupt``."""
        params = p.TurnInterruptParams(
            thread_id=thread_id, expected_turn_id=expected_turn_id, reason=reason
        )
        return await self.request("turn/interrupt", params, p.TurnInterruptResponse)

    async def approval_resolve(
        self,
        thread_id: str,
        turn_id: str,
        request_id: str,
        decision: p.ApprovalDecision,
        *,
        reason: str | None = None,
    ) -> None:
        """``approval/resolve``."""
        params = p.ApprovalResolveParams(
            thread_id=thread_id,
            turn_id=turn_id,
            request_id=request_id,
            decision=decision,
            reason=reason,
        )
        await self.request("approval/resolve", params, p.ApprovalResolveResponse)

    async def model_list(self) -> p.ModelListResponse:
        """``model/list``."""
        return await self.request("model/list", p.ModelListParams(), p.ModelListResponse)

    async def schema_export(self) -> p.SchemaExportResponse:
        """``schema/export``."""
        return await self.request("schema/export", None, p.SchemaExportResponse)


_ENTRY = "import sys; from agentcycle.cli import main; sys.exit(main(sys.argv[1:]))"
"""How ``spawn`` runs the CLI with the current interpreter."""


def _closed() -> tuple[type[Exception], ...]:
    """The exception of a write to a closed WebSocket (when websockets is installed)."""
    try:
        from websockets.exceptions import ConnectionClosed
    except ImportError:
        return ()
    return (ConnectionClosed,)
