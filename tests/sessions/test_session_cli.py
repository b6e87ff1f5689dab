"""``agentcycle --session ID``: a second invocation continues the first conversation."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from agentcycle.messages import ToolMessage, UserMessage
from agentcycle.sessions import SQLiteSession
from tests import _cli


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return _cli.run_cli("--backend", "demo", *args, cwd=cwd)


def test_a_second_invocation_continues_the_conversation(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    first = run_cli("--session", "s1", "-p", "Summarise this project", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "continuing session" not in first.stderr

    store = tmp_path / ".agentcycle" / "sessions.sqlite3"
    after_first = asyncio.run(SQLiteSession("s1", store).get_items())
    assert after_first[0] == UserMessage(content="Summarise this project")

    second = run_cli("--session", "s1", "-p", "Now list the files", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"continuing session s1 ({len(after_first)} earlier messages)" in second.stderr
    after_second = asyncio.run(SQLiteSession("s1", store).get_items())
    assert after_second[: len(after_first)] == after_first
    assert after_second[len(after_first)] == UserMessage(content="Now list the files")
    last = after_second[-1]
    assert isinstance(last, ToolMessage) and last.name == "task_finish"

    other = run_cli("--session", "s2", "-p", "Hello", cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert "continuing session" not in other.stderr
    assert len(asyncio.run(SQLiteSession("s1", store).get_items())) == len(after_second)


def test_without_session_nothing_is_stored(tmp_path: Path) -> None:
    proc = run_cli("-p", "Hello", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / ".agentcycle" / "sessions.sqlite3").exists()


def test_an_empty_session_id_is_refused(tmp_path: Path) -> None:
    proc = run_cli("--session", " ", "-p", "Hello", cwd=tmp_path)
    assert proc.returncode == 1
    assert "--session needs a non-empty id" in proc.stderr
