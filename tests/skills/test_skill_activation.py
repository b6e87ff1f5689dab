"""``activate_skill`` in scripted runs: instructions enter the conversation, the activation is
recorded and survives resume, and a skill's ``allowed-tools`` is enforced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner, RunState, RunStatus, ToolPolicy, function_tool
from agentcycle.errors import ConfigurationError
from agentcycle.events import Diagnostic, RunEvent, ToolCallCompleted, parse_event
from agentcycle.messages import ToolMessage, UserMessage
from agentcycle.result import RunResult
from agentcycle.state import ActiveSkill
from agentcycle.testing import ScriptedModel, call_tool

from .skill_files import write_skill

ALWAYS = {"task_finish", "ask_user", "todo_write", "activate_skill"}


class Ops:
    """Two tools with a visible side effect: ``lookup`` (read) and ``deploy`` (change)."""

    def __init__(self) -> None:
        self.deployed: list[str] = []
        self.looked_up: list[str] = []

        @function_tool
        def lookup(key: str) -> str:
            """Read one value."""
            self.looked_up.append(key)
            return f"value of {key}"

        @function_tool
        def deploy(target: str) -> str:
            """Deploy to a target."""
            self.deployed.append(target)
            return f"deployed {target}"

        self.tools = [lookup, deploy]


@pytest.fixture
def skills_dir(tmp_path: Path) -> Path:
    write_skill(
        tmp_path,
        "read-only",
        "Inspect values without changing anything.",
        body="# Read only\nOnly call `lookup`.",
        allowed_tools=["lookup"],
    )
    write_skill(tmp_path, "deployer", "Ship releases.", allowed_tools="deploy")
    write_skill(tmp_path, "style-guide", "House writing style.", body="Write short sentences.")
    return tmp_path


def tool_results(result: RunResult, name: str) -> list[Any]:
    """The results the model saw for ``name``: parsed JSON, or the text of plain results."""
    texts = [
        str(m.content) for m in result.messages if isinstance(m, ToolMessage) and m.name == name
    ]
    return [json.loads(t) if t.startswith("{") else t for t in texts]


async def run(
    agent: Agent, prompt: str = "go", config: RunConfig | None = None
) -> tuple[RunResult, list[RunEvent]]:
    handle = await Runner.start(agent, prompt, config=config)
    result = await handle.result()
    return result, [event async for event in handle.events()]


async def test_activation_adds_the_instructions_and_records_the_skill(skills_dir: Path) -> None:
    model = ScriptedModel(
        [
            call_tool("activate_skill", {"skill_name": "read-only", "reason": "inspect only"}),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    result, events = await run(Agent(model=model, skills_dirs=[skills_dir]))

    assert result.status is RunStatus.COMPLETED
    seen = model.requests[1].messages
    tool_message, instructions = seen[-2], seen[-1]
    assert isinstance(tool_message, ToolMessage) and tool_message.name == "activate_skill"
    confirmation = json.loads(str(tool_message.content))
    assert confirmation["ok"] is True and confirmation["skill"] == "read-only"
    assert set(confirmation["allowed_tools"]) == ALWAYS | {"lookup"}
    assert isinstance(instructions, UserMessage) and instructions.synthetic
    assert instructions.content == (
        "Skill `read-only` is now active. Follow its instructions:\n\n# Read only\nOnly call "
        "`lookup`."
    )
    [activated] = [e for e in events if isinstance(e, Diagnostic) and e.code == "skill_activated"]
    assert activated.level == "info" and activated.cycle_index == 1
    assert activated.details == {
        "skill": "read-only",
        "allowed_tools": ["lookup"],
        "reason": "inspect only",
        "tool_call_id": tool_message.tool_call_id,
    }
    state = result.to_state().tool_state
    assert state is not None
    assert state.active_skills == [
        ActiveSkill(
            name="read-only", allowed_tools=("lookup",), cycle_index=1, reason="inspect only"
        )
    ]


async def test_an_unlisted_name_is_rejected_with_the_available_names(skills_dir: Path) -> None:
    model = ScriptedModel(
        [
            call_tool("activate_skill", {"skill_name": "hack-the-planet"}),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    result, events = await run(Agent(model=model, skills_dirs=[skills_dir]))

    [rejected] = tool_results(result, "activate_skill")
    assert rejected["ok"] is False and rejected["error_code"] == "skill_not_found"
    assert rejected["details"]["available_skills"] == ["deployer", "read-only", "style-guide"]
    assert not any(isinstance(m, UserMessage) and m.synthetic for m in result.messages)
    assert not any(isinstance(e, Diagnostic) and e.code == "skill_activated" for e in events)
    state = result.to_state().tool_state
    assert state is not None and state.active_skills == []


async def test_activating_twice_records_one_activation(skills_dir: Path) -> None:
    model = ScriptedModel(
        [
            call_tool("activate_skill", {"skill_name": "style-guide"}),
            call_tool("activate_skill", {"skill_name": "style-guide"}),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    result, _ = await run(Agent(model=model, skills_dirs=[skills_dir]))
    first, second = tool_results(result, "activate_skill")
    assert (first["already_active"], second["already_active"]) == (False, True)
    assert first["allowed_tools"] is None  # the skill does not restrict tools
    state = result.to_state().tool_state
    assert state is not None and [s.name for s in state.active_skills] == ["style-guide"]


async def test_allowed_tools_is_enforced_once_the_skill_is_active(skills_dir: Path) -> None:
    ops = Ops()
    model = ScriptedModel(
        [
            call_tool("deploy", {"target": "staging"}),  # before: allowed
            call_tool("activate_skill", {"skill_name": "read-only"}),
            call_tool("deploy", {"target": "production"}),  # after: refused
            call_tool("lookup", {"key": "version"}),
            call_tool("todo_write", {"todos": []}),  # always allowed
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    result, events = await run(Agent(model=model, tools=ops.tools, skills_dirs=[skills_dir]))

    assert result.status is RunStatus.COMPLETED
    assert ops.deployed == ["staging"] and ops.looked_up == ["version"]
    worked, refused = tool_results(result, "deploy")
    assert worked == "deployed staging"
    assert refused["error_code"] == "tool_not_allowed"
    assert "allowed-tools of the active skill(s) read-only" in refused["error"]
    completed = [e for e in events if isinstance(e, ToolCallCompleted) and e.tool_name == "deploy"]
    assert [(e.error_code, e.execution_started) for e in completed] == [
        (None, True),
        ("tool_not_allowed", False),
    ]
    # No longer offered after activation; offered again never (the skill stays active).
    assert "deploy" in model.requests[0].tools and "deploy" in model.requests[1].tools
    assert set(model.requests[2].tools) == ALWAYS | {"lookup"}
    assert set(model.requests[-1].tools) == ALWAYS | {"lookup"}


async def test_a_call_after_the_activation_in_the_same_batch_is_refused(
    skills_dir: Path,
) -> None:
    ops = Ops()
    model = ScriptedModel(
        [
            call_tool(
                [
                    ("activate_skill", {"skill_name": "read-only"}),
                    ("deploy", {"target": "production"}),
                ]
            ),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    result, _ = await run(Agent(model=model, tools=ops.tools, skills_dirs=[skills_dir]))
    assert ops.deployed == []
    [refused] = tool_results(result, "deploy")
    assert refused["error_code"] == "tool_not_allowed"


async def test_two_restricted_skills_allow_the_union_and_an_unrestricted_one_lifts_nothing(
    skills_dir: Path,
) -> None:
    ops = Ops()
    model = ScriptedModel(
        [
            call_tool("activate_skill", {"skill_name": "read-only"}),
            call_tool("activate_skill", {"skill_name": "style-guide"}),
            call_tool("deploy", {"target": "a"}),  # still refused: style-guide widens nothing
            call_tool("activate_skill", {"skill_name": "deployer"}),
            call_tool([("deploy", {"target": "b"}), ("lookup", {"key": "k"})]),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    result, _ = await run(Agent(model=model, tools=ops.tools, skills_dirs=[skills_dir]))
    assert ops.deployed == ["b"] and ops.looked_up == ["k"]
    assert tool_results(result, "deploy")[0]["error_code"] == "tool_not_allowed"
    assert set(model.requests[2].tools) == ALWAYS | {"lookup"}
    assert set(model.requests[4].tools) == ALWAYS | {"lookup", "deploy"}
    refusal = tool_results(result, "deploy")[0]["error"]
    assert "read-only" in refusal and "style-guide" not in refusal


async def test_the_runs_own_policy_still_applies_inside_a_skill(tmp_path: Path) -> None:
    ops = Ops()
    write_skill(tmp_path, "everything", "Allows a lot.", allowed_tools=["deploy", "lookup"])
    model = ScriptedModel(
        [
            call_tool("activate_skill", {"skill_name": "everything"}),
            call_tool("deploy", {"target": "x"}),
            call_tool("todo_write", {"todos": []}),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    config = RunConfig(policy=ToolPolicy.of(disallowed_tools=["deploy", "todo_write"]))
    result, _ = await run(
        Agent(model=model, tools=ops.tools, skills_dirs=[tmp_path]), config=config
    )
    assert ops.deployed == []
    assert tool_results(result, "deploy")[0]["error_code"] == "tool_not_allowed"
    assert tool_results(result, "todo_write")[0]["error_code"] == "tool_not_allowed"
    assert set(model.requests[-1].tools) == {"task_finish", "ask_user", "activate_skill", "lookup"}


async def test_resume_keeps_the_active_skill_and_its_restriction(skills_dir: Path) -> None:
    ops = Ops()
    first = ScriptedModel(
        [
            call_tool("activate_skill", {"skill_name": "read-only"}),
            call_tool("ask_user", {"question": "Which key?"}),
        ]
    )
    waiting = await Runner.run(Agent(model=first, tools=ops.tools, skills_dirs=[skills_dir]), "go")
    assert waiting.status is RunStatus.WAIT_USER
    state = RunState.from_json(waiting.to_state().to_json())  # as if stored and reloaded

    second = ScriptedModel(
        [
            call_tool("deploy", {"target": "production"}),
            call_tool("lookup", {"key": "version"}),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    result = await Runner.resume(
        Agent(model=second, tools=ops.tools, skills_dirs=[skills_dir]), state, input="version"
    )

    assert result.status is RunStatus.COMPLETED
    assert ops.deployed == [] and ops.looked_up == ["version"]
    assert tool_results(result, "deploy")[0]["error_code"] == "tool_not_allowed"
    assert set(second.requests[0].tools) == ALWAYS | {"lookup"}
    resumed_state = result.to_state().tool_state
    assert resumed_state is not None
    assert [s.name for s in resumed_state.active_skills] == ["read-only"]


async def test_resume_enforces_the_allowed_tools_recorded_at_activation(tmp_path: Path) -> None:
    ops = Ops()
    write_skill(tmp_path, "narrow", "Narrow.", allowed_tools=["lookup"])
    first = ScriptedModel(
        [
            call_tool("activate_skill", {"skill_name": "narrow"}),
            call_tool("ask_user", {"question": "?"}),
        ]
    )
    agent = Agent(model=first, tools=ops.tools, skills_dirs=[tmp_path])
    waiting = await Runner.run(agent, "go")
    # The skill is edited between the two segments: the run keeps what the model was told.
    write_skill(tmp_path, "narrow", "Narrow.", allowed_tools=["lookup", "deploy"])
    second = ScriptedModel([call_tool("task_finish", {"message": "done"})])
    await Runner.resume(
        Agent(model=second, tools=ops.tools, skills_dirs=[tmp_path]),
        waiting.to_state(),
        input="ok",
    )
    assert "deploy" not in second.requests[0].tools


async def test_resume_needs_the_skills_the_run_had(skills_dir: Path) -> None:
    first = ScriptedModel([call_tool("ask_user", {"question": "?"})])
    waiting = await Runner.run(Agent(model=first, skills_dirs=[skills_dir]), "go")
    with pytest.raises(ConfigurationError, match="activate_skill"):
        await Runner.resume(Agent(model=ScriptedModel([])), waiting.to_state(), input="x")


async def test_invalid_skills_are_diagnostics_and_the_run_goes_on(tmp_path: Path) -> None:
    write_skill(tmp_path, "good", "A good skill.")
    write_skill(tmp_path, "Bad", "A bad name.", directory="Bad")
    model = ScriptedModel(
        [
            call_tool("activate_skill", {"skill_name": "good"}),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    result, events = await run(Agent(model=model, skills_dirs=[tmp_path]))

    assert result.status is RunStatus.COMPLETED
    assert [e.type for e in events[:4]] == [
        "run_started",
        "agent_started",
        "diagnostic",
        "cycle_started",
    ]
    invalid = events[2]
    assert isinstance(invalid, Diagnostic) and invalid.level == "warning"
    assert all(parse_event(json.loads(json.dumps(e.to_dict()))) == e for e in events)
    assert invalid.code == "skill_invalid"
    assert invalid.details["error_code"] == "invalid_skill_name"
    assert invalid.details["path"] == str(tmp_path / "Bad")
    assert "Bad" not in str(result.messages[0].content).split("## Skills")[1]


async def test_a_missing_skills_directory_fails_before_the_run_starts(tmp_path: Path) -> None:
    model = ScriptedModel([])
    with pytest.raises(ConfigurationError, match="not a directory"):
        await Runner.run(Agent(model=model, skills_dirs=[tmp_path / "nope"]), "go")
    assert model.calls == 0
