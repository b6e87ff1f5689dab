"""``activate_skill``: load one of the run's skills into the conversation.

The tool result is a short JSON confirmation; the skill's instructions travel in the result's
``ActivateSkill`` directive, and the loop appends them as a synthetic user message right after the
tool results (``skills.activation_message``) and emits a ``diagnostic`` event with code
``skill_activated``. A message, not the tool output, so that instructions longer than the tool
output bound reach the model whole. The activation is recorded in the run's tool state
(``RunToolState.active_skills``), which is what enforces the skill's ``allowed-tools`` and what
a resumed run continues from.
"""

from __future__ import annotations

from typing import Any

from agentcycle._json import dumps
from agentcycle.errors import SkillNotFound
from agentcycle.messages import ActivateSkill, ToolResult
from agentcycle.skills.discovery import SkillCatalog
from agentcycle.state import SKILL_ALWAYS_ALLOWED, ActiveSkill
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._tool import BuiltinTool, closed_object

ACTIVATE_SKILL = "activate_skill"


def activate_skill_tool(catalog: SkillCatalog) -> BuiltinTool:
    """The ``activate_skill`` tool over the skills of ``catalog``."""

    async def activate(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
        name = args["skill_name"]
        skill = catalog.get(name)
        if skill is None:
            raise SkillNotFound(
                f"No skill named {name!r}; choose one of the available skills.",
                details={"available_skills": catalog.names},
            )
        reason = args.get("reason") or None
        already = any(active.name == name for active in ctx.state.active_skills)
        if not already:
            ctx.state.active_skills.append(
                ActiveSkill(
                    name=name,
                    allowed_tools=skill.allowed_tools,
                    cycle_index=ctx.cycle_index,
                    reason=reason,
                )
            )
        allowed = ctx.state.skill_allowed_tools()
        return ToolResult.success(
            dumps(
                {
                    "ok": True,
                    "skill": name,
                    "already_active": already,
                    "instructions": "follow the skill's instructions in the next message",
                    "allowed_tools": sorted(allowed | SKILL_ALWAYS_ALLOWED)
                    if allowed is not None
                    else None,
                }
            ),
            directive=ActivateSkill(
                name=name,
                instructions=skill.instructions,
                allowed_tools=skill.allowed_tools,
                reason=reason,
            ),
        )

    return BuiltinTool(
        name=ACTIVATE_SKILL,
        description=(
            "Activate one of the skills listed in the system prompt: its instructions are added "
            "to the conversation right after this call. Call it before working on a task that "
            "matches a skill's description. While a skill that declares allowed tools is "
            "active, only those tools (plus task_finish, ask_user, todo_write and "
            "activate_skill) can be used for the rest of the run. An unknown name is rejected "
            "with the list of available skills."
        ),
        parameters=closed_object(
            {
                "skill_name": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 64,
                    "description": "The skill's name as listed.",
                },
                "reason": {
                    "type": "string",
                    "description": "Why this skill fits the task (recorded with the activation).",
                },
            },
            ("skill_name",),
        ),
        handler=activate,
    )
