"""The compiled fast path never accepts what Draft 2020-12 (jsonschema) rejects."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from agentcycle.tools._fast_check import compile_check
from agentcycle.tools.builtin.control import ask_user_tool, task_finish_tool
from agentcycle.tools.builtin.todo import todo_write_tool

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-5, 5, allow_nan=False)
    | st.sampled_from([1.0, 0.0, 2.5])
    | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "n"]), children, max_size=3)
    ),
    max_leaves=8,
)

type_names = st.sampled_from(["object", "array", "string", "boolean", "null", "number", "integer"])


def leaf_schemas() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda t: {"type": t}, type_names),
        st.builds(lambda ts: {"type": ts}, st.lists(type_names, min_size=1, max_size=3)),
        st.builds(lambda e: {"enum": e}, st.lists(json_values, min_size=1, max_size=3)),
        st.builds(lambda c: {"const": c}, json_values),
        st.builds(lambda n: {"minLength": n}, st.integers(0, 3)),
        st.builds(lambda n: {"maxLength": n}, st.integers(0, 3)),
        st.builds(lambda n: {"minimum": n}, st.integers(-2, 2)),
        st.builds(lambda n: {"exclusiveMaximum": n}, st.floats(-2, 2, allow_nan=False)),
        st.builds(lambda n: {"maxItems": n}, st.integers(0, 2)),
        st.just({"pattern": "^a"}),
        st.just({"description": "x", "default": 3}),
    )


schemas = st.recursive(
    leaf_schemas(),
    lambda children: st.one_of(
        st.builds(
            lambda props, req, extra: {
                "type": "object",
                "properties": props,
                "required": req,
                "additionalProperties": extra,
            },
            st.dictionaries(st.sampled_from(["a", "b", "n"]), children, max_size=3),
            st.lists(st.sampled_from(["a", "b"]), max_size=2, unique=True),
            st.one_of(st.booleans(), children),
        ),
        st.builds(lambda items: {"type": "array", "items": items}, children),
        st.builds(lambda branches: {"anyOf": branches}, st.lists(children, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


@settings(max_examples=600, deadline=None)
@given(schemas, json_values)
def test_fast_check_agrees_with_jsonschema(schema: dict[str, Any], value: Any) -> None:
    check = compile_check(schema)
    assert check is not None  # every generated keyword is in the supported subset
    assert check(value) == Draft202012Validator(schema).is_valid(value)


def test_builtin_tool_schemas_compile_to_fast_checks() -> None:
    for tool in (task_finish_tool(), ask_user_tool(), todo_write_tool()):
        assert compile_check(tool.parameters) is not None, tool.name


def test_unknown_keywords_fall_back_to_jsonschema() -> None:
    assert compile_check({"type": "object", "oneOf": [{"required": ["a"]}]}) is None
    assert compile_check({"$ref": "https://example.com/schema"}) is None
    assert compile_check({"type": "object", "dependentRequired": {"a": ["b"]}}) is None


def test_recursive_defs() -> None:
    schema = {
        "$defs": {
            "node": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                "additionalProperties": False,
            }
        },
        "$ref": "#/$defs/node",
    }
    check = compile_check(schema)
    assert check is not None
    assert check({"kids": [{"kids": []}]})
    assert not check({"kids": [{"kids": [{"x": 1}]}]})


# Fixed boundary examples beside the property test: the generated schemas above rarely land a
# value exactly on a bound, so an off-by-one there would pass it.
@pytest.mark.parametrize(
    ("schema", "value", "valid"),
    [
        ({"exclusiveMinimum": 0}, 0, False),
        ({"exclusiveMinimum": 0}, 0.0, False),
        ({"exclusiveMinimum": 0}, 1e-9, True),
        ({"exclusiveMinimum": 1.5}, 1.5, False),
        ({"exclusiveMinimum": 1.5}, 2, True),
        ({"exclusiveMaximum": 3}, 3, False),
        ({"minimum": 2}, 2, True),
        ({"maximum": 2}, 2, True),
        ({"minItems": 2}, [1], False),
        ({"minItems": 2}, [1, 2], True),
        ({"minItems": 1}, [], False),
        ({"minItems": 0}, [], True),
        ({"maxItems": 1}, [1, 2], False),
        ({"maxItems": 1}, [1], True),
    ],
)
def test_fast_check_bounds(schema: dict[str, Any], value: Any, valid: bool) -> None:
    check = compile_check(schema)
    assert check is not None
    assert check(value) is valid
    assert Draft202012Validator(schema).is_valid(value) is valid
