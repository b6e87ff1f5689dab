"""The smallest run: a scripted model that finishes at once.

Run: python examples/01_hello.py
"""

from __future__ import annotations

from agentcycle import Agent, Runner
from agentcycle.testing import ScriptedModel, call_tool


def main() -> None:
    model = ScriptedModel([call_tool("task_finish", {"message": "Hello from agentcycle!"})])
    result = Runner.run_sync(Agent(name="greeter", model=model), "Say hello")
    print(result.status.value, "-", result.final_output)


if __name__ == "__main__":
    main()
