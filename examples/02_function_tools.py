"""Function tools and a typed final output.

The model calls ``lookup_order`` (its JSON schema comes from the type hints and docstring),
then finishes with a structured ``output`` that is validated into ``OrderReport``.

Run: python examples/02_function_tools.py
"""

from __future__ import annotations

from pydantic import BaseModel

from agentcycle import Agent, Runner, function_tool
from agentcycle.testing import ScriptedModel, call_tool

ORDERS = {"123": "shipped", "456": "processing"}


@function_tool(read_only=True)
def lookup_order(order_id: str) -> dict[str, str]:
    """Read one order's status.

    Args:
        order_id: The order number, digits only.
    """
    return {"order_id": order_id, "status": ORDERS.get(order_id, "unknown")}


class OrderReport(BaseModel):
    order_id: str
    status: str
    needs_follow_up: bool


def main() -> None:
    model = ScriptedModel(
        [
            call_tool("lookup_order", {"order_id": "456"}, text="Let me check that order."),
            call_tool(
                "task_finish",
                {
                    "message": "Order 456 is still processing.",
                    "output": {"order_id": "456", "status": "processing", "needs_follow_up": True},
                },
            ),
        ]
    )
    agent = Agent(
        name="support",
        instructions="Answer questions about orders.",
        model=model,
        tools=[lookup_order],
        output_type=OrderReport,
    )
    result = Runner.run_sync(agent, "Where is order 456?")
    report = result.final_output
    assert isinstance(report, OrderReport)
    print(f"order {report.order_id}: {report.status} (follow up: {report.needs_follow_up})")
    print("tool result the model saw:", result.messages[3].content)


if __name__ == "__main__":
    main()
