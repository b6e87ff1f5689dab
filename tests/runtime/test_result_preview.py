"""``tool_call_completed.result_preview``: the runtime's short, bounded, secret-scrubbed gist of
what a call returned, for hosts that show results without holding them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, Runner, function_tool
from agentcycle.events import ToolCallCompleted, parse_event
from agentcycle.run_config import RunConfig
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.result_preview import RESULT_PREVIEW_CHARS, result_preview

HOST_KEY = "hk-live-0123456789abcdefXYZ"


@function_tool
def leak(what: str) -> str:
    """Return some text."""
    return {
        "env": f"connected with {HOST_KEY} ok",
        "assignment": "config: API_TOKEN=tok_9f8e7d6c5b4a3210 region=eu",
        "json": json.dumps({"ok": True, "message": 'client_secret: "cs_abcdef123456"'}),
        "long": "word " * 2_000,
    }[what]


async def completed(
    calls: list[tuple[str, dict[str, Any]]], **config: Any
) -> list[ToolCallCompleted]:
    steps = [call_tool(name, args) for name, args in calls]
    model = ScriptedModel([*steps, call_tool("task_finish", {"message": "done"})])
    agent = Agent(model=model, tools=[leak])
    handle = await Runner.start(agent, "go", config=RunConfig(**config))
    await handle.result()
    return [
        e
        async for e in handle.events()
        if isinstance(e, ToolCallCompleted) and e.tool_name != "task_finish"
    ]


async def test_host_credentials_and_credential_assignments_are_scrubbed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_SERVICE_API_KEY", HOST_KEY)
    events = await completed(
        [("leak", {"what": "env"}), ("leak", {"what": "assignment"}), ("leak", {"what": "json"})]
    )
    previews = [e.result_preview for e in events]
    assert previews == [
        "connected with [REDACTED] ok",
        "config: API_TOKEN=[REDACTED] region=eu",
        'client_secret: "[REDACTED]"',
    ]
    for event in events:  # and nowhere else in the event either
        assert HOST_KEY not in json.dumps(event.to_dict())


async def test_the_preview_is_bounded_and_survives_a_round_trip() -> None:
    (event,) = await completed([("leak", {"what": "long"})])
    assert event.result_preview is not None
    assert len(event.result_preview) == RESULT_PREVIEW_CHARS
    assert event.result_preview.endswith("…") and "\n" not in event.result_preview
    again = parse_event(json.loads(json.dumps(event.to_dict())))
    assert again == event
    # An event written before the field existed reads back without a preview.
    old = event.to_dict()
    del old["result_preview"]
    parsed = parse_event(old)
    assert isinstance(parsed, ToolCallCompleted) and parsed.result_preview is None


async def test_built_in_tools_read_as_counts_and_refusals_as_their_message(
    tmp_path: Path,
) -> None:
    for n in range(3):
        (tmp_path / f"f{n}.txt").write_text("x\n" * (n + 1))
    events = await completed(
        [("find_files", {"glob": "*.txt"}), ("read_file", {"path": "missing.txt"})],
        workspace=tmp_path,
    )
    found, missing = events
    assert found.result_preview == "3 entries"
    assert missing.error_code is not None
    assert missing.result_preview and "missing.txt" in missing.result_preview


def test_a_secret_cut_by_the_scan_is_never_half_shown() -> None:
    secret = "sk-" + "q" * 60
    # Blank space folds away, so the secret's cut start would land inside the preview.
    text = "start" + " " * 640 + secret
    preview = result_preview(text, {secret})
    assert preview == "start"
    assert result_preview(f"x {secret} y", {secret}) == "x [REDACTED] y"


def test_nothing_to_show_is_none() -> None:
    assert result_preview("") is None
    assert result_preview("   \n ") is None
    assert result_preview('{"ok": true, "items": [1, 2]}') is None
