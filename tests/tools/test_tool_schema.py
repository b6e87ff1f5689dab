"""JSON Schema derived from a function's type hints."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Any, Literal, NotRequired, Optional, Required

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from agentcycle.tools.base import ToolContext
from agentcycle.tools.function_tool import function_tool
from agentcycle.tools.validation import check_schema, validate_arguments


def nodes(schema: Any) -> list[dict[str, Any]]:
    """Every dict inside ``schema`` (schema nodes and keyword values alike)."""
    found: list[dict[str, Any]] = []
    if isinstance(schema, dict):
        found.append(schema)
        for value in schema.values():
            found.extend(nodes(value))
    elif isinstance(schema, list):
        for value in schema:
            found.extend(nodes(value))
    return found


def assert_closed(schema: dict[str, Any]) -> None:
    for node in nodes(schema):
        if "properties" in node and isinstance(node["properties"], dict):
            assert node.get("additionalProperties") is False, node


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    """A postal address."""

    street: str
    title: str = Field(description="How the addressee is greeted.")
    zip_code: str | None = None


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Filters(TypedDict, total=False):
    tag: str
    limit: Required[int]


class Item(TypedDict):
    name: str
    note: NotRequired[str]


class Node(BaseModel):
    value: int
    children: list[Node] = []


def test_primitives_required_and_defaults() -> None:
    @function_tool
    def f(s: str, i: int, x: float, b: bool, n: None, d: int = 5, t: str = "hi") -> str:
        """F."""
        return ""

    p = f.parameters
    assert p["type"] == "object"
    assert p["additionalProperties"] is False
    assert list(p["properties"]) == ["s", "i", "x", "b", "n", "d", "t"]
    assert p["properties"]["s"] == {"type": "string"}
    assert p["properties"]["i"] == {"type": "integer"}
    assert p["properties"]["x"] == {"type": "number"}
    assert p["properties"]["b"] == {"type": "boolean"}
    assert p["properties"]["n"] == {"type": "null"}
    assert p["properties"]["d"] == {"type": "integer", "default": 5}
    assert p["properties"]["t"] == {"type": "string", "default": "hi"}
    assert p["required"] == ["s", "i", "x", "b", "n"]


def test_containers() -> None:
    @function_tool
    def f(
        names: list[str], pair: tuple[int, str], many: tuple[float, ...], counts: dict[str, int]
    ) -> None:
        """F."""

    props = f.parameters["properties"]
    assert props["names"] == {"type": "array", "items": {"type": "string"}}
    assert props["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert props["pair"]["minItems"] == props["pair"]["maxItems"] == 2
    assert props["many"] == {"type": "array", "items": {"type": "number"}}
    assert props["counts"] == {"type": "object", "additionalProperties": {"type": "integer"}}


def test_optional_and_union_with_none() -> None:
    @function_tool
    def f(a: Optional[int], b: str | None = None) -> None:  # noqa: UP045 - both spellings
        """F."""

    props = f.parameters["properties"]
    assert props["a"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert props["b"] == {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    assert f.parameters["required"] == ["a"]


def test_literal_and_enum() -> None:
    @function_tool
    def f(mode: Literal["fast", "slow"], one: Literal["x"], color: Color = Color.BLUE) -> None:
        """F."""

    props = f.parameters["properties"]
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert props["one"] == {"type": "string", "const": "x"}
    assert props["color"] == {"type": "string", "enum": ["red", "blue"], "default": "blue"}


def test_pydantic_model_is_inlined_closed_and_untitled() -> None:
    @function_tool
    def f(address: Address) -> None:
        """F."""

    schema = f.parameters
    assert "$defs" not in schema
    address = schema["properties"]["address"]
    assert address["type"] == "object"
    assert address["description"] == "A postal address."
    assert address["required"] == ["street", "title"]
    # A property called "title" is data, not pydantic's title noise: it stays.
    assert address["properties"]["title"] == {
        "type": "string",
        "description": "How the addressee is greeted.",
    }
    assert all("title" not in node or node is address["properties"] for node in nodes(schema))
    assert_closed(schema)


def test_dataclass_parameter() -> None:
    @function_tool
    def f(point: Point) -> None:
        """F."""

    point = f.parameters["properties"]["point"]
    assert point["type"] == "object"
    assert point["properties"] == {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}}
    assert point["required"] == ["x"]
    assert point["additionalProperties"] is False


def test_typed_dict_total_required_and_not_required() -> None:
    @function_tool
    def f(filters: Filters, item: Item) -> None:
        """F."""

    props = f.parameters["properties"]
    assert props["filters"]["required"] == ["limit"]
    assert set(props["filters"]["properties"]) == {"tag", "limit"}
    assert props["item"]["required"] == ["name"]
    assert set(props["item"]["properties"]) == {"name", "note"}
    assert_closed(f.parameters)


def test_annotated_field_description_and_constraints_win_over_docstring() -> None:
    @function_tool
    def f(
        count: Annotated[int, Field(ge=1, le=10, description="From Field.")],
        other: int,
        limit: int = Field(20, description="A default given as Field."),
    ) -> None:
        """F.

        Args:
            count: From the docstring.
            other: Other from the docstring.
        """

    props = f.parameters["properties"]
    assert props["count"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 10,
        "description": "From Field.",
    }
    assert props["other"]["description"] == "Other from the docstring."
    assert props["limit"] == {
        "type": "integer",
        "default": 20,
        "description": "A default given as Field.",
    }
    assert f.parameters["required"] == ["count", "other"]


def test_recursive_model_keeps_consistent_defs() -> None:
    @function_tool
    def f(tree: Node) -> None:
        """F."""

    schema = f.parameters
    refs = {node["$ref"] for node in nodes(schema) if "$ref" in node}
    assert refs == {"#/$defs/Node"}
    assert set(schema["$defs"]) == {"Node"}
    assert schema["$defs"]["Node"]["additionalProperties"] is False
    check_schema(schema)
    good = {"tree": {"value": 1, "children": [{"value": 2, "children": [{"value": 3}]}]}}
    assert validate_arguments(schema, good) == []
    bad = {"tree": {"value": 1, "children": [{"value": 2, "children": [{"value": "x"}]}]}}
    [issue] = validate_arguments(schema, bad)
    assert (issue.path, issue.rule) == ("/tree/children/0/children/0/value", "type")


def test_default_values_are_not_walked_as_schemas() -> None:
    @function_tool
    def f(meta: dict[str, Any] = {"title": "kept", "properties": {}}) -> None:  # noqa: B006
        """F."""

    assert f.parameters["properties"]["meta"]["default"] == {"title": "kept", "properties": {}}


def test_context_parameter_is_hidden() -> None:
    @function_tool
    def f(ctx: ToolContext, query: str) -> str:
        """F."""
        return query

    @function_tool
    def g(context: ToolContext) -> None:
        """G."""

    assert f.takes_context and g.takes_context
    assert list(f.parameters["properties"]) == ["query"]
    assert g.parameters == {"type": "object", "properties": {}, "additionalProperties": False}


def test_context_annotation_only_imported_for_type_checking() -> None:
    # A module that imports ToolContext under TYPE_CHECKING has only the string annotation.
    source = (
        "from __future__ import annotations\n"
        "def lookup(ctx: ToolContext, order_id: str) -> str:\n"
        "    '''Read one order.'''\n"
        "    return order_id\n"
    )
    namespace: dict[str, Any] = {"__name__": "user_tools"}
    exec(compile(source, "user_tools.py", "exec", dont_inherit=True), namespace)
    tool = function_tool(namespace["lookup"])
    assert tool.takes_context
    assert list(tool.parameters["properties"]) == ["order_id"]


def test_every_generated_schema_is_valid_draft_2020_12_and_closed() -> None:
    @function_tool
    def f(
        ctx: ToolContext,
        address: Address,
        point: Point | None,
        filters: Filters,
        items: list[Item],
        tree: Node,
        color: Color = Color.RED,
        mode: Literal["a", "b"] = "a",
    ) -> None:
        """F."""

    check_schema(f.parameters)
    assert_closed(f.parameters)
    args = {
        "address": {"street": "Main St", "title": "Dr"},
        "point": None,
        "filters": {"limit": 3},
        "items": [{"name": "n"}],
        "tree": {"value": 1},
    }
    assert validate_arguments(f.parameters, args) == []


def test_non_strict_tool_leaves_objects_open() -> None:
    @function_tool(strict=False)
    def f(address: Address) -> None:
        """F."""

    assert "additionalProperties" not in f.parameters
    assert "additionalProperties" not in f.parameters["properties"]["address"]
    assert f.strict is False
