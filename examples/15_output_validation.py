"""Output validation and repair: a reviewer whose verdict must be typed and must cite the
order it judged.

- ``output_type=Verdict`` coerces the answer into a typed verdict (plain text is read as JSON);
- ``output_validator`` rejects a verdict that does not name the order;
- ``output_repair`` makes at most one tools-free model call to fix a rejected verdict.

Run: python examples/15_output_validation.py
"""

from __future__ import annotations

from pydantic import BaseModel

from agentcycle import Agent, OutputContext, OutputRepair, Reject, Runner
from agentcycle.testing import ScriptedModel, reply


class Verdict(BaseModel):
    order_id: str
    approved: bool
    reason: str


def names_the_order(ctx: OutputContext, verdict: Verdict) -> Reject | None:
    if verdict.order_id != "A-17":
        return Reject(
            f"The verdict is about order {verdict.order_id}, not A-17.", code="wrong_order"
        )
    return None


def main() -> None:
    model = ScriptedModel(
        [
            # The reviewer's answer names the wrong order ...
            reply('{"order_id": "A-71", "approved": true, "reason": "paid in full"}'),
            # ... and the repair call fixes it.
            reply('{"order_id": "A-17", "approved": true, "reason": "paid in full"}'),
        ]
    )
    agent = Agent(
        name="reviewer",
        model=model,
        output_type=Verdict,
        no_tool_policy="finish",
        output_validator=names_the_order,
        output_repair=OutputRepair(instructions="Fix the verdict. Answer with JSON only."),
    )
    result = Runner.run_sync(agent, "Review order A-17.")
    print("calls:", ", ".join(call.operation for call in result.model_calls))
    verdict = result.final_output
    print(f"repaired verdict: {verdict.order_id} approved={verdict.approved}")

    stubborn = ScriptedModel([reply('{"order_id": "A-71", "approved": true, "reason": "-"}')] * 2)
    agent.model = stubborn
    failed = Runner.run_sync(agent, "Review order A-17.")
    assert failed.error is not None
    print(f"still rejected: {failed.status.value} {failed.error['code']}: {failed.partial_output}")


if __name__ == "__main__":
    main()
