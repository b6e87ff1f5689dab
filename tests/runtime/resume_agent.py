"""An agent whose side effect is countable, used by the resume tests in two processes."""

from __future__ import annotations

import sys
from pathlib import Path

from agentcycle import Agent, Runner, RunState, SideEffect, function_tool
from agentcycle.testing import ScriptedModel, call_tool

LEDGER = Path("ledger.txt")


@function_tool(side_effect=SideEffect.EXECUTE)
def deploy(target: str) -> str:
    """Deploy to a target (appends one line to the ledger per execution)."""
    with LEDGER.open("a") as ledger:
        ledger.write(f"deployed {target}\n")
    return f"deployed {target}"


def agent(steps: list) -> Agent:
    return Agent(name="deployer", model=ScriptedModel(steps), tools=[deploy])


def main() -> None:
    """``python resume_agent.py STATE_FILE ACTION``: resume a waiting run with one decision."""
    state = RunState.from_json(Path(sys.argv[1]).read_text())
    pending = state.pending_tool_calls[0]
    result = Runner.resume_sync(
        agent([call_tool("task_finish", {"message": "resumed and done"})]),
        state,
        approvals={pending.request_id or pending.tool_call_id: sys.argv[2]},
    )
    print(result.status.value, result.final_output)
    Path(sys.argv[1]).write_text(result.to_state().to_json())


if __name__ == "__main__":
    main()
