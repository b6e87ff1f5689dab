"""Where the Anthropic converter puts cache breakpoints, edge cases included (the wire shapes
the loopback test checks end to end)."""

from __future__ import annotations

from agentcycle.messages import (
    AssistantMessage,
    PromptSection,
    SystemMessage,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentcycle.models._convert_anthropic import MessageConverter

MARK = {"type": "ephemeral"}


def bundle(*sections: PromptSection) -> SystemMessage:
    return SystemMessage(content="\n\n".join(s.text for s in sections), sections=sections)


def test_the_breakpoint_closes_the_longest_stable_prefix_only() -> None:
    system = bundle(
        PromptSection(id="a", text="A"),
        PromptSection(id="now", text="noon", stable=False),
        PromptSection(id="b", text="B"),  # stable, but after a volatile one: not cacheable
    )
    blocks, _ = MessageConverter().convert([system, UserMessage(content="hi")])
    assert blocks == [
        {"type": "text", "text": "A", "cache_control": MARK},
        {"type": "text", "text": "noon"},
        {"type": "text", "text": "B"},
    ]


def test_no_system_breakpoint_when_the_first_section_is_volatile_and_empty_ones_are_left_out() -> (
    None
):
    system = bundle(
        PromptSection(id="empty", text=""),
        PromptSection(id="now", text="noon", stable=False),
        PromptSection(id="a", text="A"),
    )
    blocks, _ = MessageConverter().convert([system, UserMessage(content="hi")])
    assert blocks == [{"type": "text", "text": "noon"}, {"type": "text", "text": "A"}]


def test_the_last_two_user_turns_get_breakpoints_without_touching_the_cached_wire() -> None:
    converter = MessageConverter()
    first_turn = UserMessage(content="Review PR #7")
    history = [
        bundle(PromptSection(id="a", text="A")),
        first_turn,
        AssistantMessage(tool_calls=(ToolCall(id="t1", name="read", arguments="{}"),)),
        ToolMessage(tool_call_id="t1", name="read", content="diff"),
        AssistantMessage(content="Which branch?"),
        UserMessage(content="main"),
    ]

    _, messages = converter.convert(history)

    assert messages[0] == {"role": "user", "content": "Review PR #7"}  # third from last: none
    assert messages[2]["content"][-1] == {
        "type": "tool_result",
        "tool_use_id": "t1",
        "content": "diff",
        "cache_control": MARK,
    }
    assert messages[4] == {
        "role": "user",
        "content": [{"type": "text", "text": "main", "cache_control": MARK}],
    }
    # The assistant turns carry none.
    assert all("cache_control" not in b for b in messages[1]["content"] + messages[3]["content"])
    # A later call over the same history marks afresh: the shared wire shapes were not changed.
    _, again = converter.convert(history[:2])
    assert again == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Review PR #7", "cache_control": MARK}],
        }
    ]


def test_a_plain_system_message_gets_no_breakpoint_anywhere() -> None:
    system, messages = MessageConverter().convert(
        [SystemMessage(content="Be brief."), UserMessage(content="hi")]
    )
    assert system == "Be brief."
    assert messages == [{"role": "user", "content": "hi"}]
