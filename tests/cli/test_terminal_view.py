"""The terminal view: the approval prompt after its tool line, previews, colour, the summary."""

from __future__ import annotations

import asyncio
import io

import pytest

from agentcycle import Agent, Runner, SideEffect, function_tool
from agentcycle.cli._approval import TerminalApprovalProvider
from agentcycle.cli._previews import summary_line
from agentcycle.cli._render import HumanRenderer
from agentcycle.cli._terminal import Terminal, wants_colour
from agentcycle.events import ToolCallCompleted
from agentcycle.run_config import RunConfig
from agentcycle.testing import ScriptedModel, call_tool


@function_tool(side_effect=SideEffect.EXECUTE)
def launch(target: str) -> str:
    """Launch something."""
    return f"launched {target}\nall systems go"


async def test_the_prompt_comes_after_the_tool_line_and_streamed_text() -> None:
    out = io.StringIO()
    terminal = Terminal(out, colour=False)
    renderer = HumanRenderer(terminal)
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(out.getvalue())  # what the person sees when asked
        return "y"

    model = ScriptedModel(
        [
            call_tool("launch", {"target": "probe"}, text="Launching"),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    config = RunConfig(approval_provider=TerminalApprovalProvider(terminal, ask))
    handle = await Runner.start(Agent(model=model, tools=[launch]), "go", config=config)
    async for event in handle.events():
        renderer.render(event)
    await handle.result()
    renderer.close()
    seen = asked[0].splitlines()
    assert seen[-2:] == [
        '  -> launch({"target": "probe"})',
        '  ? approval needed: launch (execute) {"target":"probe"}',
    ]
    assert seen[-3] == "Launching"  # the streamed text ended its line first
    assert "     = launched probe all systems go" in out.getvalue().splitlines()


@function_tool
def dump() -> str:
    """Return a long text."""
    return "y" * 300


async def test_the_preview_comes_from_the_event_shortened_for_the_terminal() -> None:
    out = io.StringIO()
    renderer = HumanRenderer(Terminal(out, colour=False))
    model = ScriptedModel([call_tool("dump", {}), call_tool("task_finish", {"message": "ok"})])
    previews = []
    async for event in Runner.stream(Agent(model=model, tools=[dump]), "go"):
        renderer.render(event)
        if isinstance(event, ToolCallCompleted) and event.tool_name == "dump":
            previews.append(event.result_preview)
    renderer.close()
    assert previews == ["y" * 159 + "…"]  # the event's bound
    assert "     = " + "y" * 71 + "…" in out.getvalue().splitlines()  # the terminal's


@function_tool
def book(order_id: str) -> str:
    """Book an order."""
    raise PermissionError(f"order {order_id} is locked by another clerk")


async def test_a_failed_call_shows_what_went_wrong_not_only_its_kind() -> None:
    out = io.StringIO()
    renderer = HumanRenderer(Terminal(out, colour=False))
    model = ScriptedModel(
        [call_tool("book", {"order_id": "7"}), call_tool("task_finish", {"message": "ok"})]
    )
    async for event in Runner.stream(Agent(model=model, tools=[book]), "go"):
        renderer.render(event)
        if isinstance(event, ToolCallCompleted) and event.tool_name == "book":
            failed = event
    renderer.close()
    assert failed.error_code and failed.result_preview
    assert "order 7 is locked by another clerk" in failed.result_preview
    line = f"     book failed: {failed.error_code}: {failed.result_preview}"
    assert line in out.getvalue().splitlines()


def test_colour_only_at_a_terminal_and_never_with_no_colour(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert wants_colour(Tty()) and not wants_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_colour(Tty())


def test_a_coloured_terminal_writes_styles_and_keeps_lines_whole() -> None:
    out = io.StringIO()
    terminal = Terminal(out, colour=True)
    terminal.text("thinking")
    terminal.line("-> tool()", "cyan")
    text = out.getvalue()
    assert "\x1b[" in text and "thinking\n" in text and text.endswith("\n")


def test_the_summary_line() -> None:
    result = asyncio.run(
        Runner.run(Agent(model=ScriptedModel([call_tool("task_finish", {"message": "ok"})])), "x")
    )
    assert summary_line(result, 0.42) == "completed · 1 cycle · 0.4 s"
