"""The loop's unvalidated constructions of per-cycle models equal the validated ones: same
fields, same fields-set, same JSON, same checkpoint round trip; and bad input still fails."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from agentcycle.messages import (
    AssistantMessage,
    SystemMessage,
    TokenUsage,
    ToolCall,
    ToolMessage,
    ToolResult,
    UserMessage,
)
from agentcycle.state import CycleRecord, HandoffRecord, TodoItem


def same(fast: BaseModel, validated: BaseModel) -> None:
    assert type(fast) is type(validated)
    assert fast == validated
    assert fast.model_fields_set == validated.model_fields_set
    assert fast.model_dump_json() == validated.model_dump_json()
    assert fast.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
    assert type(fast).model_validate_json(fast.model_dump_json()) == validated
    assert list(fast.__dict__) == list(validated.__dict__)  # field order, for repr and dumps


CALL = ToolCall(id="c1", name="tick", arguments='{"n": 1}')


def test_tool_results() -> None:
    same(ToolResult.success("ok"), ToolResult(content="ok"))
    error = ToolResult.error("boom", "it broke", details={"x": 1})
    assert error.status == "error" and error.error_code == "boom"
    same(error, ToolResult(status="error", content=error.content, error_code="boom"))
    # Each result owns its metadata dict: mutating one never shows in another.
    first, second = ToolResult.success("a"), ToolResult.success("b")
    first.metadata["k"] = 1
    assert second.metadata == {}


def test_tool_result_with_extra_fields_or_odd_content_is_validated() -> None:
    with pytest.raises(ValidationError):
        ToolResult.success(123)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ToolResult.success("ok", metadata="not a dict")


def test_assistant_and_tool_messages() -> None:
    same(
        AssistantMessage.of("hi", (CALL,), "because"),
        AssistantMessage(content="hi", tool_calls=(CALL,), reasoning="because"),
    )
    same(
        AssistantMessage.of("", (), None),
        AssistantMessage(content="", tool_calls=(), reasoning=None),
    )
    result = ToolResult.error("nope", "refused")
    same(
        ToolMessage.answering(CALL, result),
        ToolMessage(tool_call_id="c1", name="tick", content=result.content, is_error=True),
    )


def test_assistant_message_from_loose_parts_is_validated() -> None:
    # A custom model adapter may hand over a list of calls: validated (and made a tuple).
    message = AssistantMessage.of("x", [CALL], None)  # type: ignore[arg-type]
    assert message.tool_calls == (CALL,)
    with pytest.raises(ValidationError):
        AssistantMessage.of("x", ("not a call",), None)  # type: ignore[arg-type]


def test_cycle_records() -> None:
    messages = (
        AssistantMessage.of("", (CALL,), None),
        ToolMessage.answering(CALL, ToolResult.success("ok")),
        UserMessage(content="steer"),
        SystemMessage(content="sys"),
    )
    usage = TokenUsage.of(10, 2)
    same(
        CycleRecord.of_cycle(3, messages, usage),
        CycleRecord(index=3, messages=messages, usage=usage),
    )
    todos = (TodoItem(id="1", title="t", status="pending", priority="low"),)
    handoff = HandoffRecord(
        source_agent="a", target_agent="b", tool_call_id="c1", system_prompt="s", tool_names=("x",)
    )
    same(
        CycleRecord.of_cycle(3, messages, usage, todos=todos, handoff=handoff),
        CycleRecord(index=3, messages=messages, usage=usage, todos=todos, handoff=handoff),
    )


def test_cycle_record_with_a_stray_message_is_validated() -> None:
    with pytest.raises(ValidationError):
        CycleRecord.of_cycle(1, ({"role": "robot"},), TokenUsage())  # type: ignore[arg-type]
