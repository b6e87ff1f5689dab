"""``ToolRegistry``: the ordered, name-unique set of tools offered to a model.

Order is insertion order and never changes on its own: the tool list is part of the prompt,
and a stable prefix keeps provider prompt caches warm. Tools are treated as immutable once
registered (the cached specs are built from their attributes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from agentcycle.errors import ToolDefinitionError
from agentcycle.models.base import ToolSpec
from agentcycle.tools.base import Tool

TOOL_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")
"""What providers accept as a function name."""


def check_tool_name(name: object) -> None:
    """Raise ``ToolDefinitionError`` unless ``name`` is a valid tool name."""
    if not isinstance(name, str) or not TOOL_NAME_PATTERN.fullmatch(name):
        raise ToolDefinitionError(
            f"Invalid tool name {name!r}: use 1 to 64 letters, digits, '_' or '-'.",
            details={"name": name if isinstance(name, str) else repr(name)},
        )


class ToolRegistry:
    """Tools by name, in insertion order.

    ``add`` accepts ``Tool`` objects and plain functions (wrapped with ``function_tool``). A
    duplicate name, an invalid name or an invalid parameter schema raises
    ``ToolDefinitionError``.
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._specs: tuple[ToolSpec, ...] | None = None
        self._names: tuple[str, ...] | None = None
        self.extend(tools)

    def add(self, tool: Tool | Callable[..., Any]) -> Tool:
        """Register ``tool`` (wrapping a plain function first) and return the registered tool."""
        if not isinstance(tool, Tool):
            _refuse_agent(tool)
            if not callable(tool):
                raise ToolDefinitionError(
                    f"Not a tool: {tool!r} (expected a Tool object or a function)."
                )
            from agentcycle.tools.function_tool import FunctionTool

            tool = FunctionTool(tool)
        check_tool_name(tool.name)
        if tool.name in self._tools:
            raise ToolDefinitionError(
                f"Duplicate tool name {tool.name!r}: tool names must be unique in a run.",
                details={"name": tool.name},
            )
        if not isinstance(tool.description, str):
            raise ToolDefinitionError(f"Tool {tool.name!r}: description must be a string.")
        from agentcycle.tools.validation import check_schema

        try:
            check_schema(tool.parameters)
        except ToolDefinitionError as exc:
            raise ToolDefinitionError(
                f"Tool {tool.name!r}: {exc.message}", details=exc.details
            ) from None
        self._tools[tool.name] = tool
        self._changed()
        return tool

    def extend(self, tools: Iterable[Tool | Callable[..., Any]]) -> None:
        """Register several tools in order."""
        for tool in tools:
            self.add(tool)

    def remove(self, name: str) -> Tool:
        """Unregister and return the tool called ``name``; ``KeyError`` if there is none."""
        tool = self._tools.pop(name)
        self._changed()
        return tool

    def get(self, name: str) -> Tool | None:
        """The tool called ``name`` (exact match), or ``None``."""
        return self._tools.get(name)

    def names(self) -> tuple[str, ...]:
        """Tool names in order."""
        if self._names is None:
            self._names = tuple(self._tools)
        return self._names

    def specs(self) -> tuple[ToolSpec, ...]:
        """What the model is told about each tool, in order; cached until the registry changes."""
        if self._specs is None:
            self._specs = tuple(
                ToolSpec(name=t.name, description=t.description, parameters=t.parameters)
                for t in self._tools.values()
            )
        return self._specs

    def _changed(self) -> None:
        self._specs = None
        self._names = None

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(tuple(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRegistry({list(self._tools)!r})"


def _refuse_agent(value: object) -> None:
    """Refuse an agent where a tool belongs, or its ``as_tool`` method given without the call
    (which, as a plain function, would become a tool named ``as_tool``). An agent is known by
    its ``as_tool`` method: this module sits below ``agentcycle.agent``."""
    owner = getattr(value, "__self__", None)
    if _is_agent(owner) and getattr(value, "__name__", None) == "as_tool":
        value = owner
    if _is_agent(value):
        raise ToolDefinitionError(
            f"Agent {getattr(value, 'name', '')!r} is not a tool: give the tool its as_tool() "
            "call returns."
        )


def _is_agent(value: object) -> bool:
    return not isinstance(value, type) and callable(getattr(value, "as_tool", None))
