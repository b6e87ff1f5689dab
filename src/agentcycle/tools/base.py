"""The tool interface: what a tool declares and what it receives when it runs."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from agentcycle.messages import ToolResult
from agentcycle.state import RunToolState
from agentcycle.workspace.base import WorkspaceBackend


class SideEffect(enum.StrEnum):
    """What running a tool may change. Policies and approval defaults key off this."""

    NONE = "none"
    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    NETWORK = "network"
    EXTERNAL = "external"


class RunScope:
    """Resources that live as long as one run and are shared by its tools (background
    processes, caches, connections). The loop closes the scope when the run ends, calling every
    registered closer (newest first) so nothing outlives its run."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._closed = False

    def get_or_create(self, key: str, factory: Callable[[], Any]) -> Any:
        """The resource stored under ``key``, created by ``factory`` on first use."""
        if key not in self._items:
            self._items[key] = factory()
        return self._items[key]

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run ``closer`` when the run ends."""
        self._closers.append(closer)

    @property
    def closed(self) -> bool:
        """True once ``aclose`` ran."""
        return self._closed

    async def aclose(self) -> None:
        """Close every resource; a failing closer does not stop the others."""
        if self._closed:
            return
        self._closed = True
        while self._closers:
            closer = self._closers.pop()
            try:
                await closer()
            except Exception:  # cleanup is best effort; the run's outcome is already decided
                continue


class ChildRunner(Protocol):
    """Starts child runs of the calling run (``ToolContext.children``). Declared here, below
    the runtime, so tools and the loop need nothing of ``agentcycle.multiagent``, which
    implements it."""

    async def run_task(
        self,
        agent: Any,
        task: str,
        *,
        parent_tool_call_id: str | None,
        cycle_index: int | None,
    ) -> ToolResult:
        """Run ``agent`` (an ``Agent``) on ``task`` as a child run and return its outcome as
        the calling model sees it: the final output, or an error result saying why not."""
        ...


@dataclass(slots=True)
class ToolContext:
    """Everything a tool handler may use. Handlers never print and never touch globals.

    ``state`` is the run's tool state (todos, files read and written); ``context`` is the
    host's own object passed through ``RunConfig.context``; ``cancelled`` is set when the run
    is being cancelled so long-running tools can stop cooperatively; ``scope`` holds per-run
    resources (background processes ...) that are closed when the run ends; ``children``
    starts child runs of this run (agent-as-tool), ``None`` outside a runner.
    """

    run_id: str
    trace_id: str
    agent_name: str
    tool_call_id: str
    cycle_index: int
    state: RunToolState
    workspace: WorkspaceBackend | None = None
    context: Any = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)
    scope: RunScope = field(default_factory=RunScope)
    children: ChildRunner | None = None

    @property
    def idempotency_key(self) -> str:
        """A stable key for this call (``sha256(run_id, cycle, tool_call_id)``): a call re-run
        after a crash gets the same key, so an idempotent tool (or the service it calls) can
        deduplicate. Computed on access: tools that do not use it pay nothing."""
        from agentcycle.tools.effects import idempotency_key

        return idempotency_key(self.run_id, self.cycle_index, self.tool_call_id)


@runtime_checkable
class Tool(Protocol):
    """A tool the model can call.

    ``parameters`` is a closed JSON Schema (Draft 2020-12) for the arguments object. Arguments
    are validated before ``invoke`` runs, so ``invoke`` receives a dict that matches it.
    """

    @property
    def name(self) -> str:
        """The name the model calls (``^[a-zA-Z0-9_-]{1,64}$``)."""
        ...

    @property
    def description(self) -> str:
        """What the tool does, written for the model."""
        ...

    @property
    def parameters(self) -> dict[str, Any]:
        """The closed JSON Schema of the arguments object."""
        ...

    @property
    def side_effect(self) -> SideEffect:
        """What running the tool may change."""
        ...

    @property
    def read_only(self) -> bool:
        """Safe to run concurrently with other read-only calls of the same batch."""
        ...

    @property
    def needs_approval(self) -> bool:
        """Ask before running, whatever the side effect."""
        ...

    @property
    def timeout_seconds(self) -> float | None:
        """Execution time limit, or ``None``."""
        ...

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        """Run the tool. Raising is allowed: the orchestrator turns it into an error result."""
        ...


@runtime_checkable
class EscalatingTool(Protocol):
    """A tool whose call may ask for more rights than the tool normally has (``bash`` asking
    to run outside its sandbox). Such a call asks for approval with the reason whatever the
    approval mode says, even when the tool was approved for the run, and is refused under
    ``never``."""

    def escalation(self, arguments: dict[str, Any]) -> str | None:
        """What this call asks for beyond the tool's normal rights, and why; ``None`` for an
        ordinary call."""
        ...
