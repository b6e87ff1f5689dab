"""Skills: a directory with a ``SKILL.md`` the agent activates when a task calls for it.

The example writes two skills to a temporary directory, lists them in the system prompt, lets
the (scripted) model activate one, and shows that its ``allowed-tools`` is enforced: a tool
outside the list is refused with ``tool_not_allowed`` and no longer offered.

Run: python examples/07_skills.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from agentcycle import Agent, Runner, RunStatus, function_tool
from agentcycle.messages import ToolMessage
from agentcycle.testing import ScriptedModel, call_tool

RELEASE_NOTES = """\
---
name: release-notes
description: Write release notes for a version from the list of merged changes.
allowed-tools: [list_changes]
---
# Release notes
1. Call `list_changes` for the version.
2. Group the changes under Added, Fixed and Changed; one line each.
3. Finish with the notes as the final answer.
"""

INCIDENT_REPORT = """\
---
name: incident-report
description: Summarise a production incident with timeline, impact and follow-ups.
---
Write the timeline first, then impact, then follow-up actions with owners.
"""


@function_tool
def list_changes(version: str) -> list[str]:
    """The merged changes of a release."""
    return ["Added: skills", "Fixed: resume keeps the active skill"]


@function_tool
def deploy(version: str) -> str:
    """Deploy a version to production."""
    return f"deployed {version}"


def write_skills(root: Path) -> None:
    for text in (RELEASE_NOTES, INCIDENT_REPORT):
        name = text.split("name: ", 1)[1].split("\n", 1)[0]
        (root / name).mkdir()
        (root / name / "SKILL.md").write_text(text)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        skills_dir = Path(tmp)
        write_skills(skills_dir)
        model = ScriptedModel(
            [
                call_tool(
                    "activate_skill",
                    {"skill_name": "release-notes", "reason": "the user wants release notes"},
                ),
                call_tool("deploy", {"version": "2.0"}),  # outside the skill's allowed-tools
                call_tool("list_changes", {"version": "2.0"}),
                call_tool(
                    "task_finish",
                    {"message": "Added: skills\nFixed: resume keeps the active skill"},
                ),
            ]
        )
        agent = Agent(model=model, tools=[list_changes, deploy], skills_dirs=[skills_dir])
        result = Runner.run_sync(agent, "Write the release notes for 2.0")
        assert result.status is RunStatus.COMPLETED

    system = result.messages[0].content
    listed = [line for line in str(system).splitlines() if line.startswith("- ")]
    print("skills in the system prompt:", ", ".join(line.split(":")[0][2:] for line in listed))
    refused = next(m for m in result.messages if isinstance(m, ToolMessage) and m.name == "deploy")
    print("deploy while the skill is active:", json.loads(str(refused.content))["error_code"])
    print("tools offered after activation:", ", ".join(model.requests[-1].tools))
    tool_state = result.to_state().tool_state
    assert tool_state is not None
    print("active skills:", ", ".join(s.name for s in tool_state.active_skills))
    print("release notes:", result.final_output.replace("\n", "; "))


if __name__ == "__main__":
    main()
