"""Oversized tool output becomes a preview plus an immutable artifact the model can read."""

from __future__ import annotations

from pathlib import Path

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.messages import ToolMessage
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.workspace.output_bounds import HEAD_CHARS, MAX_TOOL_OUTPUT_CHARS, TAIL_CHARS

BIG = "".join(f"line {i:05d} " + "x" * 40 + "\n" for i in range(2_000))  # ~100k chars


@function_tool
def dump() -> str:
    """Produce a lot of text."""
    return BIG


def run(config: RunConfig) -> ToolMessage:
    model = ScriptedModel([call_tool("dump", {}), call_tool("task_finish", {"message": "ok"})])
    result = Runner.run_sync(Agent(model=model, tools=[dump]), "x", config=config)
    return next(m for m in result.messages if isinstance(m, ToolMessage))


def test_preview_and_artifact_on_a_local_workspace(tmp_path: Path) -> None:
    message = run(RunConfig(workspace=tmp_path, run_id="run_bounds"))
    content = message.content
    assert isinstance(content, str)
    assert len(content) < MAX_TOOL_OUTPUT_CHARS + 1_000
    assert content.startswith(BIG[:HEAD_CHARS]) and content.endswith(BIG[-TAIL_CHARS:])
    path = f".agentcycle/artifacts/run_bounds/{message.tool_call_id}.txt"
    assert path in content and "read_file" in content
    assert (tmp_path / path).read_text() == BIG


def test_preview_without_a_workspace_says_the_rest_was_dropped() -> None:
    content = run(RunConfig())
    assert isinstance(content.content, str)
    assert "no workspace to keep the full output" in content.content
    assert len(content.content) < MAX_TOOL_OUTPUT_CHARS + 1_000


def test_small_output_is_untouched(tmp_path: Path) -> None:
    @function_tool
    def small() -> str:
        """Small."""
        return "tiny"

    model = ScriptedModel([call_tool("small", {}), call_tool("task_finish", {"message": "ok"})])
    result = Runner.run_sync(
        Agent(model=model, tools=[small]), "x", config=RunConfig(workspace=tmp_path)
    )
    assert next(m.content for m in result.messages if isinstance(m, ToolMessage)) == "tiny"
    assert not (tmp_path / ".agentcycle").exists()
