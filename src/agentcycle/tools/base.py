"""The tool interface: what a tool declares and what it receives when it runs."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agentcycle.messages import ToolResult

if TYPE_CHECKING:
    from agentcycle.runtime.state import RunToolState


class SideEffect(enum.StrEnum):
    """What running a tool may change. Policies and approval defaults key off this."""

    NONE = "none"
    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    NETWORK = "network"
    EXTERNAL = "external"


@dataclass(slots=True)
class ToolContext:
    """Everything a tool handler may use. Handlers never print and never touch globals.

    ``state`` is the run's tool state (todos, files read and written); ``context`` is the
    host's own object passed through ``RunConfig.context``; ``cancelled`` is set when the run
    is being cancelled so long-running tools can stop cooperatively.
    """

    run_id: str
    trace_id: str
    agent_name: str
    tool_call_id: str
    cycle_index: int
    state: RunToolState
    workspace: Any = None
    context: Any = None
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)


@runtime_checkable
class Tool(Protocol):
    """A tool the model can call.

    ``parameters`` is a closed JSON Schema (Draft 2020-12) for the arguments object. Arguments
    are validated before ``invoke`` runs, so ``invoke`` receives a dict that matches it.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    side_effect: SideEffect
    read_only: bool
    """Safe to run concurrently with other read-only calls of the same batch."""
    needs_approval: bool
    timeout_seconds: float | None

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        """Run the tool. Raising is allowed: the orchestrator turns it into an error result."""
        ...
