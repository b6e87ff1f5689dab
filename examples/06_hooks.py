"""Runtime hooks and a context provider around a support agent.

- ``Guardrails`` (a ``RuntimeHook``) vetoes refunds over a limit before they run, masks card
  numbers in tool output before the model sees it, and logs every cycle.
- ``CustomerProfile`` (a context provider) adds the customer's profile to the system prompt,
  within a character budget.

Run: python examples/06_hooks.py
"""

from __future__ import annotations

import re

from agentcycle import (
    Agent,
    InstructionsContext,
    PromptFragment,
    RunConfig,
    Runner,
    ToolResult,
    function_tool,
)
from agentcycle.hooks import CycleEnd, HookContext, RuntimeHook, ToolCallInfo, Veto
from agentcycle.testing import ScriptedModel, call_tool

REFUND_LIMIT = 100


@function_tool
def refund(order_id: str, amount: int) -> str:
    """Refund part of an order."""
    return f"Refunded {amount} to order {order_id} on card 4111 1111 1111 1234."


class Guardrails(RuntimeHook):
    async def before_tool_call(self, ctx: HookContext, call: ToolCallInfo) -> Veto | None:
        if call.tool_name == "refund" and call.arguments["amount"] > REFUND_LIMIT:
            return Veto(f"refunds over {REFUND_LIMIT} need a human")
        return None

    async def after_tool_call(
        self, ctx: HookContext, call: ToolCallInfo, result: ToolResult
    ) -> ToolResult:
        masked = re.sub(r"\b(?:\d{4} ){3}(\d{4})\b", r"**** \1", result.content)
        return result.model_copy(update={"content": masked})

    async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> None:
        for message in cycle.messages:
            if message.role == "tool":
                print(f"cycle {cycle.cycle_index}: {message.name} -> {message.content}")


class CustomerProfile:
    name = "profile"

    async def fragments(self, ctx: InstructionsContext) -> list[PromptFragment]:
        customer = ctx.context["customer"]
        return [
            PromptFragment(f"Customer: {customer}. Tier: gold.", priority=10),
            PromptFragment("Past tickets: " + "; ".join(["late delivery"] * 50), priority=1),
        ]


def main() -> None:
    model = ScriptedModel(
        [
            call_tool("refund", {"order_id": "123", "amount": 900}),
            call_tool("refund", {"order_id": "123", "amount": 50}),
            call_tool("task_finish", {"message": "Refunded 50 to order 123."}),
        ]
    )
    agent = Agent(
        model=model,
        instructions="You handle refunds.",
        tools=[refund],
        hooks=[Guardrails()],
        context_providers=[CustomerProfile()],
        context_budget_chars=200,  # the long ticket history does not fit and is left out
    )
    result = Runner.run_sync(
        agent, "Refund order 123", config=RunConfig(context={"customer": "Ada"})
    )
    print("system prompt ends with:", model.requests[0].messages[0].content.splitlines()[-1])
    print(result.status.value, "-", result.final_output)


if __name__ == "__main__":
    main()
