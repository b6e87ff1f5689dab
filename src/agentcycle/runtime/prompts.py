"""Runtime-authored prompt text (system prompt note, hints), in the run's language."""

from __future__ import annotations

import functools

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
def system_prompt(instructions: str | None, language: str) -> str:
    """The agent's instructions followed by the runtime note. Cached: every run of an agent
    with fixed instructions holds the same string, not a copy of its (often long) prompt."""
    note = runtime_note(language)
    if not instructions:
        return note
    return f"{instructions.rstrip()}\n\n{note}"
