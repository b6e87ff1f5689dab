"""``agent_in_control``: which agent a continued conversation starts with."""

from __future__ import annotations

from agentcycle import Agent, RunConfig, Runner, agent_in_control
from agentcycle.messages import ToolMessage, UserMessage
from agentcycle.sessions import MemorySession
from agentcycle.testing import ScriptedModel, call_tool


def team() -> tuple[Agent, Agent, Agent]:
    billing = Agent(name="Billing Desk", model=ScriptedModel([]))
    support = Agent(name="Support", model=ScriptedModel([]))
    triage = Agent(name="Triage", model=ScriptedModel([]), handoffs=[billing, support])
    billing.handoffs = (triage,)
    return triage, billing, support


def transfer(slug: str, *, error: bool = False) -> ToolMessage:
    return ToolMessage(tool_call_id="c", name=f"transfer_to_{slug}", content="ok", is_error=error)


def test_the_last_successful_transfer_names_the_agent() -> None:
    triage, billing, support = team()
    assert agent_in_control(triage, []) is triage
    assert agent_in_control(triage, [UserMessage(content="hi")]) is triage
    assert agent_in_control(triage, [transfer("billing_desk")]) is billing
    assert agent_in_control(triage, [transfer("billing_desk"), transfer("triage")]) is triage
    # A refused transfer (over max_handoffs) left control where it was.
    assert agent_in_control(
        triage, [transfer("support"), transfer("billing_desk", error=True)]
    ) is (support)
    # A target no longer in the graph: start over with the root.
    assert agent_in_control(triage, [transfer("legal")]) is triage


async def test_a_session_run_continues_with_the_agent_that_ended_the_last_run() -> None:
    session = MemorySession("s1")
    billing = Agent(
        name="Billing", model=ScriptedModel([call_tool("ask_user", {"question": "Order?"})])
    )
    triage = Agent(
        name="Triage",
        model=ScriptedModel([call_tool("transfer_to_billing", {"input": "refund"})]),
        handoffs=[billing],
    )
    first = await Runner.run(triage, "refund please", config=RunConfig(session=session))
    assert first.agent_name == "Billing"
    nxt = agent_in_control(triage, await session.get_items())
    assert nxt is billing
