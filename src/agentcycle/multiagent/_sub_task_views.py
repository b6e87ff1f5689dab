"""What the parent model reads about sub-tasks, and what a sub-task reads about its parent.

- :func:`main_summary`: ``include_main_summary``. Not a model-written summary (that would cost a
  model call per task and could invent things): the parent's latest user requests and the
  parent agent's latest notes, quoted and clipped, at most about 2,000 characters.
- :func:`describe`: a task as ``sub_task_status`` and ``create_sub_task`` report it.
- :func:`snapshot`: ``detail_level: snapshot``: the task's recent tool calls, its latest text,
  and the workspace files it read or changed (each once, by its normalised path), newest first,
  read from its history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentcycle.errors import AgentcycleError
from agentcycle.messages import AssistantMessage, Message, ToolMessage, UserMessage, content_text
from agentcycle.sub_agents import SubTaskInfo
from agentcycle.tools.validation import parse_arguments
from agentcycle.workspace.paths import normalize_path

RECENT_REQUESTS = 3
REQUEST_CHARS = 600
NOTES_CHARS = 600
RECENT_CALLS = 8
ARGUMENT_CHARS = 160
LATEST_TEXT_CHARS = 500

_FILE_ACTIONS = {
    "read_file": "read",
    "read_image": "read",
    "file_info": "inspected",
    "write_file": "written",
    "edit_file": "edited",
}


def main_summary(history: Sequence[Message]) -> str:
    """The parent conversation in brief, for a child that asked for it."""
    requests = [
        text
        for m in history
        if isinstance(m, UserMessage)
        and not m.synthetic
        and (text := content_text(m.content).strip())
    ][-RECENT_REQUESTS:]
    notes = next(
        (
            m.content.strip()
            for m in reversed(history)
            if isinstance(m, AssistantMessage) and m.content.strip()
        ),
        None,
    )
    lines = ["Summary of the main conversation (background only; your task follows):"]
    if requests:
        label = "The user asked" if len(requests) == 1 else "The user's latest requests"
        lines.append(f"- {label}:")
        lines.extend(f"  > {_clip(' '.join(text.split()), REQUEST_CHARS)}" for text in requests)
    if notes is not None:
        lines.append(
            f"- The main agent's latest notes: {_clip(' '.join(notes.split()), NOTES_CHARS)}"
        )
    if len(lines) == 1:
        lines.append("- (nothing said yet)")
    return "\n".join(lines)


def describe(info: SubTaskInfo, cycles: int) -> dict[str, Any]:
    """A task's status, and its result once finished: ``output`` when completed, ``question``
    when it stopped to ask, ``error`` when it failed or ran out of cycles, ``note`` when it was
    cancelled."""
    body: dict[str, Any] = {
        "task_id": info.task_id,
        "agent_id": info.agent_id,
        "status": info.status,
        "cycles": cycles,
        "turns": len(info.run_ids),
    }
    if info.status == "completed":
        body["output"] = info.final_output
    elif info.status == "wait_user":
        body["question"] = info.final_output
        body["hint"] = "it stopped to ask this: answer with sub_task_status(message=...)"
    elif info.error is not None:
        body["error"] = info.error
    if info.note is not None:
        body["note"] = info.note
    return body


def snapshot(messages: Sequence[Message], file_limit: int) -> dict[str, Any]:
    """Recent activity and touched files of a task's history (see the module docstring)."""
    results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
    calls = [c for m in messages if isinstance(m, AssistantMessage) for c in m.tool_calls]
    recent = []
    for call in calls[-RECENT_CALLS:]:
        result = results.get(call.id)
        outcome = "pending" if result is None else "error" if result.is_error else "ok"
        recent.append(
            {
                "tool": call.name,
                "arguments": _clip(call.arguments, ARGUMENT_CHARS),
                "result": outcome,
            }
        )
    touched: dict[str, str] = {}
    for call in reversed(calls):  # newest first; a path keeps its latest action
        action = _FILE_ACTIONS.get(call.name)
        result = results.get(call.id)
        if action is None or result is None or result.is_error:
            continue
        path = _path_argument(call.arguments)
        if path is not None and path not in touched:
            touched[path] = action
    latest = next(
        (m.content for m in reversed(messages) if isinstance(m, AssistantMessage) and m.content),
        None,
    )
    body: dict[str, Any] = {
        "recent_activity": recent,
        "touched_files": [{"path": p, "action": a} for p, a in list(touched.items())[:file_limit]],
        "touched_files_total": len(touched),
    }
    if latest is not None:
        body["latest_text"] = _clip(latest, LATEST_TEXT_CHARS)
    return body


def _path_argument(arguments: str) -> str | None:
    try:  # the parser the call itself went through
        path = parse_arguments(arguments).get("path")
    except AgentcycleError:
        return None
    if not isinstance(path, str) or not path:
        return None
    try:  # ``./a.txt`` and ``a.txt`` are one file
        return normalize_path(path)
    except AgentcycleError:  # not a workspace path (the call failed anyway)
        return path


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
