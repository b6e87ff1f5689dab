"""Tool definitions that cannot work fail early with ToolDefinitionError."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentcycle.errors import ConfigurationError, ToolDefinitionError
from agentcycle.tools.base import ToolContext
from agentcycle.tools.function_tool import function_tool


class Opaque:
    """A class pydantic cannot describe."""


class PlainTypedDict(typing.TypedDict):
    a: int


def _var_args(*items: int) -> None:
    """V."""


def _var_kwargs(**options: str) -> None:
    """V."""


def _unannotated(x, y: int) -> None:  # type: ignore[no-untyped-def]
    """U."""


def _late_context(query: str, ctx: ToolContext) -> None:
    """L."""


def _opaque(thing: Opaque) -> None:
    """O."""


def _callable(callback: Callable[[int], int]) -> None:
    """C."""


def _generator(n: int) -> Iterator[int]:
    """G."""
    yield n


def _unresolvable(x: NotImportedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
    """U."""


@pytest.mark.parametrize(
    ("func", "kwargs", "fragment"),
    [
        (_var_args, {}, "'items': *args and **kwargs are not supported"),
        (_var_kwargs, {}, "'options': *args and **kwargs are not supported"),
        (_unannotated, {}, "parameter 'x': missing type annotation"),
        (_late_context, {}, "'ctx': a ToolContext parameter must come first"),
        (_opaque, {}, "parameter 'thing': unsupported type"),
        (_callable, {}, "parameter 'callback': unsupported type"),
        (_generator, {}, "generator functions are not supported"),
        (_unresolvable, {}, "cannot resolve the type hint 'NotImportedAnywhere'"),
        (lambda x: x, {}, "Invalid tool name '<lambda>'"),
        (_opaque, {"name": "has space"}, "Invalid tool name 'has space'"),
        (_opaque, {"name": "x" * 65}, "Invalid tool name"),
        (_var_args, {"name": "ok", "timeout_seconds": 0}, "timeout_seconds must be positive"),
        (_var_args, {"side_effect": "explode"}, "unknown side_effect 'explode'"),
        (
            _var_args,
            {"effect_class": "once"},
            "unknown effect_class 'once'; expected one of read, idempotent, non_idempotent",
        ),
    ],
)
def test_definition_errors(func: Any, kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ToolDefinitionError) as caught:
        function_tool(func, **kwargs)
    assert fragment in str(caught.value)
    assert caught.value.code == "invalid_tool_definition"
    assert isinstance(caught.value, ConfigurationError)


def test_typing_typed_dict_on_old_python_names_the_parameter() -> None:
    def f(row: PlainTypedDict) -> None:
        """F."""

    try:
        tool = function_tool(f)
    except ToolDefinitionError as exc:
        # pydantic needs typing_extensions.TypedDict before Python 3.12.
        assert "parameter 'row'" in str(exc)
        assert "typing_extensions" in str(exc)
    else:
        assert tool.parameters["properties"]["row"]["required"] == ["a"]
