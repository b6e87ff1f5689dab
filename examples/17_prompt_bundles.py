"""A system prompt from named sections: stable ones first (cached by providers that can),
volatile ones after; the run keeps its bundle when it pauses and resumes.

Run: python examples/17_prompt_bundles.py
"""

from __future__ import annotations

from agentcycle import Agent, InstructionsContext, Runner, RunState
from agentcycle.messages import SystemMessage
from agentcycle.prompts import PromptBundle, PromptSection, current_time_section
from agentcycle.testing import ScriptedModel, call_tool

REVIEWER = PromptSection(id="agent", text="You review pull requests for the payments team.")
HOUSE_STYLE = PromptSection(id="style", text="Answer in short bullet points.")


def instructions(ctx: InstructionsContext) -> PromptBundle:
    """Built once when the run starts (not on resume): the time is read here."""
    return PromptBundle.of(REVIEWER, current_time_section(), HOUSE_STYLE)


def first_system_message(model: ScriptedModel) -> SystemMessage:
    system = model.requests[0].messages[0]
    assert isinstance(system, SystemMessage)
    return system


def main() -> None:
    first = ScriptedModel([call_tool("ask_user", {"question": "Which branch?"})])
    agent = Agent(instructions=instructions, model=first)
    waiting = Runner.run_sync(agent, "Review PR #7")

    system = first_system_message(first)
    for section in system.sections:
        kind = "stable  " if section.stable else "volatile"
        print(f"{kind} {section.id:<13} {section.text.splitlines()[0][:50]}")
    bundle = PromptBundle.from_message(system)
    print("stable hash:", bundle.stable_hash[:16])

    # Stored while the user answers, then resumed: the frozen bundle comes back as it was.
    state = RunState.from_json(waiting.to_state().to_json())
    second = ScriptedModel([call_tool("task_finish", {"message": "Approved."})])
    result = Runner.resume_sync(Agent(instructions=instructions, model=second), state, input="main")
    resumed = PromptBundle.from_message(first_system_message(second))
    same = resumed.stable_hash == bundle.stable_hash and resumed == bundle
    print(f"resumed with the same bundle: {same} -> {result.final_output}")


if __name__ == "__main__":
    main()
