"""Which built-in tools a run is offered, and in which order (TOOLS.md; stable for caching)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig, Runner, ToolPolicy, function_tool
from agentcycle.errors import ToolDefinitionError
from agentcycle.testing import ScriptedModel, call_tool

FINISH = [call_tool("task_finish", {"message": "done"})]


@function_tool
def lookup(key: str) -> str:
    """Look a value up."""
    return key


def offered(agent: Agent, config: RunConfig) -> list[str]:
    Runner.run_sync(agent, "x", config=config)
    model = agent.model
    assert isinstance(model, ScriptedModel)
    return list(model.requests[0].tools)


def test_a_run_with_a_workspace_gets_the_file_tools_in_order(tmp_path: Path) -> None:
    agent = Agent(model=ScriptedModel(FINISH), tools=[lookup], shell_tools=True)
    assert offered(agent, RunConfig(workspace=tmp_path)) == [
        "task_finish",
        "ask_user",
        "find_files",
        "file_info",
        "read_file",
        "write_file",
        "edit_file",
        "search_files",
        "todo_write",
        "bash",
        "check_background_command",
        "lookup",
    ]


def test_read_image_only_for_a_multimodal_model(tmp_path: Path) -> None:
    model = ScriptedModel(FINISH, native_multimodal=True)
    names = offered(Agent(model=model, tools=[lookup]), RunConfig(workspace=tmp_path))
    assert names[-2:] == ["read_image", "lookup"]


def test_without_a_workspace_no_file_tools() -> None:
    names = offered(Agent(model=ScriptedModel(FINISH, native_multimodal=True)), RunConfig())
    assert names == ["task_finish", "ask_user", "todo_write"]


def test_policy_removes_file_tools_from_the_offer(tmp_path: Path) -> None:
    policy = ToolPolicy.of(disallowed_tools=["write_file", "edit_file"])
    names = offered(
        Agent(model=ScriptedModel(FINISH)), RunConfig(workspace=tmp_path, policy=policy)
    )
    assert "read_file" in names and "write_file" not in names and "edit_file" not in names


def test_an_agent_tool_may_not_shadow_a_built_in(tmp_path: Path) -> None:
    @function_tool
    def read_file(path: str) -> str:
        """A second read_file."""
        return path

    agent = Agent(model=ScriptedModel(FINISH), tools=[read_file])
    with pytest.raises(ToolDefinitionError, match="read_file"):
        Runner.run_sync(agent, "x", config=RunConfig(workspace=tmp_path))
