"""The sub-tasks of one run: ``create_sub_task`` / ``sub_task_status`` state and scheduling.

Each task is driven by an asyncio task of its own: it waits for one of its sub-agent's
concurrency slots (``queued``), runs a child run through ``ChildRuns.start`` (``running``), and
records how the run ended. A follow-up message runs another turn the same way, with the task's
history so far as the child's input. Every change is written through to the run's
``RunToolState.sub_tasks.records`` (see ``agentcycle.sub_agents``), so the records are
serialisable and outlive the run's in-memory state.

A task's conversation is kept in ``RunToolState.sub_tasks.conversations`` (task id ->
its messages as JSON, system prompt left out): the task's request when it is created, the
request plus a follow-up message when one is sent, and the child's whole history when a turn
ends (finished, or cancelled part-way). Each write replaces the task's entry, and the run's tool
state is stored once when the run stops, so the state grows with the tasks' conversations, never
with the parent's cycles. Each turn's tool state is kept the same way
(``RunToolState.sub_tasks.tool_states``) and is where the next turn starts: a skill the
task activated keeps restricting its tools. A resumed run revives a task from its record and
conversation (:meth:`SubTasks.revive`), so a follow-up continues it as if the run had never stopped.

When the parent run ends, ``ChildRuns.aclose`` calls :meth:`SubTasks.aclose`: queued tasks
never start, running ones are cancelled (their child emits ``run_cancelled``, the parent
``sub_run_completed`` with status ``cancelled``), and every record says why.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python

from agentcycle._json import dumps
from agentcycle.errors import AgentcycleError
from agentcycle.messages import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage
from agentcycle.multiagent._sub_task_views import main_summary
from agentcycle.state import RunToolState, SubTaskState
from agentcycle.sub_agents import (
    SubAgent,
    SubTaskInfo,
)
from agentcycle.tools.builtin.agent_tool import SUB_RUN_UNAVAILABLE, child_input
from agentcycle.workspace._excluding import ExcludedPaths, ExcludingWorkspace
from agentcycle.workspace.base import WorkspaceBackend

if TYPE_CHECKING:
    from agentcycle.multiagent._child_runs import ChildRun, ChildRuns
    from agentcycle.result import RunResult

_MESSAGES: TypeAdapter[list[Message]] = TypeAdapter(list[Message])


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task of a ``create_sub_task`` call."""

    task_description: str
    output_requirements: str | None = None


class SubTask:
    """A task of this run: its record, its conversation, and what runs it now."""

    __slots__ = ("_conversations", "_store", "child", "driver", "info", "sub_agent", "workspace")

    def __init__(
        self,
        info: SubTaskInfo,
        sub_agent: SubAgent,
        workspace: WorkspaceBackend | None,
        store: dict[str, Any],
        conversations: dict[str, list[Any]],
    ) -> None:
        self.info = info
        self.sub_agent = sub_agent
        self.workspace = workspace
        self._store = store
        self._conversations = conversations
        self.driver: asyncio.Task[None] | None = None
        self.child: ChildRun | None = None
        store[info.task_id] = info.model_dump(mode="json")

    @property
    def task_id(self) -> str:
        """The task's id."""
        return self.info.task_id

    def update(self, **fields: Any) -> None:
        """Change the record (and its serialised copy in the run's tool state)."""
        self.info = self.info.model_copy(update=fields)
        self._store[self.task_id] = self.info.model_dump(mode="json")

    def conversation(self) -> list[Message]:
        """The task's conversation as kept in the run state (see the module docstring)."""
        return _MESSAGES.validate_python(self._conversations[self.task_id])

    def keep(self, messages: Sequence[Message]) -> None:
        """Make ``messages`` (a turn's input, or its history once it ended) the task's kept
        conversation, replacing the previous one."""
        self._conversations[self.task_id] = [
            m.model_dump(mode="json") for m in messages if not isinstance(m, SystemMessage)
        ]

    def extend(self, message: Message) -> None:
        """Add ``message`` to the kept conversation (a follow-up's request), reusing the
        already serialised messages."""
        kept = self._conversations[self.task_id]
        self._conversations[self.task_id] = [*kept, message.model_dump(mode="json")]

    def live_messages(self) -> list[Message]:
        """The running turn's history as it grows, else the kept conversation."""
        return self.child.messages if self.child is not None else self.conversation()

    @property
    def running(self) -> bool:
        """True while a turn of the task runs (its child run started and has not ended)."""
        return self.child is not None and not self.child.done() and not self.info.finished

    def live_cycles(self) -> int:
        """Cycles of the running turn so far, else of the last one."""
        child = self.child
        return child.state().last_cycle_index if child is not None else self.info.cycles


class SubTasks:
    """Creates, runs, waits for and cancels the sub-tasks of one run (``ChildRuns.sub_tasks``)."""

    def __init__(self, children: ChildRuns, tool_state: RunToolState) -> None:
        self._children = children
        if tool_state.sub_tasks is None:
            tool_state.sub_tasks = SubTaskState()
        tasks = tool_state.sub_tasks
        self._store = tasks.records
        self._conversations = tasks.conversations
        self._tool_states = tasks.tool_states
        self._live: dict[str, SubTask] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._reported: frozenset[str] = frozenset()

    def create(
        self,
        agent_id: str,
        sub_agent: SubAgent,
        specs: Sequence[TaskSpec],
        *,
        include_main_summary: bool,
        exclude_files_pattern: str | None,
        parent_tool_call_id: str,
        cycle_index: int,
    ) -> list[SubTask]:
        """Start a task per spec (queued until a slot of the sub-agent is free). Raises
        ``invalid_glob`` for an unusable ``exclude_files_pattern``, before any task starts."""
        workspace = self._workspace(exclude_files_pattern)
        summary = main_summary(self._children.parent_history()) if include_main_summary else None
        tasks = []
        for spec in specs:
            number = len(self._store) + 1  # records of earlier legs of a resumed run count
            info = SubTaskInfo(
                task_id=f"{agent_id}-{number}",
                agent_id=agent_id,
                status="queued",
                task_description=spec.task_description,
                output_requirements=spec.output_requirements,
                exclude_files_pattern=exclude_files_pattern,
                include_main_summary=include_main_summary,
            )
            task = SubTask(info, sub_agent, workspace, self._store, self._conversations)
            self._live[task.task_id] = task
            text = child_input(spec.task_description, spec.output_requirements)
            if summary is not None:
                text = f"{summary}\n\nYour task:\n{text}"
            task.keep([UserMessage(content=text)])  # a task cancelled before it starts keeps it
            self._drive(task, text, parent_tool_call_id, cycle_index)
            tasks.append(task)
        return tasks

    def lookup(self, task_id: str) -> SubTask | SubTaskInfo | None:
        """A task of this run: live, or (from before a resume) only its record."""
        live = self._live.get(task_id)
        if live is not None:
            return live
        record = self._store.get(task_id)
        return SubTaskInfo.model_validate(record) if record is not None else None

    def revive(self, info: SubTaskInfo, sub_agent: SubAgent) -> SubTask:
        """A task from before a resume, live again on ``sub_agent`` (its agent id's current
        configuration) with its kept conversation, ready for a follow-up."""
        task = SubTask(
            info,
            sub_agent,
            self._workspace(info.exclude_files_pattern),
            self._store,
            self._conversations,
        )
        self._live[task.task_id] = task
        return task

    def conversation(self, info: SubTaskInfo) -> list[Message]:
        """The kept conversation of a task from before a resume (for a snapshot)."""
        return _MESSAGES.validate_python(self._conversations[info.task_id])

    def known_ids(self) -> list[str]:
        """Every task id of the run, in creation order."""
        return list(self._store)

    def follow_up(
        self, task: SubTask, message: str, *, parent_tool_call_id: str, cycle_index: int
    ) -> None:
        """Continue a finished task's conversation with ``message`` in a new child run, from
        the tool state its last turn left."""
        request = UserMessage(content=message)
        history = _continuable(task.conversation())
        saved = self._tool_states.get(task.task_id)
        tools = RunToolState.model_validate(saved) if saved is not None else None
        task.extend(request)  # a turn cancelled before it starts keeps its request
        task.update(status="queued", final_output=None, error=None, note=None)
        self._drive(task, [*history, request], parent_tool_call_id, cycle_index, tools)

    async def wait(
        self, tasks: Sequence[SubTask], max_seconds: float | None, interval: float
    ) -> None:
        """Wait until every task in ``tasks`` has finished (its current turn included), at most
        ``max_seconds`` (``None``: no limit), re-checking every ``interval`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = None if max_seconds is None else loop.time() + max_seconds
        while True:
            pending = {t.driver for t in tasks if t.driver is not None and not t.driver.done()}
            remaining = None if deadline is None else deadline - loop.time()
            if not pending or (remaining is not None and remaining <= 0):
                return
            step = interval if remaining is None else min(interval, remaining)
            await asyncio.wait(pending, timeout=step)

    def unreported_running(self) -> list[SubTaskInfo]:
        """Tasks still queued or running, when at least one of them was not reported by an
        earlier call (``task_finish`` refuses once per set of running tasks); else ``[]``."""
        running = [t.info for t in self._live.values() if not t.info.finished]
        ids = frozenset(info.task_id for info in running)
        if ids <= self._reported:
            return []
        self._reported |= ids
        return running

    async def aclose(self) -> None:
        """Cancel every task not finished yet (the parent run is ending) and wait for them."""
        drivers = [t.driver for t in self._live.values() if t.driver and not t.driver.done()]
        for driver in drivers:
            driver.cancel()
        if drivers:
            await asyncio.wait(drivers)

    def _workspace(self, exclude_files_pattern: str | None) -> WorkspaceBackend | None:
        """The parent's workspace as a task sees it (``exclude_files_pattern`` hidden)."""
        workspace = self._children.workspace
        if exclude_files_pattern is not None:
            excluded = ExcludedPaths(exclude_files_pattern)  # checked even without a workspace
            if workspace is not None:
                workspace = ExcludingWorkspace(workspace, excluded)
        return workspace

    # ------------------------------------------------------------------ turns

    def _drive(
        self,
        task: SubTask,
        run_input: Any,
        parent_tool_call_id: str,
        cycle_index: int,
        tool_state: RunToolState | None = None,
    ) -> None:
        task.driver = asyncio.get_running_loop().create_task(
            self._turn(task, run_input, parent_tool_call_id, cycle_index, tool_state),
            name=f"agentcycle-sub-task-{task.task_id}",
        )

    async def _turn(
        self,
        task: SubTask,
        run_input: Any,
        parent_tool_call_id: str,
        cycle_index: int,
        tool_state: RunToolState | None,
    ) -> None:
        """One turn of a task: a slot, a child run, its outcome in the record."""
        children = self._children
        sub_agent = task.sub_agent
        slot = self._slots.setdefault(
            task.info.agent_id, asyncio.Semaphore(sub_agent.max_concurrency)
        )
        try:
            async with slot:
                task.update(status="running")
                child = await children.start(
                    sub_agent.agent,
                    run_input,
                    parent_tool_call_id=parent_tool_call_id,
                    task_id=task.task_id,
                    cycle_index=cycle_index,
                    max_cycles=sub_agent.max_cycles,
                    workspace=task.workspace,
                    tool_state=tool_state,
                )
                task.child = child
                task.update(run_ids=(*task.info.run_ids, child.run_id))
                result = await child.outcome()
        except asyncio.CancelledError:
            await self._cancelled(task)
            raise
        except AgentcycleError as error:
            if error.code == SUB_RUN_UNAVAILABLE:  # the parent began ending meanwhile
                self._not_started(task)
            else:  # the child could not be compiled
                task.update(status="failed", error={"code": error.code, "message": error.message})
            return
        self._ended(task, result)

    def _not_started(self, task: SubTask) -> None:
        task.update(status="cancelled", note=f"{self._children.cancel_reason()} before it started")

    async def _cancelled(self, task: SubTask) -> None:
        reason = self._children.cancel_reason()
        child = task.child
        if child is None:
            self._not_started(task)
            return
        with contextlib.suppress(asyncio.CancelledError):  # a second cancel: finish cleanup
            await child.cancel(reason)
        task.child = None
        task.keep(child.messages)
        self._tool_states[task.task_id] = child.tool_state.model_dump(mode="json")
        task.update(
            status="cancelled", cycles=child.state().last_cycle_index, note=f"{reason} while it ran"
        )

    def _ended(self, task: SubTask, result: RunResult | None) -> None:
        child, task.child = task.child, None
        if child is not None:
            self._tool_states[task.task_id] = child.tool_state.model_dump(mode="json")
        if result is None:  # cancelled before its loop ran
            self._not_started(task)
            return
        task.keep(result.messages)
        error = result.error
        status = result.status.value
        task.update(
            status=status,
            cycles=result.cycles,
            final_output=to_jsonable_python(result.final_output, fallback=str),
            error={"code": error["code"], "message": error["message"]} if error else None,
            note=f"{self._children.cancel_reason()} while it ran"
            if status == "cancelled"
            else None,
        )


def _continuable(messages: Sequence[Message]) -> list[Message]:
    """A finished turn's history as the next turn's input: without the system prompt (the
    child run writes its own) and with every tool call answered. A turn that stopped for an
    approval nobody gave left its calls unanswered, which providers reject."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    history: list[Message] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            continue
        history.append(message)
        if isinstance(message, AssistantMessage):
            history.extend(
                ToolMessage(
                    tool_call_id=call.id,
                    name=call.name,
                    content=dumps({"ok": False, "error": "not run: the sub-task stopped first"}),
                    is_error=True,
                )
                for call in message.tool_calls
                if call.id not in answered
            )
    return history
