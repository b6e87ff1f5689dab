"""One live connection to an MCP server, owned by one long-lived task.

The official SDK's context managers (the stdio subprocess, the HTTP client, the session) use
anyio cancel scopes, which must be entered and exited in the same task; exiting them from
another task (the run's, at cancellation) is the cross-task cleanup error users of other
runtimes report. So each connection runs its session in its own task, and callers talk to it
through a queue: each request is a coroutine run by a child task of the owner, answered through
a future. Closing puts a sentinel on the queue, and the owner leaves its context managers
itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable, Coroutine
from typing import Any

from agentcycle.errors import ConfigurationError
from agentcycle.mcp.config import HttpServerConfig, MCPServerConfig, StdioServerConfig

STDERR_TAIL_CHARS = 2_000
CLOSE_TIMEOUT_S = 5.0
"""How long closing waits for the owner task before cancelling it."""

Operation = Callable[[Any], Coroutine[Any, Any, Any]]
"""A request: a coroutine function of the SDK ``Client``."""


class ServerUnavailable(Exception):
    """The server could not be started or its connection is gone; ``stderr`` is the tail of
    what a stdio server wrote to stderr."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


class Connection:
    """A started server: ``request`` runs an operation on its ``Client``; ``on_tools_changed``
    is called when the server announces that its tool list changed."""

    def __init__(self, config: MCPServerConfig, on_tools_changed: Callable[[], None]) -> None:
        self.config = config
        self._on_tools_changed = on_tools_changed
        self._queue: asyncio.Queue[tuple[Operation, asyncio.Future[Any]] | None] = asyncio.Queue()
        self._owner: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stderr: Any = None
        self.alive = False

    async def start(self) -> None:
        """Start the server and its session; raise ``ServerUnavailable`` (with the stderr tail)
        when it cannot start within the server's ``startup_timeout_s``."""
        self._loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = self._loop.create_future()
        self._ready = ready
        if isinstance(self.config, StdioServerConfig):
            # A real file: the subprocess writes its stderr to the descriptor. Closed by aclose.
            self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
        self._owner = asyncio.create_task(self._own(ready), name=f"mcp:{self.config.name}")
        try:
            async with asyncio.timeout(self.config.startup_timeout_s):
                await asyncio.shield(ready)
        except BaseException as exc:
            stderr = self.stderr_tail()  # before aclose closes the file
            await self.aclose()
            if isinstance(exc, TimeoutError):
                message = f"did not start within {self.config.startup_timeout_s:g} s"
                raise ServerUnavailable(message, stderr) from None
            if isinstance(exc, Exception):
                raise ServerUnavailable(_describe(exc), stderr) from exc
            raise
        self.alive = True

    async def request(self, operation: Operation) -> Any:
        """Run ``operation`` on the session; cancelling the caller cancels the request."""
        if not self.alive or self._owner is None or self._owner.done():
            raise ServerUnavailable(f"MCP server {self.config.name!r} is not running")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            raise ConfigurationError(
                f"MCP server {self.config.name!r} was started on another event loop: use "
                f"shared MCPServers on the loop that opened them (Runner.run, not run_sync)"
            )
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put_nowait((operation, future))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.cancel()  # the owner cancels the request's task
            raise

    def stderr_tail(self) -> str:
        """The last ``STDERR_TAIL_CHARS`` characters a stdio server wrote to stderr."""
        file = self._stderr
        if file is None or file.closed:
            return ""
        with contextlib.suppress(OSError, ValueError):
            file.flush()
            size = file.seek(0, 2)
            file.seek(max(0, size - STDERR_TAIL_CHARS * 4))
            return str(file.read())[-STDERR_TAIL_CHARS:].strip()
        return ""

    async def aclose(self) -> None:
        """Stop the session and the server; safe to call more than once."""
        self.alive = False
        owner = self._owner
        if owner is not None and not owner.done():
            if self._ready is not None and not self._ready.done():
                owner.cancel()  # still starting: not reading its queue yet
            else:
                self._queue.put_nowait(None)
            done, _ = await asyncio.wait({owner}, timeout=CLOSE_TIMEOUT_S)
            if not done:
                owner.cancel()
                with contextlib.suppress(BaseException):
                    await owner
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def _own(self, ready: asyncio.Future[None]) -> None:
        requests: set[asyncio.Task[Any]] = set()
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await _open_client(self.config, stack, self._stderr, self._notified)
                listener = await _listen_for_changes(client, self._on_tools_changed)
                if ready.done():  # start gave up meanwhile
                    return
                ready.set_result(None)
                while (item := await self._queue.get()) is not None:
                    operation, future = item
                    if future.cancelled():
                        continue
                    task: asyncio.Task[Any] = asyncio.create_task(operation(client))
                    requests.add(task)
                    task.add_done_callback(requests.discard)
                    _link(task, future)
                children = (*requests, *((listener,) if listener is not None else ()))
                for task in children:
                    task.cancel()
                await asyncio.gather(*children, return_exceptions=True)
        except BaseException as exc:
            if not ready.done():
                if isinstance(exc, Exception):
                    ready.set_exception(exc)
                else:
                    ready.cancel()
            self.alive = False
            for task in requests:
                task.cancel()
            if not isinstance(exc, Exception):
                raise
        finally:
            self.alive = False
            self._fail_queued()

    async def _notified(self, message: Any) -> None:
        from mcp import types

        if isinstance(message, types.ToolListChangedNotification):
            self._on_tools_changed()

    def _fail_queued(self) -> None:
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None and not item[1].done():
                item[1].set_exception(ServerUnavailable(f"MCP server {self.config.name!r} stopped"))


def _link(task: asyncio.Task[Any], future: asyncio.Future[Any]) -> None:
    """Settle ``future`` from ``task``, and cancel ``task`` when the caller gives up."""

    def settle(done: asyncio.Task[Any]) -> None:
        if future.done():
            return
        if done.cancelled():
            future.cancel()
        elif (error := done.exception()) is not None:
            future.set_exception(error)
        else:
            future.set_result(done.result())

    task.add_done_callback(settle)
    future.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)


async def _open_client(
    config: MCPServerConfig,
    stack: contextlib.AsyncExitStack,
    stderr: Any,
    on_message: Any,
) -> Any:
    from mcp import Client

    transport: Any
    if isinstance(config, StdioServerConfig):
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        params = StdioServerParameters(
            command=config.command,
            args=list(config.args),
            env=dict(config.env) if config.env is not None else None,
            cwd=config.cwd,
        )
        transport = stdio_client(params, errlog=stderr)
    else:
        assert isinstance(config, HttpServerConfig)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=dict(config.headers), timeout=httpx2.Timeout(30, read=300))
        )
        transport = streamable_http_client(config.url, http_client=http)
    # The SDK's response cache would serve a stale tool list; ours follows list_changed.
    client = Client(transport, message_handler=on_message, cache=None)
    return await stack.enter_async_context(client)


async def _listen_for_changes(
    client: Any, on_change: Callable[[], None]
) -> asyncio.Task[None] | None:
    """On a 2026-07-28 connection, list_changed arrives on a ``subscriptions/listen`` stream
    (earlier revisions send a notification, which ``_notified`` handles). The stream is
    entered and exited by a task of its own, for the reason this module exists."""
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return None
    acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def listen() -> None:
        try:
            async with client.listen(tools_list_changed=True) as events:
                acknowledged.set_result(None)
                async for _ in events:
                    on_change()
        except Exception as exc:  # a lost stream only costs change notices
            if not acknowledged.done():
                acknowledged.set_exception(exc)

    task = asyncio.create_task(listen())
    try:
        await acknowledged
    except Exception:
        return None
    return task


_SDK_MODULES = frozenset({"mcp", "mcp_types"})
"""The top-level modules of the ``mcp`` extra (the official SDK)."""


def _describe(exc: BaseException) -> str:
    """One line for a start-up failure (anyio wraps them in exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in _SDK_MODULES:
        return f"the mcp package is missing: pip install 'agentcycle[mcp]' ({exc})"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
