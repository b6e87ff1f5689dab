"""``create_sub_task`` and ``sub_task_status``, and the ``task_finish`` guard of an agent with
sub-agents (see ``agentcycle.sub_agents`` for the behaviour, ``multiagent/_sub_tasks.py`` for
the machinery).

Errors the model sees: ``unknown_agent_id`` (listing the configured ids), ``unknown_task_id``
(listing the run's task ids), ``invalid_tool_arguments`` (neither or both of
``task_description`` and ``tasks``), ``invalid_glob`` (an unusable ``exclude_files_pattern``),
``sub_task_queued`` (a message to a task that has not started), ``sub_task_unavailable`` (a
follow-up to a task from before the run was resumed whose sub-agent is no longer configured),
and ``sub_tasks_running`` from ``task_finish``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from agentcycle._json import dumps
from agentcycle.errors import AgentcycleError
from agentcycle.messages import Finish, ToolResult, ToolResultStatus
from agentcycle.multiagent._child_runs import ChildRuns
from agentcycle.multiagent._sub_task_views import describe, snapshot
from agentcycle.multiagent._sub_tasks import SubTask, SubTasks, TaskSpec
from agentcycle.sub_agents import SubAgent, SubTaskInfo
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._tool import BuiltinTool, closed_object
from agentcycle.tools.builtin.agent_tool import SUB_RUN_UNAVAILABLE
from agentcycle.tools.effects import EffectClass

CREATE_SUB_TASK = "create_sub_task"
SUB_TASK_STATUS = "sub_task_status"
MAX_BATCH = 16
MAX_STATUS_IDS = 50
DEFAULT_FILE_LIMIT = 20
DEFAULT_MAX_WAIT_SECONDS = 60.0
MAX_WAIT_SECONDS = 600.0
DEFAULT_CHECK_INTERVAL = 1.0
MIN_CHECK_INTERVAL, MAX_CHECK_INTERVAL = 0.05, 60.0

_TASK_DESCRIPTION = {
    "type": "string",
    "minLength": 1,
    "description": (
        "The complete task: the sub-agent sees nothing of this conversation (unless "
        "include_main_summary), so include every fact, name and constraint it needs."
    ),
}
_OUTPUT_REQUIREMENTS = {
    "type": "string",
    "description": "What the answer must contain and in what form.",
}


def sub_task_tools(sub_agents: Mapping[str, SubAgent]) -> tuple[BuiltinTool, BuiltinTool]:
    """``create_sub_task`` (describing ``sub_agents`` to the model) and ``sub_task_status``."""
    configured = dict(sub_agents)
    return _create_tool(configured), _status_tool(configured)


def guard_finish(finish: BuiltinTool) -> BuiltinTool:
    """``finish`` (a ``task_finish`` tool) refusing, once per set of running tasks, to end the
    run while sub-tasks are queued or running: ``sub_tasks_running`` lists them."""

    async def handle(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        result = await finish.invoke(ctx, args)
        children = ctx.children
        tasks = children.started_sub_tasks if isinstance(children, ChildRuns) else None
        if not isinstance(result.directive, Finish) or tasks is None:
            return result
        running = tasks.unreported_running()
        if not running:
            return result
        ids = ", ".join(info.task_id for info in running)
        return ToolResult.error(
            "sub_tasks_running",
            f"Sub-tasks are still running: {ids}. Wait for their results with "
            "sub_task_status(task_ids=[...], wait_for_completion=true) and use them, or call "
            "task_finish again to finish now: they are then cancelled.",
            details=[
                {"task_id": i.task_id, "agent_id": i.agent_id, "status": i.status} for i in running
            ],
        )

    return dataclasses.replace(finish, handler=handle)


# --------------------------------------------------------------------------- create_sub_task


def _create_tool(sub_agents: dict[str, SubAgent]) -> BuiltinTool:
    listing = "\n".join(f"- {agent_id}: {sub.description}" for agent_id, sub in sub_agents.items())
    parameters = closed_object(
        {
            "agent_id": {"type": "string", "description": "The sub-agent to run the task(s)."},
            "task_description": {
                **_TASK_DESCRIPTION,
                "description": f"One task. {_TASK_DESCRIPTION['description']}",
            },
            "output_requirements": _OUTPUT_REQUIREMENTS,
            "include_main_summary": {
                "type": "boolean",
                "description": "Give the sub-agent a short summary of this conversation (the "
                "user's latest requests, your latest notes). Default false.",
            },
            "exclude_files_pattern": {
                "type": "string",
                "minLength": 1,
                "description": "Glob of workspace paths the sub-agent must not see (hidden from "
                "its file tools). Without `/` it matches names at any depth (`*.csv`); with "
                "`/` paths from the root (`data/private/**`).",
            },
            "tasks": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": closed_object(
                    {
                        "task_description": _TASK_DESCRIPTION,
                        "output_requirements": _OUTPUT_REQUIREMENTS,
                    },
                    ("task_description",),
                ),
                "description": "Several independent tasks for the same sub-agent, run in "
                "parallel (instead of task_description). A top-level output_requirements "
                "applies to items without their own.",
            },
            "wait_for_completion": {
                "type": "boolean",
                "default": True,
                "description": "Wait for the results (default). false: return the task ids at "
                "once and check them later with sub_task_status.",
            },
        },
        ("agent_id",),
    )

    async def handle(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        children = _children(ctx)
        if isinstance(children, ToolResult):
            return children
        agent_id = args["agent_id"]
        sub_agent = sub_agents.get(agent_id)
        if sub_agent is None:
            return ToolResult.error(
                "unknown_agent_id",
                f"There is no sub-agent {agent_id!r}; use one of: {', '.join(sub_agents)}.",
                details={"agent_ids": list(sub_agents)},
            )
        specs = _specs(args)
        if isinstance(specs, ToolResult):
            return specs
        manager = children.sub_tasks
        try:
            tasks = manager.create(
                agent_id,
                sub_agent,
                specs,
                include_main_summary=bool(args.get("include_main_summary", False)),
                exclude_files_pattern=args.get("exclude_files_pattern"),
                parent_tool_call_id=ctx.tool_call_id,
                cycle_index=ctx.cycle_index,
            )
        except AgentcycleError as error:
            return ToolResult.error(error.code, error.message, details=error.details)
        ids = [t.task_id for t in tasks]
        if not args.get("wait_for_completion", True):
            body = {
                "ok": True,
                "tasks": [_describe(t) for t in tasks],
                "hint": "running in the background: check or wait for them with "
                "sub_task_status(task_ids=[...])",
            }
            return ToolResult(
                status=ToolResultStatus.RUNNING, content=dumps(body), metadata={"task_ids": ids}
            )
        await manager.wait(tasks, None, DEFAULT_CHECK_INTERVAL)
        body = {"ok": True, "tasks": [_describe(t) for t in tasks]}
        return ToolResult.success(dumps(body), metadata={"task_ids": ids})

    return BuiltinTool(
        name=CREATE_SUB_TASK,
        declared_effect=EffectClass.NON_IDEMPOTENT,  # starts or steers child runs
        description=(
            "Delegate work to a sub-agent, which works on its own with its own tools and "
            "returns its final answer. Give `task_description` for one task, or `tasks` for "
            f"several independent ones (at most {MAX_BATCH}), which run in parallel. Returns "
            "{tasks: [{task_id, status, output | question | error}]}; with "
            "wait_for_completion=false it returns the task ids at once (status queued or "
            "running): use sub_task_status to wait, poll or send follow-ups.\n"
            f"Sub-agents (agent_id: what it does):\n{listing}"
        ),
        parameters=parameters,
        handler=handle,
    )


def _specs(args: dict[str, Any]) -> list[TaskSpec] | ToolResult:
    single: str | None = args.get("task_description")
    batch: list[dict[str, Any]] | None = args.get("tasks")
    if (single is None) == (batch is None):
        return ToolResult.error(
            "invalid_tool_arguments",
            "Give exactly one of `task_description` (one task) or `tasks` (a batch of "
            "independent tasks).",
            details={"given": [k for k in ("task_description", "tasks") if k in args]},
        )
    default = args.get("output_requirements")
    if single is not None:
        return [TaskSpec(single, default)]
    items = batch or []
    return [TaskSpec(t["task_description"], t.get("output_requirements", default)) for t in items]


# --------------------------------------------------------------------------- sub_task_status


def _status_tool(sub_agents: dict[str, SubAgent]) -> BuiltinTool:
    parameters = closed_object(
        {
            "task_ids": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "maxItems": MAX_STATUS_IDS,
                "description": "Ids returned by create_sub_task.",
            },
            "detail_level": {
                "type": "string",
                "enum": ["basic", "snapshot"],
                "description": "basic (default): status and result. snapshot: also recent "
                "tool calls, latest text and the files each task touched.",
            },
            "workspace_file_limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": 100,
                "description": f"Touched files listed per task in a snapshot (default "
                f"{DEFAULT_FILE_LIMIT}).",
            },
            "wait_for_completion": {
                "type": "boolean",
                "description": "Wait until all the tasks have finished, at most max_wait_seconds.",
            },
            "max_wait_seconds": {
                "type": "number",
                "minimum": 0,
                "description": f"Longest wait (default {DEFAULT_MAX_WAIT_SECONDS:g}, at most "
                f"{MAX_WAIT_SECONDS:g}).",
            },
            "check_interval_seconds": {
                "type": "number",
                "minimum": 0,
                "description": f"How often a wait re-checks the tasks (default "
                f"{DEFAULT_CHECK_INTERVAL:g}, {MIN_CHECK_INTERVAL:g}..{MAX_CHECK_INTERVAL:g}); "
                "it returns as soon as they have all finished.",
            },
            "message": {
                "type": "string",
                "minLength": 1,
                "description": "A message for the tasks: a running task gets it at its next "
                "step (steering), a finished one continues its own conversation with it (an "
                "answer to its question, a correction, more work).",
            },
            "wait_for_response": {
                "type": "boolean",
                "description": "With `message`: wait for the reply, at most max_wait_seconds "
                "(default true).",
            },
        },
        ("task_ids",),
    )

    async def handle(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        children = _children(ctx)
        if isinstance(children, ToolResult):
            return children
        manager = children.sub_tasks
        ids = list(dict.fromkeys(args["task_ids"]))
        looked_up = {task_id: manager.lookup(task_id) for task_id in ids}
        found = {task_id: task for task_id, task in looked_up.items() if task is not None}
        unknown = [task_id for task_id in ids if task_id not in found]
        if unknown:
            return ToolResult.error(
                "unknown_task_id",
                f"No sub-task {', '.join(unknown)} in this run.",
                details={"unknown": unknown, "known": manager.known_ids()},
            )
        wait = bool(args.get("wait_for_completion", False))
        message = args.get("message")
        steered: list[str] = []
        if message is not None:
            sent = _send(manager, sub_agents, found, message, ctx)
            if isinstance(sent, ToolResult):
                return sent
            steered = sent
            wait = wait or bool(args.get("wait_for_response", True))
        waited = None
        if wait:
            waited = min(
                float(args.get("max_wait_seconds", DEFAULT_MAX_WAIT_SECONDS)), MAX_WAIT_SECONDS
            )
            interval = float(args.get("check_interval_seconds", DEFAULT_CHECK_INTERVAL))
            interval = min(max(interval, MIN_CHECK_INTERVAL), MAX_CHECK_INTERVAL)
            live = [task for task in found.values() if isinstance(task, SubTask)]
            await manager.wait(live, waited, interval)
        file_limit = int(args.get("workspace_file_limit", DEFAULT_FILE_LIMIT))
        with_snapshot = args.get("detail_level") == "snapshot"
        reports = []
        for task in found.values():
            report = _describe(task)
            if with_snapshot:
                messages = (
                    task.live_messages()
                    if isinstance(task, SubTask)
                    else manager.conversation(task)
                )
                report["snapshot"] = snapshot(messages, file_limit)
            reports.append(report)
        finished = all(report["status"] not in ("queued", "running") for report in reports)
        body: dict[str, Any] = {"ok": True, "tasks": reports, "all_finished": finished}
        if steered:
            body["steered"] = steered
        if waited is not None and not finished:
            body["hint"] = (
                f"still running after waiting {waited:g} s: call again to keep waiting, or do "
                "other work meanwhile"
            )
        return ToolResult.success(dumps(body))

    return BuiltinTool(
        name=SUB_TASK_STATUS,
        declared_effect=EffectClass.NON_IDEMPOTENT,  # starts or steers child runs
        description=(
            "Check sub-tasks started with create_sub_task: their status and results "
            "(detail_level=snapshot adds recent activity and touched files), wait for them "
            "(wait_for_completion, at most max_wait_seconds, default 60, cap 600), or send a "
            "`message` to tasks (running ones get it at their next step, finished ones continue "
            "their own conversations) "
            "(waits for the reply unless wait_for_response=false). Returns {tasks: [{task_id, "
            "status, output | question | error}], all_finished}."
        ),
        parameters=parameters,
        handler=handle,
    )


def _send(
    manager: SubTasks,
    sub_agents: Mapping[str, SubAgent],
    found: dict[str, SubTask | SubTaskInfo],
    message: str,
    ctx: ToolContext,
) -> ToolResult | list[str]:
    """Give ``message`` to every task, or refuse them all (the error result): a running task
    gets it at its next model call (steering; its ids are returned), a finished one continues
    its conversation in a follow-up turn. Tasks from before a resume are revived first
    (``found`` then holds the live tasks)."""
    orphans = [
        info
        for info in found.values()
        if isinstance(info, SubTaskInfo) and info.agent_id not in sub_agents
    ]
    if orphans:
        return ToolResult.error(
            "sub_task_unavailable",
            f"{', '.join(i.task_id for i in orphans)} ran on a sub-agent this agent no longer "
            f"has; start a new task with create_sub_task (sub-agents: {', '.join(sub_agents)}).",
            details=[{"task_id": i.task_id, "agent_id": i.agent_id} for i in orphans],
        )
    running = [t for t in found.values() if isinstance(t, SubTask) and t.running]
    queued = [
        t
        for t in found.values()
        if isinstance(t, SubTask) and not t.info.finished and not t.running
    ]
    if queued:
        return ToolResult.error(
            "sub_task_queued",
            f"{', '.join(t.task_id for t in queued)} has not started yet (it waits for a free "
            "slot of its sub-agent); send the message once it runs or has finished.",
            details=[{"task_id": t.task_id, "status": t.info.status} for t in queued],
        )
    for busy in running:
        assert busy.child is not None  # ``running`` says so
        busy.child.steer(message)
    for task_id, task in found.items():
        if isinstance(task, SubTask) and task.running:
            continue
        # A task from before a resume is made live again (then ``found`` reports it as such).
        live = (
            task if isinstance(task, SubTask) else manager.revive(task, sub_agents[task.agent_id])
        )
        found[task_id] = live
        manager.follow_up(
            live, message, parent_tool_call_id=ctx.tool_call_id, cycle_index=ctx.cycle_index
        )
    return [busy.task_id for busy in running]


def _describe(task: SubTask | SubTaskInfo) -> dict[str, Any]:
    if isinstance(task, SubTask):
        return describe(task.info, task.live_cycles())
    return describe(task, task.cycles)


def _children(ctx: ToolContext) -> ChildRuns | ToolResult:
    if not isinstance(ctx.children, ChildRuns):
        return ToolResult.error(
            SUB_RUN_UNAVAILABLE, "Sub-agents can only run inside a run started by a Runner."
        )
    return ctx.children
