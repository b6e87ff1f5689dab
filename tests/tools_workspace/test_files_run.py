"""The file tools inside real runs: validation, error results and artifacts through the
orchestrator, and images attached to the next model turn."""

from __future__ import annotations

import json
import re
from typing import Any

from agentcycle import Agent, RunConfig, Runner
from agentcycle.events import RunStatus
from agentcycle.messages import ImagePart, ToolMessage, UserMessage
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.workspace import MemoryWorkspaceBackend, WorkspaceBackend
from tests.tools_workspace.file_helpers import png

REPORT = "".join(f"row {i:05d}: {'漢字' * (i % 7)} value={i * 7}\n" for i in range(2_000))


def report() -> str:
    """Produce the quarterly report (long)."""
    return REPORT


def last_tool_body(request: ModelRequest) -> dict[str, Any]:
    message = request.messages[-1]
    assert isinstance(message, ToolMessage)
    assert isinstance(message.content, str)
    body: dict[str, Any] = json.loads(message.content) if message.content[:1] == "{" else {}
    return body | {"_raw": message.content}


class Script:
    """Read -> edit -> write, two mistakes, then page through an archived oversized output."""

    def __init__(self) -> None:
        self.fixed = [
            call_tool("read_file", {"path": "app.py"}),
            call_tool("edit_file", {"path": "app.py", "old_string": "return 1"}),  # invalid
            call_tool(
                "edit_file", {"path": "app.py", "old_string": "return 1", "new_string": "return 2"}
            ),
            call_tool("write_file", {"path": "app.py", "content": "# reviewed", "append": True}),
            call_tool("write_file", {"path": "config.txt", "content": "debug = true\n"}),
            call_tool("report", {}),
        ]
        self.artifact: str | None = None

    def __call__(self, request: ModelRequest) -> ModelResponse:
        if self.fixed:
            return self.fixed.pop(0)
        body = last_tool_body(request)
        if self.artifact is None:  # the report's preview names where the full text is
            found = re.search(r"saved at (\S+);", body["_raw"])
            assert found, body["_raw"][-500:]
            self.artifact = found.group(1)
            return call_tool("read_file", {"path": self.artifact})
        if body.get("truncated"):
            return call_tool("read_file", {"path": self.artifact, "cursor": body["cursor"]})
        return call_tool("task_finish", {"message": "done"})


async def test_read_edit_write_and_page_an_artifact_in_a_run(workspace: WorkspaceBackend) -> None:
    await workspace.write("app.py", "def answer():\n    return 1\n")
    await workspace.write("config.txt", "debug = false\n")
    agent = Agent(model=ScriptedModel(Script()), tools=[report])
    config = RunConfig(workspace=workspace, max_cycles=40)
    result = await Runner.run(agent, "review app.py", config=config)
    assert result.status is RunStatus.COMPLETED, result.error
    tools = [m for m in result.messages if isinstance(m, ToolMessage)]
    bodies = [json.loads(str(m.content)) if m.name != "report" else None for m in tools]
    names = [m.name for m in tools]
    assert names[:6] == [
        "read_file",
        "edit_file",
        "edit_file",
        "write_file",
        "write_file",
        "report",
    ]
    assert bodies[0]["content"] == "def answer():\n    return 1\n"
    assert (tools[1].is_error, bodies[1]["error_code"]) == (True, "invalid_tool_arguments")
    assert bodies[2]["replacements"] == 1
    assert "-    return 1\n+    return 2\n" in bodies[2]["diff"]
    assert bodies[3]["action"] == "appended"
    assert (tools[4].is_error, bodies[4]["error_code"]) == (True, "file_not_read")
    assert await workspace.read_bytes("app.py") == b"def answer():\n    return 2\n# reviewed"
    assert await workspace.read_bytes("config.txt") == b"debug = false\n"
    # The oversized report was archived; read_file paged through it exactly.
    pages = [body for body, name in zip(bodies[6:], names[6:], strict=True) if name == "read_file"]
    assert len(pages) > 2
    assert "".join(page["content"] for page in pages) == REPORT
    assert all(len(str(m.content)) <= 12_000 for m in tools if m.name == "read_file")
    assert names[-1] == "task_finish"


async def test_read_image_shows_the_image_on_the_next_turn() -> None:
    workspace = MemoryWorkspaceBackend()
    await workspace.write("chart.png", png())
    model = ScriptedModel(
        [
            call_tool("read_image", {"path": "chart.png"}),
            call_tool("task_finish", {"message": "seen"}),
        ],
        native_multimodal=True,
    )
    agent = Agent(model=model)
    result = await Runner.run(agent, "look", config=RunConfig(workspace=workspace))
    assert result.status is RunStatus.COMPLETED
    assert model.requests[0].tools[-1] == "read_image"
    shown = model.requests[1].messages[-1]
    assert isinstance(shown, UserMessage) and shown.synthetic
    assert isinstance(shown.content, list)
    image = shown.content[-1]
    assert isinstance(image, ImagePart)
    assert (image.media_type, image.data is not None) == ("image/png", True)
