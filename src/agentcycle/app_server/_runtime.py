"""How the server runs a turn: one agent, the thread's session and workspace, live approvals,
through the public SDK (``Runner.start`` -> ``RunHandle``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agentcycle.errors import ConfigurationError

if TYPE_CHECKING:
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

    async def launch(self, thread_id: str, cwd: str | None, text: str) -> RunHandle:
        """Start a run for ``text`` on the thread and return its live handle."""
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

    async def launch(self, thread_id: str, cwd: str | None, text: str) -> RunHandle:
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


SCRIPTED_SUMMARY = {"id": "scripted", "provider": "scripted", "supportsTools": True}


def load_script(path: Path, chunk_chars: int = 0) -> Model:
    """The scripted model of ``--scripted-model FILE``: a JSON list of ``{"content": str,
    "tool_calls": [{"id", "name", "arguments": object}]}``, one per model call, in order."""
    from agentcycle._json import dumps
    from agentcycle.messages import ToolCall
    from agentcycle.models.base import NO_USAGE, ModelResponse
    from agentcycle.testing.scripted import ScriptedModel

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"--scripted-model {str(path)!r}: {exc}") from None
    if not isinstance(raw, list):
        raise ConfigurationError("--scripted-model must hold a JSON list of replies")
    steps = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict) or not isinstance(entry.get("content", ""), str):
            raise ConfigurationError(f"--scripted-model reply {index}: expected {{content, ...}}")
        calls = entry.get("tool_calls") or []
        try:
            tool_calls = tuple(
                ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=dumps(c["arguments"]))
                for c in calls
            )
        except (KeyError, TypeError):
            raise ConfigurationError(
                f"--scripted-model reply {index}: tool_calls need id, name and arguments"
            ) from None
        steps.append(
            ModelResponse(
                text=entry.get("content") or "",
                tool_calls=tool_calls,
                usage=NO_USAGE,
                finish_reason="tool_calls" if tool_calls else "stop",
            )
        )
    return ScriptedModel(steps, record_requests=False, stream_chunk_chars=chunk_chars)
