"""Runtime-authored prompt text (system prompt note, hints), in the run's language."""

from __future__ import annotations

import functools
from typing import Any

from agentcycle.errors import ConfigurationError
from agentcycle.messages import PromptSection, SystemMessage
from agentcycle.prompts import (
    AGENT_SECTION,
    CONTEXT_SECTION,
    RUNTIME_SECTIONS,
    SKILLS_SECTION,
    TOOLS_SECTION,
    PromptBundle,
    message_stable_hash,
)

_RUNTIME_NOTE = {
    "en-US": (
        "You work in cycles: each reply may call tools, and you see their results next. "
        "The task ends only when you call `task_finish` with the final answer. If you cannot "
        "continue without the user, call `ask_user`."
    ),
    "zh-CN": (
        "你以循环方式工作：每次回复都可以调用工具，并在下一轮看到结果。"
        "只有调用 `task_finish` 并给出最终答案时任务才结束。"
        "如果没有用户的输入无法继续，请调用 `ask_user`。"
    ),
}

_NO_TOOL_HINT = {
    "en-US": (
        "You replied without calling a tool. If the task is done, call `task_finish` with the "
        "final answer; if you need the user, call `ask_user`; otherwise continue with a tool."
    ),
    "zh-CN": (
        "你的回复没有调用任何工具。如果任务已完成，请调用 `task_finish` 给出最终答案；"
        "如果需要用户输入，请调用 `ask_user`；否则请继续使用工具。"
    ),
}

_HANDOFF_NOTE = {
    "en-US": (
        "[handoff] The agent {source!r} handed this conversation to you; you are in charge "
        "now and your own tools and instructions apply. Its note: {note}"
    ),
    "zh-CN": (
        "[移交] 代理 {source!r} 将此对话移交给你；现在由你负责，适用你自己的工具和指令。"
        "附言：{note}"
    ),
}

LANGUAGES = tuple(_RUNTIME_NOTE)


def runtime_note(language: str) -> str:
    """The note appended to the system prompt about how runs end."""
    return _RUNTIME_NOTE.get(language, _RUNTIME_NOTE["en-US"])


def no_tool_hint(language: str) -> str:
    """The user-side hint added when the model answered without a tool call."""
    return _NO_TOOL_HINT.get(language, _NO_TOOL_HINT["en-US"])


def handoff_note(source: str, note: str, language: str) -> str:
    """The user-side message the target of a handoff reads first."""
    template = _HANDOFF_NOTE.get(language, _HANDOFF_NOTE["en-US"])
    return template.format(source=source, note=note.strip() or "-")


@functools.lru_cache(maxsize=256)
def _agent_section(instructions: str) -> PromptSection:
    """Cached: every run of an agent with fixed instructions holds the same section, not a
    copy of its (often long) prompt."""
    return PromptSection(id=AGENT_SECTION, text=instructions.rstrip())


def agent_bundle(instructions: str | PromptBundle | None) -> PromptBundle:
    """The agent's own sections: a string is one stable ``agent`` section."""
    if isinstance(instructions, PromptBundle):
        return instructions
    if not instructions:
        return _EMPTY
    return PromptBundle(sections=(_agent_section(instructions),))


@functools.lru_cache(maxsize=256)
def run_system_message(
    agent: PromptBundle, *, skills: str | None, context: str | None, language: str
) -> SystemMessage:
    """The run's system message: the agent's stable sections, the runtime note (``tools``)
    and ``skills``, the agent's volatile sections, then ``context`` (the order
    ``agentcycle.prompts`` documents). Raises ``ConfigurationError`` when the agent's bundle
    uses a section id the runtime writes. Cached: runs of an agent with fixed instructions
    share one message, not a copy of its (often long) prompt each."""
    for section in agent.sections:
        if section.id in RUNTIME_SECTIONS:
            raise ConfigurationError(
                f"prompt section id {section.id!r} is reserved for the runtime "
                f"(reserved: {', '.join(sorted(RUNTIME_SECTIONS))})"
            )
    stable = [s for s in agent.sections if s.stable]
    volatile = [s for s in agent.sections if not s.stable]
    runtime = [_tools_section(language)]
    if skills:
        runtime.append(PromptSection(id=SKILLS_SECTION, text=skills))
    tail = [PromptSection(id=CONTEXT_SECTION, text=context, stable=False)] if context else []
    return PromptBundle(sections=(*stable, *runtime, *volatile, *tail)).to_message()


@functools.lru_cache(maxsize=8)
def _tools_section(language: str) -> PromptSection:
    return PromptSection(id=TOOLS_SECTION, text=runtime_note(language))


_EMPTY = PromptBundle()


def prefix_change(previous: SystemMessage, current: SystemMessage) -> dict[str, Any] | None:
    """What changed in the stable sections from ``previous`` to ``current`` (the details of a
    ``prompt_prefix_changed`` diagnostic), or ``None`` when their stable hashes agree."""
    before, after = message_stable_hash(previous), message_stable_hash(current)
    if before == after:
        return None
    old = {s.id: s.text for s in PromptBundle.from_message(previous).sections if s.stable}
    new = {s.id: s.text for s in PromptBundle.from_message(current).sections if s.stable}
    changed = [i for i in new if old.get(i) != new[i]] + [i for i in old if i not in new]
    return {"previous_hash": before, "stable_hash": after, "changed_sections": changed}
