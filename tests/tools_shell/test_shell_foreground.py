"""``bash`` in the foreground: results, output bounds, input, directories, workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest
from shell_helpers import bash

from agentcycle.messages import ToolResultStatus
from agentcycle.tools.base import SideEffect, ToolContext
from agentcycle.tools.builtin.shell import (
    bash_tool,
    check_background_command_tool,
    clamp_timeout,
    shell_tools,
)
from agentcycle.workspace import LocalWorkspaceBackend, MemoryWorkspaceBackend


async def test_exit_zero_returns_merged_output(ctx: ToolContext) -> None:
    result, body = await bash(ctx, command="echo out; echo err >&2; echo more")
    assert result.status is ToolResultStatus.SUCCESS
    assert body["ok"] is True
    assert body["status"] == "completed"
    assert body["exit_code"] == 0
    assert body["output"] == "out\nerr\nmore\n"
    assert body["truncated"] is False
    assert body["output_bytes"] == len("out\nerr\nmore\n")
    assert body["streams"] == "stdout+stderr"
    assert body["duration_s"] >= 0


async def test_nonzero_exit_is_an_error_with_the_exit_code_and_output(ctx: ToolContext) -> None:
    result, body = await bash(ctx, command="echo partial; echo oops >&2; exit 3")
    assert result.status is ToolResultStatus.ERROR
    assert result.error_code == "command_failed"
    assert body["ok"] is False
    assert "3" in body["error"]
    assert body["details"]["exit_code"] == 3
    assert body["details"]["output"] == "partial\noops\n"
    assert result.metadata["exit_code"] == 3


async def test_a_shell_killed_by_a_signal_reports_the_signal(ctx: ToolContext) -> None:
    result, body = await bash(ctx, command="kill -KILL $$")
    assert result.error_code == "command_failed"
    assert body["details"]["exit_code"] == -9
    assert body["details"]["signal"] == "SIGKILL"


async def test_large_output_completes_bounded_with_head_and_tail(ctx: ToolContext) -> None:
    # 5 MB through the pipe: must neither deadlock nor be kept in memory.
    result, body = await bash(ctx, command="yes | head -c 5000000; echo; echo THE-END")
    assert result.status is ToolResultStatus.SUCCESS
    assert body["truncated"] is True
    assert body["output_bytes"] == 5_000_000 + len("\nTHE-END\n")
    output = body["output"]
    assert output.startswith("y\ny\ny\n")
    assert output.endswith("y\n\nTHE-END\n")
    assert "bytes of output omitted" in output
    assert len(output) <= 10_100
    assert len(result.content) < 20_000


async def test_output_is_decoded_as_utf8_with_replacement(ctx: ToolContext) -> None:
    _, body = await bash(ctx, command=r"printf 'caf\xc3\xa9 \xff\n'")
    assert body["output"] == "café \ufffd\n"


async def test_stdin_is_fed_to_the_command(ctx: ToolContext) -> None:
    _, body = await bash(ctx, command='read -r first; echo "got $first"; cat', stdin="one\ntwo\n")
    assert body["output"] == "got one\ntwo\n"


async def test_without_stdin_a_prompt_sees_end_of_file(ctx: ToolContext) -> None:
    _, body = await bash(ctx, command='if read -r answer; then echo "read"; else echo "eof"; fi')
    assert body["output"] == "eof\n"


async def test_auto_confirm_answers_yes_to_every_prompt(ctx: ToolContext) -> None:
    _, body = await bash(
        ctx,
        command='read -r -p "sure? " a; read -r -p "really? " b; echo "$a$b $DEBIAN_FRONTEND"',
        auto_confirm=True,
    )
    assert body["exit_code"] == 0
    assert body["output"].endswith("yy noninteractive\n")


async def test_auto_confirm_with_stdin_is_refused(ctx: ToolContext) -> None:
    result, body = await bash(ctx, command="cat", stdin="x", auto_confirm=True)
    assert result.error_code == "invalid_tool_arguments"
    assert "auto_confirm" in body["error"]


async def test_commands_get_a_non_interactive_environment(
    ctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("AGENTCYCLE_SHELL_TEST", "not on the allow-list")
    _, body = await bash(
        ctx, command='echo "$PAGER $GIT_PAGER $TERM $NO_COLOR $LANG [$AGENTCYCLE_SHELL_TEST]"'
    )
    assert body["output"] == "cat cat dumb 1 C.UTF-8 []\n"


async def test_runs_in_the_workspace_root(ctx: ToolContext, workspace: Path) -> None:
    (workspace / "marker.txt").write_text("here")
    _, body = await bash(ctx, command="pwd; cat marker.txt")
    assert body["output"] == f"{workspace}\nhere"


async def test_exec_dir_inside_the_workspace(ctx: ToolContext, workspace: Path) -> None:
    (workspace / "sub" / "deeper").mkdir(parents=True)
    _, body = await bash(ctx, command="pwd", exec_dir="sub/./deeper")
    assert body["output"] == f"{workspace / 'sub' / 'deeper'}\n"


@pytest.mark.parametrize(
    ("exec_dir", "reason"),
    [
        ("..", "parent_traversal"),
        ("../ws", "parent_traversal"),
        ("sub/../../outside", "parent_traversal"),
        ("/etc", "absolute_path"),
        ("..\\..", "parent_traversal"),
        ("sub\x00", "nul_byte"),
        ("link_out", "symlink_escape"),
        ("link_out/nested", "symlink_escape"),
    ],
)
async def test_exec_dir_escapes_are_rejected(
    ctx: ToolContext, workspace: Path, tmp_path: Path, exec_dir: str, reason: str
) -> None:
    (workspace / "sub").mkdir()
    (tmp_path / "outside" / "nested").mkdir(parents=True)
    (workspace / "link_out").symlink_to(tmp_path / "outside")
    result, body = await bash(ctx, command="touch escaped", exec_dir=exec_dir)
    assert result.error_code == "path_escapes_workspace"
    assert body["details"]["reason"] == reason
    assert not (tmp_path / "outside" / "escaped").exists()
    assert not (tmp_path / "escaped").exists()


async def test_exec_dir_symlink_inside_the_workspace_is_allowed(
    ctx: ToolContext, workspace: Path
) -> None:
    (workspace / "real").mkdir()
    (workspace / "alias").symlink_to(workspace / "real")
    _, body = await bash(ctx, command="pwd", exec_dir="alias")
    assert body["output"] == f"{workspace / 'real'}\n"


async def test_exec_dir_must_be_an_existing_directory(ctx: ToolContext, workspace: Path) -> None:
    (workspace / "file.txt").write_text("x")
    missing, _ = await bash(ctx, command="pwd", exec_dir="nope")
    assert missing.error_code == "file_not_found"
    not_dir, _ = await bash(ctx, command="pwd", exec_dir="file.txt")
    assert not_dir.error_code == "not_a_directory"


async def test_a_local_workspace_backend_is_accepted(ctx: ToolContext, workspace: Path) -> None:
    ctx.workspace = LocalWorkspaceBackend(workspace)
    _, body = await bash(ctx, command="pwd")
    assert body["output"] == f"{workspace}\n"


@pytest.mark.parametrize("kind", ["none", "memory", "missing_dir"])
async def test_shell_unavailable_without_a_local_directory(
    ctx: ToolContext, tmp_path: Path, kind: str
) -> None:
    gone = tmp_path / "removed-after-start"
    gone.mkdir()
    removed = LocalWorkspaceBackend(gone)
    gone.rmdir()  # a local backend whose directory went away
    ctx.workspace = {"none": None, "memory": MemoryWorkspaceBackend(), "missing_dir": removed}[kind]
    result, body = await bash(ctx, command="touch should-not-exist")
    assert result.error_code == "shell_unavailable"
    assert "local" in body["error"]


def test_timeout_is_clamped_not_rejected() -> None:
    assert clamp_timeout(None) == 300
    assert clamp_timeout(0) == 1
    assert clamp_timeout(-5) == 1
    assert clamp_timeout(10_000) == 600
    assert clamp_timeout(42.5) == 42.5


async def test_timeout_zero_still_lets_a_quick_command_finish(ctx: ToolContext) -> None:
    # Clamped to 1 s: a zero wait would have moved even `echo` to the background.
    result, body = await bash(ctx, command="echo quick", timeout=0)
    assert body["status"] == "completed"
    assert result.metadata["timeout_s"] == 1


async def test_a_huge_timeout_is_clamped_to_600_seconds(ctx: ToolContext) -> None:
    result, _ = await bash(ctx, command="true", timeout=10_000, run_in_background=True)
    assert result.metadata["timeout_s"] == 600
    assert result.metadata["hard_limit_s"] == 2400


def test_tool_declarations() -> None:
    bash_decl, check_decl = shell_tools()
    assert (bash_decl.name, check_decl.name) == ("bash", "check_background_command")
    assert bash_decl.side_effect is SideEffect.EXECUTE
    assert bash_decl.read_only is False
    assert bash_decl.timeout_seconds is None
    assert check_decl.side_effect is SideEffect.READ
    assert check_decl.read_only is True
    assert bash_decl.parameters["required"] == ["command"]
    assert set(bash_decl.parameters["properties"]) == {
        "command",
        "exec_dir",
        "timeout",
        "run_in_background",
        "stdin",
        "auto_confirm",
    }
    assert bash_decl.parameters["additionalProperties"] is False
    assert check_decl.parameters["required"] == ["session_id"]
    assert bash_tool().description == bash_decl.description
    assert check_background_command_tool().name == check_decl.name
