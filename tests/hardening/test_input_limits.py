"""Hostile tool input and output stay typed: deep or huge arguments and results become error
results the model can correct, never a failed run; malformed agent options fail at once."""

from __future__ import annotations

import json

import pytest

from agentcycle import Agent, Runner, StopAtTools, function_tool
from agentcycle.errors import ConfigurationError, ToolArgumentsError
from agentcycle.events import RunStatus
from agentcycle.messages import ToolMessage
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.function_tool import MAX_RESULT_CHARS, MAX_RESULT_DEPTH
from agentcycle.tools.validation import (
    MAX_ARGUMENTS_CHARS,
    MAX_ARGUMENTS_DEPTH,
    parse_arguments,
)


def nested_text(depth: int) -> str:
    """``{"x": [[...[0]...]]}`` with ``depth`` levels of nesting in all."""
    return '{"x":' + "[" * (depth - 1) + "0" + "]" * (depth - 1) + "}"


@pytest.mark.parametrize("depth", [MAX_ARGUMENTS_DEPTH + 1, 1_000, 100_000])
def test_deep_arguments_are_a_typed_error(depth: int) -> None:
    with pytest.raises(ToolArgumentsError) as caught:
        parse_arguments(nested_text(depth))
    assert caught.value.code == "tool_arguments_too_deep"


def test_arguments_at_the_depth_limit_parse() -> None:
    assert parse_arguments(nested_text(MAX_ARGUMENTS_DEPTH))["x"]


def test_oversized_arguments_are_a_typed_error() -> None:
    text = json.dumps({"content": "a" * MAX_ARGUMENTS_CHARS})
    with pytest.raises(ToolArgumentsError) as caught:
        parse_arguments(text)
    assert caught.value.code == "tool_arguments_too_large"


@function_tool
def echo(value: object) -> str:
    """Echo a value."""
    return "seen"


def tool_messages(result: object) -> list[ToolMessage]:
    return [m for m in result.messages if isinstance(m, ToolMessage)]  # type: ignore[attr-defined]


def test_a_run_survives_deep_arguments_and_the_model_hears_why() -> None:
    model = ScriptedModel(
        [
            call_tool("echo", '{"value":' + "[" * 1_000 + "]" * 1_000 + "}"),
            call_tool("task_finish", {"message": "recovered"}),
        ]
    )
    result = Runner.run_sync(Agent(model=model, tools=[echo]), "go")
    assert result.status is RunStatus.COMPLETED
    assert result.final_output == "recovered"
    first = tool_messages(result)[0]
    assert json.loads(first.content)["error_code"] == "tool_arguments_too_deep"


def deep_value(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


@function_tool
def deep_result() -> object:
    """Return something absurdly nested."""
    return deep_value(5_000)


@function_tool
def huge_result() -> str:
    """Return something absurdly long."""
    return "z" * (MAX_RESULT_CHARS + 1)


@pytest.mark.parametrize(
    ("tool", "code"),
    [(deep_result, "tool_result_too_deep"), (huge_result, "tool_result_too_large")],
)
def test_hostile_tool_results_become_typed_errors(tool: object, code: str) -> None:
    model = ScriptedModel(
        [call_tool(tool.name, {}), call_tool("task_finish", {"message": "ok"})]  # type: ignore[attr-defined]
    )
    result = Runner.run_sync(Agent(model=model, tools=[tool]), "go")  # type: ignore[list-item]
    assert result.status is RunStatus.COMPLETED
    body = json.loads(tool_messages(result)[0].content)
    assert body["error_code"] == code


def test_a_result_at_the_depth_limit_is_kept() -> None:
    @function_tool
    def limit_result() -> object:
        """Nested exactly to the limit."""
        return deep_value(MAX_RESULT_DEPTH - 1)

    model = ScriptedModel([call_tool("limit_result", {}), call_tool("task_finish", {})])
    result = Runner.run_sync(Agent(model=model, tools=[limit_result]), "go")
    assert json.loads(tool_messages(result)[0].content) == deep_value(MAX_RESULT_DEPTH - 1)


@pytest.mark.parametrize(
    "behavior", [{"stop": True}, "stop_on_everything", None, StopAtTools("task_finish")]
)
def test_malformed_tool_use_behavior_is_rejected_at_construction(behavior: object) -> None:
    with pytest.raises(ConfigurationError, match=r"tool_use_behavior|tool_names"):
        Agent(tool_use_behavior=behavior)  # type: ignore[arg-type]


def test_well_formed_tool_use_behaviors_are_accepted() -> None:
    for behavior in ("run_llm_again", "stop_on_first_tool", StopAtTools(("a", "b"))):
        Agent(tool_use_behavior=behavior)  # type: ignore[arg-type]
