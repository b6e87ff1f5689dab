"""``RunResult``: how a run ended, its output, history and usage."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from agentcycle.errors import RunFailedError
from agentcycle.events import CompletionReason, RunStatus
from agentcycle.messages import Message, TokenUsage
from agentcycle.runtime._session_turns import append_turn
from agentcycle.runtime.environment import RunEnvironment
from agentcycle.runtime.outcome import LoopOutcome, ModelCallRecord
from agentcycle.sessions.base import Session
from agentcycle.state import RunState, TodoItem
from agentcycle.sub_agents import SubTaskInfo


@dataclass(slots=True)
class RunResult:
    """The outcome of one run.

    ``final_output`` is the ``task_finish`` message (or the typed output when the agent has an
    ``output_type``); for ``wait_user`` it is the question. ``partial_output`` is the last
    assistant text of a run that did not complete. ``usage`` totals ``model_calls``, which
    include the calls of the run's child runs (agent-as-tool; ``run_id`` set on those records).
    ``agent_name`` is the agent that ended the run (the last handoff's target, if any);
    ``backend``, ``model`` and ``endpoint`` name its model, the one that produced the output.
    ``sub_tasks`` lists the tasks the run gave its configured sub-agents.
    """

    run_id: str
    trace_id: str
    agent_name: str
    status: RunStatus
    completion_reason: CompletionReason
    final_output: Any
    completion_tool_name: str | None
    partial_output: str | None
    messages: list[Message]
    usage: TokenUsage
    model_calls: list[ModelCallRecord]
    cycles: int
    state: RunState
    backend: str | None = None
    model: str | None = None
    endpoint: str | None = None
    error: dict[str, Any] | None = None
    wait: dict[str, Any] | None = None
    todos: list[TodoItem] = field(default_factory=list)

    @property
    def sub_tasks(self) -> list[SubTaskInfo]:
        """Every sub-task of the run (``create_sub_task``), in creation order, as it ended:
        tasks still running when the run ended were cancelled, ``status="cancelled"`` with a
        ``note`` saying so."""
        tool_state = self.state.tool_state
        if tool_state is None or tool_state.sub_tasks is None:
            return []
        return [SubTaskInfo.model_validate(r) for r in tool_state.sub_tasks.records.values()]

    @property
    def completed(self) -> bool:
        """True when the run completed."""
        return self.status is RunStatus.COMPLETED

    def raise_for_status(self) -> RunResult:
        """Return self when completed; otherwise raise ``RunFailedError`` with the details."""
        if self.status is not RunStatus.COMPLETED:
            detail = self.error["message"] if self.error else self.status.value
            raise RunFailedError(
                f"run {self.run_id} ended {self.status.value}: {detail}",
                details={"status": self.status.value, "error": self.error},
            )
        return self

    async def save_session_turn(self, session: Session) -> bool:
        """Store the run's turn (what it added to the conversation since the session last
        took it) in ``session``: for a run whose session store still failed after the runtime's
        retries (``session_storage_error``), once the store is back. ``False`` when the session
        already holds the turn (storing twice is harmless)."""
        return await append_turn(session, self.state)

    def save_session_turn_sync(self, session: Session) -> bool:
        """``save_session_turn`` for code without an event loop."""
        return asyncio.run(self.save_session_turn(session))

    def to_state(self) -> RunState:
        """The serialisable state of the run (``.to_json()`` for text)."""
        return self.state

    def summary(self) -> dict[str, Any]:
        """A JSON-safe summary (what the CLI's ``--json`` prints); ``resolved`` names the model
        of the agent that ended the run."""
        final = self.final_output
        dump = getattr(final, "model_dump", None)
        if callable(dump):
            final = dump(mode="json")
        return {
            "status": self.status.value,
            "agent_name": self.agent_name,
            "final_output": final,
            "completion_reason": self.completion_reason.value,
            "cycles": self.cycles,
            "usage": self.usage.model_dump(),
            "resolved": {"backend": self.backend, "model": self.model, "endpoint": self.endpoint},
        }


def build_result(env: RunEnvironment, outcome: LoopOutcome) -> RunResult:
    """Turn the loop's outcome into the public ``RunResult``. The model it names is the one
    the loop ended with (``env.agent``): after a handoff, the target's, which produced the
    output."""
    usage = TokenUsage()
    for call in outcome.model_calls:
        usage = usage + call.usage
    state = env.state
    spec = state.spec
    agent = env.agent
    return RunResult(
        run_id=spec.run_id,
        trace_id=spec.trace_id,
        agent_name=state.current_agent(),
        status=outcome.status,
        completion_reason=outcome.completion_reason,
        final_output=outcome.final_output,
        completion_tool_name=outcome.completion_tool_name,
        partial_output=outcome.partial_output,
        messages=env.history,
        usage=usage,
        model_calls=outcome.model_calls,
        cycles=state.last_cycle_index,
        state=state,
        backend=agent.model.backend,
        model=agent.model.name,
        endpoint=agent.endpoint,
        error=outcome.error.to_dict() if outcome.error is not None else None,
        wait=outcome.wait,
        todos=list(env.tool_state.todos),
    )
