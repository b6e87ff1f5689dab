"""Immutable models share their fields-set (memory per concurrent run) without that sharing
ever being visible."""

from __future__ import annotations

import copy
import pickle

from agentcycle.messages import TokenUsage, ToolMessage
from agentcycle.pricing import ModelPrice, priced


def test_instances_with_the_same_fields_share_one_set() -> None:
    a = ToolMessage(tool_call_id="1", name="x", content="a")
    b = ToolMessage(tool_call_id="2", name="y", content="b")
    assert a.model_fields_set is b.model_fields_set
    assert a.model_fields_set == {"tool_call_id", "name", "content"}
    c = ToolMessage(tool_call_id="3", name="z", content="c", is_error=True)
    assert c.model_fields_set == {"tool_call_id", "name", "content", "is_error"}
    assert a.model_fields_set == {"tool_call_id", "name", "content"}


def test_copies_with_updates_never_change_the_shared_set() -> None:
    plain = TokenUsage.of(10, 5)
    other = TokenUsage.of(20, 5)
    with_cost = priced(plain, ModelPrice(input_per_million=1, output_per_million=1))
    assert with_cost.cost_usd is not None and "cost_usd" in with_cost.model_fields_set
    assert "cost_usd" not in plain.model_fields_set
    assert "cost_usd" not in other.model_fields_set
    assert "cost_usd" not in TokenUsage.of(1, 1).model_fields_set
    for clone in (copy.deepcopy(plain), pickle.loads(pickle.dumps(plain))):
        assert clone == plain and clone.model_fields_set == plain.model_fields_set
    # Serialisation honours the fields actually set.
    assert plain.model_dump(exclude_unset=True) == {
        "input_tokens": 10,
        "output_tokens": 5,
        "total_tokens": 15,
    }
