"""Control tools: ``task_finish`` ends the run, ``ask_user`` pauses it for input."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter, ValidationError

from agentcycle._json import dumps
from agentcycle.messages import AskUser, Finish, ToolResult, ToolResultStatus
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._tool import BuiltinTool, closed_object

TASK_FINISH = "task_finish"
ASK_USER = "ask_user"


def task_finish_tool(output_type: type[Any] | None = None) -> BuiltinTool:
    """The ``task_finish`` tool. With an ``output_type`` other than ``str`` the call must also
    carry a structured ``output`` that validates against the type's schema; the validated value
    becomes the run's final output."""
    if output_type is None or output_type is str:
        return _plain_task_finish_tool()
    return _task_finish_tool(output_type)


# Built-in tools are immutable and stateless, so one shared instance serves every run instead
# of each run rebuilding the schema (and looking up its validator) again.
@functools.cache
def _plain_task_finish_tool() -> BuiltinTool:
    return _task_finish_tool(None)


def _task_finish_tool(output_type: type[Any] | None) -> BuiltinTool:
    adapter: TypeAdapter[Any] | None = None
    output_schema: dict[str, Any] | None = None
    if output_type is not None:
        adapter = TypeAdapter(output_type)
        output_schema = adapter.json_schema()
    properties: dict[str, Any] = {
        "message": {
            "type": "string",
            "description": "The final answer for the user: what was done and the result.",
        },
        "exposed_files": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Workspace paths the user should look at.",
        },
        "require_all_todos_completed": {
            "type": "boolean",
            "default": True,
            "description": "Refuse to finish while TODO items are open (default true).",
        },
    }
    required: tuple[str, ...] = ()
    defs: dict[str, Any] = {}
    if output_schema is not None:
        # Nested models refer to "#/$defs/..." from the document root, so hoist the defs.
        defs = output_schema.pop("$defs", {})
        properties["output"] = {**output_schema, "description": "The structured final output."}
        required = ("output",)
    parameters = closed_object(properties, required)
    if defs:
        parameters["$defs"] = defs

    async def handle(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        if args.get("require_all_todos_completed", True):
            open_items = ctx.state.open_todos()
            if open_items:
                return ToolResult.error(
                    "todo_incomplete",
                    "Open TODO items remain; complete them (todo_write) or pass "
                    "require_all_todos_completed=false.",
                    details=[
                        {"id": t.id, "title": t.title, "status": t.status} for t in open_items
                    ],
                )
        exposed = args.get("exposed_files")
        finish = Finish(
            message=args.get("message", ""),
            exposed_files=tuple(exposed) if exposed is not None else None,
        )
        if adapter is not None:
            try:
                output = adapter.validate_python(args["output"])
            except ValidationError as exc:
                return ToolResult.error(
                    "invalid_final_output",
                    "`output` does not match the required output type.",
                    details=exc.errors(include_url=False, include_context=False),
                )
            finish = finish.model_copy(update={"output": output, "typed_output": True})
        return ToolResult(directive=finish, content=dumps({"ok": True, "finished": True}))

    return BuiltinTool(
        name=TASK_FINISH,
        description=(
            "Finish the task. Call this exactly once when the work is complete; `message` is "
            "the final answer shown to the user. The run ends after this call."
        ),
        parameters=parameters,
        handler=handle,
    )


async def _ask_user(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    ask = AskUser(
        question=args["question"],
        options=tuple(args.get("options", ())),
        selection_type=args.get("selection_type", "single"),
        allow_custom_options=args.get("allow_custom_options", True),
    )
    return ToolResult(
        status=ToolResultStatus.WAIT_RESPONSE,
        directive=ask,
        content=dumps({"ok": True, "waiting_for_user": True}),
    )


@functools.cache
def ask_user_tool() -> BuiltinTool:
    """The ``ask_user`` tool: pause the run until the user answers."""
    return BuiltinTool(
        name=ASK_USER,
        description=(
            "Ask the user a question and pause until they answer. Use it only when you cannot "
            "continue without their input; offer `options` when the answer is a choice."
        ),
        parameters=closed_object(
            {
                "question": {"type": "string", "minLength": 1},
                "options": {"type": "array", "items": {"type": "string"}},
                "selection_type": {"type": "string", "enum": ["single", "multi"]},
                "allow_custom_options": {"type": "boolean"},
            },
            ("question",),
        ),
        handler=_ask_user,
    )
