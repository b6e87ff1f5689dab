"""Argument parsing and JSON Schema validation with structured issues."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from agentcycle.errors import ToolArgumentsError, ToolDefinitionError
from agentcycle.tools.validation import (
    ValidationIssue,
    check_schema,
    parse_arguments,
    validate_arguments,
)

TODO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "todos": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "title": {"type": "string", "minLength": 1},
                    "status": {"enum": ["pending", "in_progress", "completed"]},
                    "priority": {"enum": ["low", "medium", "high"]},
                },
                "required": ["title", "status", "priority"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["todos"],
    "additionalProperties": False,
}


def issues(schema: dict[str, Any], arguments: Any) -> list[tuple[str, str]]:
    return [(i.path, i.rule) for i in validate_arguments(schema, arguments)]


def test_valid_arguments_have_no_issues() -> None:
    ok = {"todos": [{"title": "a", "status": "pending", "priority": "low"}]}
    assert validate_arguments(TODO_SCHEMA, ok) == []


def test_nested_issues_carry_paths_and_rules() -> None:
    arguments = {
        "todos": [
            {"title": "a", "status": "done", "priority": "low"},
            {"status": "pending", "priority": "urgent", "owner": "me"},
            {"title": "", "status": "pending", "priority": 3},
        ],
        "extra": True,
    }
    assert issues(TODO_SCHEMA, arguments) == [
        ("/extra", "additionalProperties"),
        ("/todos/0/status", "enum"),
        ("/todos/1/owner", "additionalProperties"),
        ("/todos/1/priority", "enum"),
        ("/todos/1/title", "required"),
        ("/todos/2/priority", "enum"),
        ("/todos/2/title", "minLength"),
    ]


def test_messages_are_short_and_specific() -> None:
    found = {
        i.path: i.message
        for i in validate_arguments(
            TODO_SCHEMA, {"todos": [{"title": 5, "status": "done", "priority": "low", "x": 1}]}
        )
    }
    assert found == {
        "/todos/0/title": "expected string, got integer",
        "/todos/0/status": 'must be one of: "pending", "in_progress", "completed"',
        "/todos/0/x": "unexpected property",
    }
    missing = validate_arguments(TODO_SCHEMA, {})
    assert missing == [ValidationIssue("/todos", "required", "missing required property")]
    assert missing[0].to_dict() == {
        "path": "/todos",
        "rule": "required",
        "message": "missing required property",
    }


def test_union_with_null_reports_a_type_issue() -> None:
    schema = {
        "type": "object",
        "properties": {"limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
    }
    [issue] = validate_arguments(schema, {"limit": "ten"})
    assert issue == ValidationIssue("/limit", "type", "expected integer or null, got string")


def test_union_descends_into_the_branch_that_fits() -> None:
    schema = {
        "type": "object",
        "properties": {
            "target": {
                "anyOf": [
                    {
                        "type": "object",
                        "properties": {"host": {"type": "string"}, "port": {"type": "integer"}},
                        "required": ["host"],
                        "additionalProperties": False,
                    },
                    {"type": "null"},
                ]
            }
        },
    }
    assert issues(schema, {"target": {"port": "80"}}) == [
        ("/target/host", "required"),
        ("/target/port", "type"),
    ]


def test_pointer_escaping() -> None:
    schema = {
        "type": "object",
        "properties": {"a/b": {"type": "object", "properties": {"c~d": {"type": "integer"}}}},
        "additionalProperties": False,
    }
    assert issues(schema, {"a/b": {"c~d": "x"}, "e/f": 1}) == [
        ("/a~1b/c~0d", "type"),
        ("/e~1f", "additionalProperties"),
    ]


def test_pattern_properties_are_not_unexpected() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "patternProperties": {"^x-": {"type": "string"}},
        "additionalProperties": False,
    }
    assert issues(schema, {"name": "n", "x-trace": "t", "other": 1}) == [
        ("/other", "additionalProperties")
    ]


def test_long_values_do_not_flood_messages() -> None:
    schema = {"type": "object", "properties": {"s": {"type": "string", "maxLength": 3}}}
    [issue] = validate_arguments(schema, {"s": "y" * 10_000})
    assert issue.rule == "maxLength"
    assert len(issue.message) <= 300


@pytest.mark.parametrize(
    ("raw", "expected"),
    [('{"a": 1}', {"a": 1}), ("", {}), ("   ", {}), (None, {}), (' {"b": [1]} ', {"b": [1]})],
)
def test_parse_arguments(raw: str | None, expected: dict[str, Any]) -> None:
    assert parse_arguments(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ('{"a": 1', "not valid JSON"),
        ("{'a': 1}", "not valid JSON"),
        ('{"a": NaN}', "NaN is not valid JSON"),
        ("[1, 2]", "must be a JSON object, got array"),
        ('"text"', "must be a JSON object, got string"),
        ("null", "must be a JSON object, got null"),
    ],
)
def test_parse_arguments_rejects_non_objects(raw: str, fragment: str) -> None:
    with pytest.raises(ToolArgumentsError) as caught:
        parse_arguments(raw)
    assert caught.value.code == "invalid_arguments_json"
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"type": "object", "properties": {"a": {"type": "strnig"}}}, "/properties/a/type"),
        ({"type": "object", "required": "a"}, "/required"),
        ({"type": "array"}, '"type": "object"'),
        ({"properties": {}}, '"type": "object"'),
    ],
)
def test_check_schema_rejects_invalid_schemas(schema: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ToolDefinitionError) as caught:
        check_schema(schema)
    assert fragment in caught.value.message


def test_validating_against_an_invalid_schema_is_a_definition_error() -> None:
    with pytest.raises(ToolDefinitionError):
        validate_arguments({"type": "object", "properties": {"a": {"minimum": "x"}}}, {"a": 1})


def test_importing_tools_does_not_import_jsonschema() -> None:
    code = (
        "import sys, agentcycle.tools.function_tool, agentcycle.tools.registry, "
        "agentcycle.tools.validation; print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
