"""How the server runs a turn: one agent, the thread's session and workspace, live approvals,
through the public SDK (``Runner.start`` -> ``RunHandle``). Every turn is a durable run in the
server's checkpoint store, so ``turn/resume`` can continue one whose server died
(``Runner.start_resumed_run``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agentcycle.errors import ConfigurationError

if TYPE_CHECKING:
    from agentcycle.agent import Agent
    from agentcycle.app_server._approvals import SessionApprovals
    from agentcycle.events import RunEvent
    from agentcycle.handle import RunHandle
    from agentcycle.models.base import Model, ModelRef
    from agentcycle.models.provider import ModelProvider
    from agentcycle.run_config import RunConfig
    from agentcycle.sessions.base import Session
    from agentcycle.stores.checkpoints import CheckpointStore

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

    async def resume(
        self, thread_id: str, cwd: str | None, run_id: str, approvals: SessionApprovals
    ) -> RunHandle:
        """Continue durable run ``run_id`` from its last durable step (waiting out a dead
        owner's lease; ``RunLeaseHeld`` when a live process owns it) and return its handle."""
        ...

    def checkpoint(self, run_id: str) -> dict[str, Any] | None:
        """Where durable run ``run_id`` stands (``runtime.durable.run_status``), ``None`` when
        the checkpoint store does not hold it."""
        ...

    def run_events(self, run_id: str) -> Iterator[RunEvent]:
        """Durable run ``run_id``'s events from its log, in order."""
        ...

    def prune(self, run_id: str) -> None:
        """Delete durable run ``run_id``'s log (it ended, and its turn keeps the outcome)."""
        ...

    def models(self) -> list[dict[str, Any]]:
        """The ``ModelSummary`` objects of the models turns can run with."""
        ...


@dataclass(slots=True)
class SdkLauncher:
    """Runs turns with ``Runner.start``. ``sessions`` is the SQLite file holding each
    thread's conversation (``None``: in memory). ``checkpoints`` is the checkpoint store URL
    every turn's durable run is logged in (``memory:``: this process only); ``lease_ttl`` is
    how long a dead server's runs stay owned before ``turn/resume`` may take them over. The
    server's default approval policy asks before ``bash`` and other tools that execute
    commands."""

    model: Model | ModelRef
    provider: ModelProvider | None
    summaries: list[dict[str, Any]]
    approval_timeout: float
    request_timeout: float
    sessions: Path | None
    checkpoints: str = "memory:"
    lease_ttl: float = 15.0
    _open_sessions: dict[str, Session] = field(default_factory=dict)
    _checkpoint_store: CheckpointStore | None = None

    async def launch(
        self, thread_id: str, cwd: str | None, text: str, approvals: SessionApprovals
    ) -> RunHandle:
        """See ``TurnLauncher.launch``."""
        from agentcycle.runner import Runner

        config = self._config(thread_id, cwd, approvals)
        return await Runner.start(self._agent(), text, config=config)

    async def resume(
        self, thread_id: str, cwd: str | None, run_id: str, approvals: SessionApprovals
    ) -> RunHandle:
        """See ``TurnLauncher.resume``."""
        from agentcycle.runner import Runner

        config = self._config(thread_id, cwd, approvals)
        return await Runner.start_resumed_run(self._agent(), run_id, config=config)

    def checkpoint(self, run_id: str) -> dict[str, Any] | None:
        """See ``TurnLauncher.checkpoint``."""
        from agentcycle.runtime.durable import run_status

        return run_status(self._checkpoints(), run_id)

    def run_events(self, run_id: str) -> Iterator[RunEvent]:
        """See ``TurnLauncher.run_events``."""
        from agentcycle.runtime.durable import durable_events

        return durable_events(self._checkpoints(), run_id)

    def prune(self, run_id: str) -> None:
        """See ``TurnLauncher.prune``."""
        self._checkpoints().delete_run(run_id)

    def _agent(self) -> Agent:
        from agentcycle.agent import Agent

        return Agent(
            name="agentcycle", instructions=INSTRUCTIONS, model=self.model, shell_tools=True
        )

    def _config(self, thread_id: str, cwd: str | None, approvals: SessionApprovals) -> RunConfig:
        from agentcycle.models.base import ModelSettings
        from agentcycle.run_config import RunConfig
        from agentcycle.runtime.durable import Durability
        from agentcycle.runtime.policy import ToolPolicy

        workspace = _workspace(cwd)
        return RunConfig(
            model_provider=self.provider,
            model_settings=ModelSettings(timeout=self.request_timeout),
            workspace=workspace.resolve(),
            policy=ToolPolicy.of(approval_mode="default"),
            approval_provider=approvals,
            live_approvals=True,
            approval_timeout=self.approval_timeout,
            session=self._session(thread_id),
            metadata={"app_server_thread": thread_id},
            checkpoint_store=self._checkpoints(),
            durability=Durability(lease_ttl=self.lease_ttl),
        )

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

    def _checkpoints(self) -> CheckpointStore:
        # Opened once: a ``memory:`` URL names a new, empty store at every opening.
        if self._checkpoint_store is None:
            from agentcycle.stores.checkpoint_urls import open_checkpoint_store

            self._checkpoint_store = open_checkpoint_store(self.checkpoints)
        return self._checkpoint_store

    def close(self) -> None:
        """Close the sessions' and the checkpoint store's database handles."""
        for session in self._open_sessions.values():
            close = getattr(session, "close", None)
            if close is not None:
                close()
        if self._checkpoint_store is not None:
            self._checkpoint_store.close()


def _workspace(cwd: str | None) -> Path:
    """The thread's ``cwd`` (else the server's) as the run's workspace."""
    workspace = Path(cwd).expanduser() if cwd is not None else Path(os.getcwd())
    if not workspace.is_dir():
        raise ConfigurationError(f"cwd {str(workspace)!r} is not a directory")
    return workspace
