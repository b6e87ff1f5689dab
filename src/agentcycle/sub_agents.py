"""Configured sub-agents: ``Agent(sub_agents={"researcher": SubAgent(...)})``.

An agent with sub-agents gets two tools (TOOLS.md, "Multi-agent and skills"):

- ``create_sub_task`` starts one task, or a batch of independent tasks, on a configured
  sub-agent. Each task runs as a child run of the calling run (``multiagent/_child_runs.py``:
  its own run id and history, the parent's workspace, deny rules, approver, budget and
  cancellation, its events in the parent's stream). Tasks run concurrently, at most
  ``max_concurrency`` per sub-agent at a time, the rest queued. The call waits for them
  (``wait_for_completion``, the default) or returns their task ids at once.
- ``sub_task_status`` reports on tasks (``basic``, or a ``snapshot`` with recent activity and
  the files the task touched), waits for them with a bounded timeout, or sends a follow-up
  ``message`` that continues a finished task's conversation in a new child run.

Task ids are ``<agent_id>-<n>`` (``researcher-1``, ``writer-2``), numbered in the order tasks
are created, unique within a run. Every task's record (:class:`SubTaskInfo`) and conversation
are kept in the run's tool state, so they survive serialisation and resume: after
``Runner.resume`` a follow-up continues a task exactly as it would have before, and
``RunResult.sub_tasks`` lists the records when the run ends.

When the run ends: a first ``task_finish`` while tasks are still running or queued is refused
with ``sub_tasks_running`` (listing them), so the model can wait for their results; calling
``task_finish`` again finishes the run anyway. Tasks still running when a run ends, however it
ends, are cancelled with it (each child ``run_cancelled``, then ``sub_run_completed`` with
status ``cancelled``) and their records say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from agentcycle._frozen import FrozenModel
from agentcycle.errors import ConfigurationError

if TYPE_CHECKING:
    from agentcycle.agent import Agent

DEFAULT_SUB_AGENT_MAX_CYCLES = 8
DEFAULT_SUB_AGENT_CONCURRENCY = 4

_AGENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

SubTaskStatus = Literal[
    "queued", "running", "completed", "wait_user", "max_cycles", "failed", "cancelled"
]
"""``queued`` (not started: waiting for one of its sub-agent's concurrency slots),
``running``, or how its last run ended."""


@dataclass(frozen=True, slots=True)
class SubAgent:
    """A sub-agent an agent can delegate tasks to with ``create_sub_task``.

    ``description`` is what the delegating model reads to choose it. Each task (and each
    follow-up turn) runs ``agent`` as a child run of at most ``max_cycles`` cycles; at most
    ``max_concurrency`` of this sub-agent's tasks run at once within one parent run.
    """

    agent: Agent
    description: str
    max_cycles: int = DEFAULT_SUB_AGENT_MAX_CYCLES
    max_concurrency: int = DEFAULT_SUB_AGENT_CONCURRENCY

    def __post_init__(self) -> None:
        from agentcycle.agent import Agent

        if not isinstance(self.agent, Agent):
            raise ConfigurationError(
                f"SubAgent.agent must be an Agent, got {type(self.agent).__name__}"
            )
        if not isinstance(self.description, str) or not self.description.strip():
            raise ConfigurationError("SubAgent.description must be a non-empty string")
        for name in ("max_cycles", "max_concurrency"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigurationError(f"SubAgent.{name} must be an integer >= 1, got {value!r}")


def check_sub_agents(sub_agents: Any) -> dict[str, SubAgent]:
    """``Agent.sub_agents`` checked: ids usable in task ids and tool arguments, values
    ``SubAgent``. Raises ``ConfigurationError``."""
    if not hasattr(sub_agents, "items"):
        raise ConfigurationError(
            f"sub_agents must map agent ids to SubAgent, got {type(sub_agents).__name__}"
        )
    checked: dict[str, SubAgent] = {}
    for agent_id, sub_agent in sub_agents.items():
        if not isinstance(agent_id, str) or not _AGENT_ID.fullmatch(agent_id):
            raise ConfigurationError(
                f"sub-agent id {agent_id!r} must be 1-64 letters, digits, '_' or '-'"
            )
        if not isinstance(sub_agent, SubAgent):
            raise ConfigurationError(
                f"sub_agents[{agent_id!r}] must be a SubAgent, got {type(sub_agent).__name__}"
            )
        checked[agent_id] = sub_agent
    return checked


class SubTaskInfo(FrozenModel):
    """The record of one sub-task: what it was asked, how it went, what it produced.

    ``run_ids`` lists the child runs of the task, one per turn (the task, then each follow-up
    message). ``final_output`` is the last turn's output (its question for ``wait_user``);
    ``error`` is ``{"code", "message"}`` when it failed; ``note`` says why a task was cancelled.
    """

    task_id: str
    agent_id: str
    status: SubTaskStatus
    task_description: str
    output_requirements: str | None = None
    exclude_files_pattern: str | None = None
    include_main_summary: bool = False
    run_ids: tuple[str, ...] = ()
    cycles: int = 0
    """Cycles of the last turn."""
    final_output: Any = None
    error: dict[str, Any] | None = None
    note: str | None = None

    @property
    def finished(self) -> bool:
        """True once the task is neither queued nor running."""
        return self.status not in ("queued", "running")
