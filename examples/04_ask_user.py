"""A run that pauses for the user: ``ask_user`` ends it in ``wait_user`` with the question.

Run: python examples/04_ask_user.py
"""

from __future__ import annotations

from agentcycle import Agent, Runner, RunStatus
from agentcycle.testing import ScriptedModel, call_tool


def main() -> None:
    model = ScriptedModel(
        [
            call_tool(
                "ask_user",
                {"question": "Deploy to which environment?", "options": ["staging", "production"]},
            )
        ]
    )
    result = Runner.run_sync(Agent(model=model), "Deploy the app")
    assert result.status is RunStatus.WAIT_USER
    print("waiting for the user:", result.final_output)
    print("options:", ", ".join(result.wait["options"] if result.wait else []))
    print("state to resume later:", len(result.to_state().to_json()), "bytes of JSON")


if __name__ == "__main__":
    main()
