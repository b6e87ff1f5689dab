"""How the server runs a turn: one agent, the thread's session and workspace, live approvals,
through the public SDK (``Runner.start`` -> ``RunHandle``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agentcycle.errors import ConfigurationError

if TYPE_CHECKING:
    from agentcycle.app_server._approvals import SessionApprovals
    from agentcycle.handle import RunHandle
    from agentcycle.models.base import Model, ModelRef
    from agentcycle.models.provider import ModelProvider
    from agentcycle.sessions.base import Session

INSTRUCTIONS = (
    "You are agentcycle, a careful assistant working in the user's workspace. Use the tools to "
    "inspect and change files, and report what you did."
)


class TurnLauncher(Protocol):
    """Starts the run that answers a turn (the server's one extension point for runs)."""

    async def launch(
        self, thread_id: str, cwd: str | None, text: str, approvals: SessionApprovals
    ) -> RunHandle:
        """Start a run for ``text`` on the thread, asking ``approvals`` first, and return
        its live handle."""
        ...

    def models(self) -> list[dict[str, Any]]:
        """The ``ModelSummary`` objects of the models turns can run with."""
        ...


@dataclass(slots=True)
class SdkLauncher:
    """Runs turns with ``Runner.start``. ``sessions`` is the SQLite file holding each
    thread's conversation (``None``: in memory). The server's default approval policy asks
    before ``bash`` and other tools that execute commands."""

    model: Model | ModelRef
    provider: ModelProvider | None
    summaries: list[dict[str, Any]]
    approval_timeout: float
    request_timeout: float
    sessions: Path | None
    _open_sessions: dict[str, Session] = field(default_factory=dict)

    async def launch(
        self, thread_id: str, cwd: str | None, text: str, approvals: SessionApprovals
    ) -> RunHandle:
        """See ``TurnLauncher.launch``."""
        from agentcycle.agent import Agent
        from agentcycle.models.base import ModelSettings
        from agentcycle.run_config import RunConfig
        from agentcycle.runner import Runner
        from agentcycle.runtime.policy import ToolPolicy

        workspace = _workspace(cwd)
        agent = Agent(
            name="agentcycle", instructions=INSTRUCTIONS, model=self.model, shell_tools=True
        )
        config = RunConfig(
            model_provider=self.provider,
            model_settings=ModelSettings(timeout=self.request_timeout),
            workspace=workspace.resolve(),
            policy=ToolPolicy.of(approval_mode="default"),
            approval_provider=approvals,
            live_approvals=True,
            approval_timeout=self.approval_timeout,
            session=self._session(thread_id),
            metadata={"app_server_thread": thread_id},
        )
        return await Runner.start(agent, text, config=config)

    def models(self) -> list[dict[str, Any]]:
        """See ``TurnLauncher.models``."""
        return list(self.summaries)

    def _session(self, thread_id: str) -> Session:
        session = self._open_sessions.get(thread_id)
        if session is None:
            if self.sessions is None:
                from agentcycle.sessions.memory import MemorySession

                session = MemorySession(thread_id)
            else:
                from agentcycle.sessions.sqlite import SQLiteSession

                session = SQLiteSession(thread_id, self.sessions)
            self._open_sessions[thread_id] = session
        return session

    def close(self) -> None:
        """Close the sessions' database handles."""
        for session in self._open_sessions.values():
            close = getattr(session, "close", None)
            if close is not None:
                close()


def _workspace(cwd: str | None) -> Path:
    """The thread's ``cwd`` (else the server's) as the run's workspace."""
    workspace = Path(cwd).expanduser() if cwd is not None else Path(os.getcwd())
    if not workspace.is_dir():
        raise ConfigurationError(f"cwd {str(workspace)!r} is not a directory")
    return workspace
