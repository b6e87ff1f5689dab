"""ToolRegistry: order, uniqueness, lookup and cached specs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from agentcycle.errors import ToolDefinitionError
from agentcycle.messages import ToolResult
from agentcycle.models.base import ToolSpec
from agentcycle.tools.base import SideEffect, ToolContext
from agentcycle.tools.function_tool import FunctionTool, function_tool
from agentcycle.tools.registry import ToolRegistry


@dataclass
class HandWritten:
    """A Tool written by hand, not with function_tool."""

    name: str
    description: str = "Hand written."
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}, "additionalProperties": False}
    )
    side_effect: SideEffect = SideEffect.NONE
    read_only: bool = True
    needs_approval: bool = False
    timeout_seconds: float | None = None

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        return ToolResult.success(self.name)


@function_tool
def alpha(x: int) -> int:
    """Alpha."""
    return x


def beta(text: str) -> str:
    """Beta, a plain function."""
    return text


def test_insertion_order_lookup_and_specs() -> None:
    registry = ToolRegistry([HandWritten("zeta"), alpha, beta])
    assert registry.names() == ("zeta", "alpha", "beta")
    assert [tool.name for tool in registry] == ["zeta", "alpha", "beta"]
    assert len(registry) == 3
    assert "alpha" in registry and "Alpha" not in registry
    assert registry.get("alpha") is alpha
    assert registry["zeta"].name == "zeta"
    assert registry.get("missing") is None
    assert registry.get("ALPHA") is None
    with pytest.raises(KeyError):
        registry["missing"]
    assert isinstance(registry.get("beta"), FunctionTool)
    assert registry.specs()[1] == ToolSpec("alpha", "Alpha.", alpha.parameters)
    assert registry.specs()[2].description == "Beta, a plain function."


def test_specs_are_cached_until_the_registry_changes() -> None:
    registry = ToolRegistry([alpha])
    first = registry.specs()
    assert registry.specs() is first
    registry.add(HandWritten("gamma"))
    second = registry.specs()
    assert second is not first
    assert [spec.name for spec in second] == ["alpha", "gamma"]
    assert registry.remove("alpha") is alpha
    assert [spec.name for spec in registry.specs()] == ["gamma"]
    assert registry.names() == ("gamma",)


def test_duplicate_names_are_rejected() -> None:
    registry = ToolRegistry([alpha])
    with pytest.raises(ToolDefinitionError, match="Duplicate tool name 'alpha'"):
        registry.add(HandWritten("alpha"))
    assert registry.names() == ("alpha",)


@pytest.mark.parametrize("name", ["", "has space", "dot.ted", "ümlaut", "x" * 65, "a\n"])
def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(ToolDefinitionError, match="Invalid tool name"):
        ToolRegistry([HandWritten(name)])


def test_longest_valid_name() -> None:
    name = "a-Z_9" + "x" * 59
    assert ToolRegistry([HandWritten(name)]).names() == (name,)


def test_invalid_parameter_schema_is_rejected() -> None:
    broken = HandWritten("broken", parameters={"type": "object", "properties": {"a": {"type": 1}}})
    with pytest.raises(ToolDefinitionError, match="Tool 'broken': Invalid JSON Schema"):
        ToolRegistry([broken])
    not_object = HandWritten("listy", parameters={"type": "array"})
    with pytest.raises(ToolDefinitionError, match="Tool 'listy'"):
        ToolRegistry([not_object])


def test_non_tools_are_rejected() -> None:
    with pytest.raises(ToolDefinitionError, match="Not a tool"):
        ToolRegistry(["alpha"])  # type: ignore[list-item]
