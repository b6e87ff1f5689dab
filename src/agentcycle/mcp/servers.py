"""``MCPServers``: a set of MCP servers, started together, whose tools a run offers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentcycle.errors import ConfigurationError
from agentcycle.mcp._connection import Connection, ServerUnavailable
from agentcycle.mcp._tools import (
    MCP_PROTOCOL_ERROR,
    MCP_SERVER_UNAVAILABLE,
    MCP_TIMEOUT,
    MCPTool,
    convert_result,
    error_result,
    exposed_name,
    parameters_of,
    tool_traits,
)
from agentcycle.mcp.config import MCPServerConfig, StdioServerConfig, check_servers
from agentcycle.messages import ToolResult


@dataclass(frozen=True, slots=True)
class MCPServerFailure:
    """A server that did not start (or could not list its tools): why, and the tail of its
    stderr."""

    server: str
    message: str
    stderr: str = ""


@dataclass(frozen=True, slots=True)
class MCPServerStart:
    """A server that started (or restarted): its transport and how long start-up took."""

    server: str
    transport: Literal["stdio", "http"]
    duration_ms: float


@dataclass(frozen=True, slots=True)
class MCPToolList:
    """The tools a server offers after its filters (exposed names), and whether the list came
    from the cache."""

    server: str
    tools: tuple[str, ...]
    cached: bool


@dataclass(frozen=True, slots=True)
class MCPReport:
    """What :meth:`MCPServers.report` found: the tools, the servers that failed, the servers
    that started during the call and each server's tool list (what a run reports as events)."""

    tools: list[MCPTool]
    failures: tuple[MCPServerFailure, ...]
    started: tuple[MCPServerStart, ...] = ()
    listed: tuple[MCPToolList, ...] = ()


class MCPServers:
    """MCP servers, started concurrently by ``open`` and stopped by ``aclose`` (also an async
    context manager).

    A host that shares servers across runs opens one and passes it as ``mcp_servers``; the
    runs use it and leave it open. Given configurations instead, a run makes its own and its
    scope closes it when the run ends. A server that fails to start is left out: ``failures``
    says why (the run reports it as a ``diagnostic`` event).
    """

    def __init__(self, servers: Sequence[MCPServerConfig]) -> None:
        self._servers = [_Server(config) for config in check_servers(servers)]
        self._opened = False
        self._closed = False
        self.failures: tuple[MCPServerFailure, ...] = ()

    @property
    def configs(self) -> tuple[MCPServerConfig, ...]:
        """The servers' configurations."""
        return tuple(s.config for s in self._servers)

    async def open(self) -> MCPServers:
        """Start every server concurrently (once); a failure is recorded, not raised."""
        if self._closed:
            raise ConfigurationError("MCPServers: already closed")
        if not self._opened:
            self._opened = True
            outcomes = await asyncio.gather(*(s.start() for s in self._servers))
            self.failures = tuple(f for f in outcomes if f is not None)
        return self

    async def aclose(self) -> None:
        """Stop every server; safe to call more than once and from any task."""
        self._closed = True
        await asyncio.gather(*(s.stop() for s in self._servers), return_exceptions=True)

    async def __aenter__(self) -> MCPServers:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def tools(self) -> tuple[list[MCPTool], tuple[MCPServerFailure, ...]]:
        """The started servers' tools through their filters, in server order, and the servers
        that failed (to start, to restart after a timeout or crash, or now to list). A name two
        tools share after sanitising is a ``ConfigurationError``."""
        report = await self.report()
        return report.tools, report.failures

    async def report(self) -> MCPReport:
        """:meth:`tools`, with the servers that started meanwhile and each tool list."""
        starts = {id(s): s.start_count for s in self._servers}
        await self.open()
        active = [s for s in self._servers if s.started]
        lists = await asyncio.gather(*(s.tools() for s in active))
        tools: list[MCPTool] = []
        failures = list(self.failures)
        listed: list[MCPToolList] = []
        for server, outcome in zip(active, lists, strict=True):
            if isinstance(outcome, MCPServerFailure):
                failures.append(outcome)
            else:
                found, cached = outcome
                tools.extend(found)
                names = tuple(t.name for t in found)
                listed.append(MCPToolList(server.config.name, names, cached))
        started = tuple(
            s.last_start
            for s in self._servers
            if s.last_start is not None and s.start_count > starts[id(s)]
        )
        seen: dict[str, MCPTool] = {}
        for tool in tools:
            other = seen.setdefault(tool.name, tool)
            if other is not tool:
                raise ConfigurationError(
                    f"MCP tools {other.server}/{other.mcp_name} and {tool.server}/"
                    f"{tool.mcp_name} both become {tool.name!r}: block one (blocked_tools) or "
                    f"rename a server"
                )
        return MCPReport(tools, tuple(failures), started, tuple(listed))

    def changes(self, server: str) -> int:
        """How many tool-list changes ``server`` has announced so far."""
        return self._server(server).change_count

    async def wait_tools_changed(self, server: str, seen: int = 0) -> int:
        """Wait until ``server`` has announced more than ``seen`` tool-list changes and return
        the count (for hosts and tests that follow changes)."""
        return await self._server(server).wait_changed(seen)

    def _server(self, name: str) -> _Server:
        for server in self._servers:
            if server.config.name == name:
                return server
        raise KeyError(name)


class _Server:
    """One configured server: its connection, its cached tool list, its reconnect rule (a
    call after a timeout or a dead connection restarts the server once first)."""

    def __init__(self, config: MCPServerConfig) -> None:
        self.config = config
        self._connection: Connection | None = None
        self._listing: list[Any] | None = None
        self._broken = False
        self._restarting = asyncio.Lock()
        self._changes = 0
        self._change = asyncio.Event()
        self.started = False
        """True once the server started (a later restart may still fail)."""
        self.start_count = 0
        """Successful starts so far (restarts included)."""
        self.last_start: MCPServerStart | None = None

    @property
    def change_count(self) -> int:
        return self._changes

    async def start(self) -> MCPServerFailure | None:
        connection = Connection(self.config, self._tools_changed)
        began = time.perf_counter()
        try:
            await connection.start()
        except ServerUnavailable as exc:
            return MCPServerFailure(self.config.name, str(exc), exc.stderr)
        self._connection = connection
        self.started = True
        self.start_count += 1
        transport: Literal["stdio", "http"] = (
            "stdio" if isinstance(self.config, StdioServerConfig) else "http"
        )
        elapsed = round((time.perf_counter() - began) * 1000.0, 3)
        self.last_start = MCPServerStart(self.config.name, transport, elapsed)
        return None

    async def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.aclose()

    async def tools(self) -> tuple[list[MCPTool], bool] | MCPServerFailure:
        """The tools through the filters and whether the list was cached, or the failure."""
        if self._broken or self._connection is None:
            failure = await self._restart()
            if failure is not None:
                return failure
        listing = self._listing
        cached = listing is not None and self.config.cache_tools
        if listing is None or not self.config.cache_tools:
            seen = self._changes
            try:
                listing = await self._list()
            except ConfigurationError:
                raise
            except Exception as exc:
                return MCPServerFailure(self.config.name, f"tools/list failed: {exc}")
            if self._changes == seen:  # a change announced meanwhile makes it stale already
                self._listing = listing
        config = self.config
        tools = []
        for tool in listing:
            if not config.offers(tool.name):
                continue
            annotations = tool.annotations
            side_effect, read_only, approval = tool_traits(annotations, config.require_approval)
            tools.append(
                MCPTool(
                    name=exposed_name(config.name, tool.name),
                    description=tool.description or tool.title or tool.name,
                    parameters=parameters_of(tool.input_schema),
                    server=config.name,
                    mcp_name=tool.name,
                    call=self.call,
                    side_effect=side_effect,
                    read_only=read_only,
                    needs_approval=approval,
                    annotations=annotations.model_dump(by_alias=True, exclude_none=True)
                    if annotations is not None
                    else {},
                )
            )
        return tools, cached

    async def _list(self) -> list[Any]:
        async def list_all(client: Any) -> list[Any]:
            listed: list[Any] = []
            cursor = None
            while True:
                page = await client.list_tools(cursor=cursor)
                listed.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    return listed

        assert self._connection is not None
        async with asyncio.timeout(self.config.timeout_s):
            return await self._connection.request(list_all)

    async def call(self, tool: str, arguments: dict[str, Any]) -> ToolResult:
        """Call ``tool``; every failure is an error result with a stable code."""
        from mcp import MCPError
        from mcp_types.jsonrpc import CONNECTION_CLOSED

        name = self.config.name
        if self._broken or self._connection is None:
            failure = await self._restart()
            if failure is not None:
                return error_result(
                    MCP_SERVER_UNAVAILABLE,
                    f"MCP server {name!r} is unavailable: {failure.message}",
                    name,
                    tool,
                    {"stderr": failure.stderr} if failure.stderr else None,
                )
        connection = self._connection
        assert connection is not None
        try:
            # asyncio.timeout, not wait_for: no extra task per call (3.11).
            async with asyncio.timeout(self.config.timeout_s):
                result = await connection.request(lambda client: client.call_tool(tool, arguments))
        except TimeoutError:
            self._broken = True
            return error_result(
                MCP_TIMEOUT,
                f"MCP tool {tool!r} on {name!r} did not answer within {self.config.timeout_s:g} s",
                name,
                tool,
            )
        except MCPError as exc:
            if exc.error.code == CONNECTION_CLOSED:
                self._broken = True
                return error_result(
                    MCP_SERVER_UNAVAILABLE, f"MCP server {name!r}: {exc.error.message}", name, tool
                )
            return error_result(
                MCP_PROTOCOL_ERROR, exc.error.message, name, tool, {"code": exc.error.code}
            )
        except ServerUnavailable as exc:
            self._broken = True
            return error_result(MCP_SERVER_UNAVAILABLE, str(exc), name, tool)
        except ConfigurationError:
            raise
        except Exception as exc:
            # A broken pipe, a closed stream or a dead session: the transport is gone, not
            # just this call.
            self._broken = _is_transport_failure(exc) or not connection.alive
            code = MCP_SERVER_UNAVAILABLE if self._broken else MCP_PROTOCOL_ERROR
            return error_result(code, f"{type(exc).__name__}: {exc}", name, tool)
        return convert_result(result, name, tool)

    async def _restart(self) -> MCPServerFailure | None:
        """One reconnect attempt (concurrent callers share it)."""
        async with self._restarting:
            if not self._broken and self._connection is not None:
                return None
            await self.stop()
            self._broken = False
            failure = await self.start()
            if failure is not None:
                self._broken = True
            return failure

    def _tools_changed(self) -> None:
        self._listing = None
        self._changes += 1
        event, self._change = self._change, asyncio.Event()
        event.set()

    async def wait_changed(self, seen: int) -> int:
        while self._changes <= seen:
            await self._change.wait()
        return self._changes


def _is_transport_failure(exc: BaseException) -> bool:
    import anyio

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return isinstance(
        exc,
        anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream | OSError,
    )


MCPServersOption = MCPServers | Sequence[MCPServerConfig]
"""What ``Agent.mcp_servers`` and ``RunConfig.mcp_servers`` take: a host's open
``MCPServers`` (shared, left open) or configurations (the run starts and closes them)."""


class RunMCP:
    """The MCP servers of one run. A host's ``MCPServers`` is used as given; configurations
    are started once per run (concurrently) and stopped by ``aclose``, which the run's scope
    calls when the run ends."""

    def __init__(self) -> None:
        self._owned: dict[int, tuple[Sequence[MCPServerConfig], MCPServers]] = {}

    async def tools(self, *sources: MCPServersOption | None) -> MCPReport:
        """The tools of ``sources`` in order, the servers that failed, started and listed."""
        reports = []
        for source in sources:
            if source is None or (not isinstance(source, MCPServers) and not source):
                continue
            reports.append(await self._servers(source).report())
        return MCPReport(
            [t for r in reports for t in r.tools],
            tuple(f for r in reports for f in r.failures),
            tuple(s for r in reports for s in r.started),
            tuple(t for r in reports for t in r.listed),
        )

    def _servers(self, source: MCPServersOption) -> MCPServers:
        if isinstance(source, MCPServers):
            return source
        if isinstance(source, str | bytes) or not isinstance(source, Sequence):
            raise ConfigurationError(
                f"mcp_servers: expected MCPServers or a sequence of server configs, got "
                f"{type(source).__name__} (load a file with agentcycle.mcp.load_mcp_config)"
            )
        # Keyed by identity: the same agent compiled again (a handoff back) reuses its servers.
        entry = self._owned.get(id(source))
        if entry is None:
            entry = (source, MCPServers(source))
            self._owned[id(source)] = entry
        return entry[1]

    async def aclose(self) -> None:
        """Stop the servers this run started."""
        owned = [servers for _, servers in self._owned.values()]
        self._owned.clear()
        await asyncio.gather(*(s.aclose() for s in owned), return_exceptions=True)
