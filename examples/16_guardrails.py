"""Guardrails as typed options: an input guardrail that blocks a request before any model is
resolved, and an output guardrail that withholds an answer.

Run: python examples/16_guardrails.py
"""

from __future__ import annotations

import re
from typing import Any

from agentcycle import Agent, Guardrail, GuardrailContext, Runner, Tripwire
from agentcycle.testing import ScriptedModel, reply

CARD = re.compile(r"\b(?:\d{4} ){3}\d{4}\b")


def no_card_numbers(ctx: GuardrailContext, value: Any) -> Tripwire | None:
    """Used on both sides: card numbers neither go to the model nor come back from it."""
    if CARD.search(str(value)):
        return Tripwire(f"A card number in the {ctx.stage}.", code="card_number")
    return None


async def on_topic(ctx: GuardrailContext, value: Any) -> Tripwire | None:
    """An async check (a real one might call a classifier)."""
    if "weather" in str(value).lower():
        return Tripwire("This agent answers billing questions only.", code="off_topic")
    return None


def main() -> None:
    # The model is only a name: with no settings file it could not be resolved, and it
    # does not need to be, since the input guardrail blocks the run first.
    agent = Agent(
        name="billing",
        model="billing-model",
        input_guardrails=[Guardrail(on_topic, name="topic"), no_card_numbers],
    )
    blocked = Runner.run_sync(agent, "What's the weather tomorrow?")
    assert blocked.error is not None
    print(f"input blocked: {blocked.completion_reason.value} {blocked.error['code']}")

    model = ScriptedModel([reply("Your card 4111 1111 1111 1111 was charged.")])
    answering = Agent(
        name="billing", model=model, no_tool_policy="finish", output_guardrails=[no_card_numbers]
    )
    events = [e.type for e in Runner.stream_sync(answering, "Was I charged?")]
    print("events:", " -> ".join(events[events.index("assistant_message") :]))


if __name__ == "__main__":
    main()
