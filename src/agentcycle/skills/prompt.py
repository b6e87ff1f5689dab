"""Skills in the prompt: the system-prompt section listing them, and the message that carries
an activated skill's instructions.

The section lists skills most relevant first and stays within a character budget. Relevance is
simple and deterministic: the number of distinct words of the user's request (lowercased runs
of letters and digits, at least three characters, a few stop words dropped, a plural ``s``
trimmed) that also occur in the skill's name or description; ties go by name. Skills that do
not fit are counted in a closing "... and N more skills" line; ``activate_skill`` still accepts
them and lists every name when given an unknown one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agentcycle.skills.discovery import Skill

DEFAULT_SKILLS_PROMPT_BUDGET = 4_000
"""Characters the skills section may take in the system prompt (header and footer included)."""

_WORD = re.compile(r"[^\W_]+")
_STOP_WORDS = frozenset(
    {
        "the",
        "and",
        "for",
        "with",
        "this",
        "that",
        "from",
        "into",
        "are",
        "was",
        "were",
        "you",
        "your",
        "our",
        "can",
        "will",
        "please",
        "use",
        "using",
        "all",
        "any",
        "not",
        "but",
        "how",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "its",
    }
)

_HEADER = {
    "en-US": (
        "## Skills\n"
        "Skills are packaged instructions for specific kinds of work. When the task matches a "
        "skill's description, call `activate_skill` with its name before starting; its "
        "instructions are then added to the conversation. Available skills:"
    ),
    "zh-CN": (
        "## 技能\n"
        "技能是针对特定工作的成套说明。当任务与某个技能的描述相符时，请先调用 `activate_skill` "
        "并传入其名称，再开始工作；该技能的说明随后会加入对话。可用技能："
    ),
}
_MORE = {
    "en-US": "... and {count} more skills (not listed for space).",
    "zh-CN": "……另有 {count} 个技能（篇幅所限未列出）。",
}
_ACTIVATED = {
    "en-US": "Skill `{name}` is now active. Follow its instructions:\n\n{instructions}",
    "zh-CN": "技能 `{name}` 已激活。请遵循以下说明：\n\n{instructions}",
}


def request_words(text: str) -> frozenset[str]:
    """The words of ``text`` that count for relevance (see the module docstring)."""
    words = set()
    for word in _WORD.findall(text.lower()):
        if len(word) < 3 or word in _STOP_WORDS:
            continue
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return frozenset(words)


def rank_skills(skills: Sequence[Skill], request: str) -> list[Skill]:
    """``skills`` most relevant to ``request`` first, then by name."""
    wanted = request_words(request)

    def score(skill: Skill) -> int:
        return len(wanted & request_words(f"{skill.name.replace('-', ' ')} {skill.description}"))

    return sorted(skills, key=lambda skill: (-score(skill), skill.name))


def render_skills_section(
    skills: Sequence[Skill],
    *,
    request: str = "",
    budget: int = DEFAULT_SKILLS_PROMPT_BUDGET,
    language: str = "en-US",
) -> str:
    """The system-prompt section listing ``skills`` (most relevant to ``request`` first) in at
    most ``budget`` characters; ``""`` when there are no skills.

    A skill line that does not fit is left out and counted, and later (shorter) lines may still
    fit. The header and the count line are always present, so a budget smaller than those two
    yields a section listing no skill by name.
    """
    if not skills:
        return ""
    header = _HEADER.get(language, _HEADER["en-US"])
    more = _MORE.get(language, _MORE["en-US"])
    entries = [f"- {skill.name}: {skill.description}" for skill in rank_skills(skills, request)]
    everything = "\n".join([header, *entries])
    if len(everything) <= budget:
        return everything
    # Reserve room for the count line at its longest, so adding it never breaks the budget.
    reserve = len(more.format(count=len(skills))) + 1
    used = len(header)
    lines = [header]
    omitted = 0
    for line in entries:
        if used + 1 + len(line) + reserve <= budget:
            lines.append(line)
            used += 1 + len(line)
        else:
            omitted += 1
    if omitted:
        lines.append(more.format(count=omitted))
    return "\n".join(lines)


def activation_message(name: str, instructions: str, language: str = "en-US") -> str:
    """The text that brings an activated skill's instructions into the conversation."""
    template = _ACTIVATED.get(language, _ACTIVATED["en-US"])
    return template.format(name=name, instructions=instructions)
