"""``todo_write``: the agent's plan, kept in the run's state."""

from __future__ import annotations

import functools
import os
from typing import Any

from agentcycle._json import dumps
from agentcycle.messages import ToolResult
from agentcycle.state import TodoItem
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._tool import BuiltinTool, closed_object

TODO_WRITE = "todo_write"

_TODO_SCHEMA = closed_object(
    {
        "id": {"type": "string", "minLength": 1, "maxLength": 64},
        "title": {"type": "string", "minLength": 1},
        "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
        "priority": {"type": "string", "enum": ["low", "medium", "high"]},
    },
    ("title", "status", "priority"),
)


async def _todo_write(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    items = args["todos"]
    in_progress = [item for item in items if item["status"] == "in_progress"]
    if len(in_progress) > 1:
        return ToolResult.error(
            "too_many_in_progress",
            "At most one TODO item may be in_progress.",
            details=[item["title"] for item in in_progress],
        )
    ids = [item["id"] for item in items if "id" in item]
    if len(ids) != len(set(ids)):
        return ToolResult.error("duplicate_todo_id", "TODO ids must be unique.")
    todos = [
        TodoItem(
            id=item.get("id") or os.urandom(4).hex(),
            title=item["title"],
            status=item["status"],
            priority=item["priority"],
        )
        for item in items
    ]
    ctx.state.todos = todos
    counts = {
        s: sum(1 for t in todos if t.status == s) for s in ("pending", "in_progress", "completed")
    }
    return ToolResult.success(
        dumps({"ok": True, "todos": [t.model_dump() for t in todos], "counts": counts}),
        metadata={"todos_changed": True},
    )


@functools.cache
def todo_write_tool() -> BuiltinTool:
    """The ``todo_write`` tool (one shared instance: it keeps no state of its own)."""
    return BuiltinTool(
        name=TODO_WRITE,
        description=(
            "Replace the whole TODO list for this task. Use it to plan multi-step work and to "
            "mark progress; keep at most one item in_progress. Omitted ids are generated."
        ),
        parameters=closed_object({"todos": {"type": "array", "items": _TODO_SCHEMA}}, ("todos",)),
        handler=_todo_write,
    )
