"""Skills: directories with a ``SKILL.md`` (YAML frontmatter plus instructions) that an agent
loads with ``activate_skill`` when a task calls for them.

    from agentcycle import Agent
    agent = Agent(model=..., skills_dirs=["./skills"])

``discover_skills`` finds and validates skills (problems with one skill are reported in
``SkillCatalog.issues`` and never stop the others); ``render_skills_section`` lists them in the
system prompt within a character budget. While an activated skill declares ``allowed-tools``
the run may use only those tools plus ``SKILL_ALWAYS_ALLOWED`` (see ``agentcycle.state``).
"""

from __future__ import annotations

from agentcycle.skills.discovery import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    MAX_SKILL_FILE_BYTES,
    SKILL_FILE,
    Skill,
    SkillCatalog,
    SkillIssue,
    discover_skills,
    load_skill,
)
from agentcycle.skills.prompt import (
    DEFAULT_SKILLS_PROMPT_BUDGET,
    activation_message,
    rank_skills,
    render_skills_section,
)

__all__ = [
    "DEFAULT_SKILLS_PROMPT_BUDGET",
    "MAX_DESCRIPTION_CHARS",
    "MAX_NAME_CHARS",
    "MAX_SKILL_FILE_BYTES",
    "SKILL_FILE",
    "Skill",
    "SkillCatalog",
    "SkillIssue",
    "activation_message",
    "discover_skills",
    "load_skill",
    "rank_skills",
    "render_skills_section",
]
