"""Triage hands a conversation to a specialist, who asks the user something; the run resumes
with the specialist, not with triage.

Run: python examples/10_handoff.py
"""

from __future__ import annotations

from agentcycle import Agent, Runner, RunState, function_tool, handoff
from agentcycle.testing import ScriptedModel, call_tool


@function_tool
def refund(order_id: str) -> str:
    """Refund a paid order."""
    return f"Refunded order {order_id}."


def main() -> None:
    billing = Agent(
        name="Billing",
        instructions="You handle payments and refunds.",
        model=ScriptedModel(
            [
                call_tool("ask_user", {"question": "Which order should I refund?"}),
                call_tool("refund", {"order_id": "A-17"}),
                call_tool("task_finish", {"message": "Refunded order A-17."}),
            ]
        ),
        tools=[refund],
    )
    triage = Agent(
        name="Triage",
        instructions="Route each request to the right specialist.",
        model=ScriptedModel(
            [call_tool("transfer_to_billing", {"input": "The customer wants a refund."})]
        ),
        handoffs=[handoff(billing, "payments, invoices and refunds")],
    )
    first = Runner.run_sync(triage, "I was charged twice, please refund me.")
    print(f"{first.agent_name} asks: {first.final_output}")

    state = RunState.from_json(first.to_state().to_json())  # e.g. stored while the user answers
    result = Runner.resume_sync(triage, state, input="Order A-17.")
    print(f"{result.agent_name} finished: {result.final_output}")


if __name__ == "__main__":
    main()
