"""Token estimates, incremental accounting and the context budget."""

from __future__ import annotations

import pytest

from agentcycle.errors import ConfigurationError
from agentcycle.memory.accounting import HistoryTokens
from agentcycle.memory.policy import MemoryPolicy, context_budget
from agentcycle.memory.tokens import (
    IMAGE_TOKENS,
    IMAGE_TOKENS_LOW,
    MESSAGE_OVERHEAD,
    TokenEstimator,
)
from agentcycle.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
)
from agentcycle.models.base import ModelInfo, ModelSettings, ToolSpec

CODE = "def add(a: int, b: int) -> int:\n    return a + b\n"
CJK = "这是一个测试句子，用于检查中文分词的效果。"


class CountingEstimator(TokenEstimator):
    """Records which messages it counted."""

    def __init__(self) -> None:
        super().__init__("chars")
        self.seen: list[Message] = []

    def message(self, message: Message) -> int:
        self.seen.append(message)
        return super().message(message)


def test_bpe_counts_english_code_and_cjk_offline() -> None:
    estimator = TokenEstimator()
    assert estimator.text("hello world") == 2
    assert 10 <= estimator.text(CODE) <= 25
    assert len(CJK) * 0.6 <= estimator.text(CJK) <= len(CJK) * 1.6
    assert estimator.text("") == 0
    o200k = TokenEstimator("o200k_base")
    assert o200k.text("hello world") == 2


def test_character_estimate_counts_cjk_per_character_and_ascii_per_four() -> None:
    chars = TokenEstimator("chars")
    assert chars.text("a" * 400) == 100
    assert chars.text(CJK) == len(CJK)
    bpe = TokenEstimator().text(CODE)
    assert abs(chars.text(CODE) - bpe) <= bpe  # the same order of magnitude as the tokenizer


def test_messages_count_framing_tool_calls_reasoning_and_images_by_rule() -> None:
    estimator = TokenEstimator()
    text = UserMessage(content="hello world")
    assert estimator.message(text) == MESSAGE_OVERHEAD + 2
    image = UserMessage(
        content=[
            TextPart(text="hello world"),
            ImagePart(data="A" * 100_000, media_type="image/png"),
        ]
    )
    assert estimator.message(image) == MESSAGE_OVERHEAD + 2 + IMAGE_TOKENS
    low = UserMessage(content=[ImagePart(url="https://example.com/a.png", detail="low")])
    assert estimator.message(low) == MESSAGE_OVERHEAD + IMAGE_TOKENS_LOW
    call = AssistantMessage(
        content="", reasoning="hello world", tool_calls=(ToolCall(id="c1", name="add"),)
    )
    assert estimator.message(call) > MESSAGE_OVERHEAD + 2
    spec = ToolSpec("add", "Add two numbers.", {"type": "object", "properties": {}})
    assert estimator.tools([spec]) > estimator.tools([])


def test_each_message_is_counted_once_however_often_the_estimate_is_asked() -> None:
    estimator = CountingEstimator()
    history: list[Message] = [UserMessage(content="a" * 40)]
    tokens = HistoryTokens(estimator, history, fixed_tokens=7)
    assert tokens.estimate() == MESSAGE_OVERHEAD + 10 + 7
    for n in range(50):
        history.append(ToolMessage(tool_call_id=f"c{n}", name="t", content="b" * 40))
        tokens.estimate()
        tokens.estimate()
    assert len(estimator.seen) == 51
    assert [id(m) for m in estimator.seen] == [id(m) for m in history]


def test_estimate_is_the_reported_prompt_plus_what_was_added_since() -> None:
    history: list[Message] = [UserMessage(content="a" * 40)]
    tokens = HistoryTokens(TokenEstimator("chars"), history, fixed_tokens=100)
    tokens.observe(None)  # unknown usage changes nothing
    assert tokens.estimate() == MESSAGE_OVERHEAD + 10 + 100
    tokens.observe(500)
    assert tokens.estimate() == 500
    history.append(UserMessage(content="c" * 80))
    assert tokens.estimate() == 500 + MESSAGE_OVERHEAD + 20
    assert tokens.local_total() == 2 * MESSAGE_OVERHEAD + 30 + 100


def test_rebuilding_reuses_known_counts_and_forgets_the_report() -> None:
    estimator = CountingEstimator()
    first, second = UserMessage(content="a" * 40), UserMessage(content="b" * 40)
    history: list[Message] = [first, second]
    tokens = HistoryTokens(estimator, history)
    tokens.observe(999)
    known = tokens.known()
    replacement = UserMessage(content="c" * 4)
    history[:] = [first, replacement]
    tokens.rebuilt(known)
    assert estimator.seen == [first, second, replacement]
    assert tokens.estimate() == 2 * MESSAGE_OVERHEAD + 10 + 1


def test_budget_is_window_minus_reserved_output_minus_safety() -> None:
    policy = MemoryPolicy()
    budget = context_budget(policy, ModelInfo(context_length=100_000), ModelSettings())
    assert budget is not None
    assert budget.reserved_output == 8_192
    assert budget.safety_buffer == 5_000
    assert budget.input_limit == 100_000 - 8_192 - 5_000
    assert budget.threshold == int(budget.input_limit * 0.8)
    assert budget.target == int(budget.input_limit * 0.6)


def test_reserved_output_follows_max_tokens_else_capped_default() -> None:
    info = ModelInfo(context_length=32_000, max_output_tokens=4_000)
    capped = context_budget(MemoryPolicy(), info, ModelSettings())
    explicit = context_budget(MemoryPolicy(), info, ModelSettings(max_tokens=10_000))
    huge = context_budget(MemoryPolicy(), info, ModelSettings(max_tokens=100_000))
    assert capped is not None and capped.reserved_output == 4_000
    assert explicit is not None and explicit.reserved_output == 10_000
    assert huge is not None and huge.reserved_output == 16_000  # at most half the window


def test_unknown_window_means_no_budget_unless_the_policy_sets_one() -> None:
    assert context_budget(MemoryPolicy(), ModelInfo(), ModelSettings()) is None
    policy = MemoryPolicy(context_length=50_000, output_reserve=1_000, safety_ratio=0.0)
    budget = context_budget(policy, ModelInfo(), ModelSettings())
    assert budget is not None and budget.input_limit == 49_000


@pytest.mark.parametrize(
    "fields",
    [
        {"compact_at": 0.5, "compact_to": 0.6},
        {"compact_at": 1.5},
        {"safety_ratio": 0.7},
        {"keep_recent_cycles": 0},
        {"max_recovery_attempts": 0},
    ],
)
def test_inconsistent_policies_are_configuration_errors(fields: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        MemoryPolicy(**fields)  # type: ignore[arg-type]
