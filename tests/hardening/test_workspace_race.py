"""A directory and a symlink out of the workspace swapped in a tight loop by another process
(``renameat2(RENAME_EXCHANGE)``) while the file tools read and write beneath it: thousands of
operations, zero escapes, and every failure a typed error with a workspace path."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcycle.state import RunToolState
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin.files import read_file_tool, write_file_tool
from agentcycle.workspace import LocalWorkspaceBackend

CANARY = "CANARY-outside-the-workspace"
OPERATIONS = 2_000

SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b, stop = (os.fsencode(p) for p in sys.argv[1:4])
swaps = 0
print("ready", flush=True)
while True:
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        sys.exit(f"renameat2 failed: {os.strerror(ctypes.get_errno())}")
    swaps += 1
    if swaps % 256 == 0 and os.path.exists(stop):
        break
print(swaps, flush=True)
"""

# Everything a racing operation may legitimately answer besides success.
TYPED_CODES = {"path_escapes_workspace", "file_not_found", "not_a_directory"}


@pytest.fixture
def swapping(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A workspace whose ``sub`` trades places with a symlink to ``outside`` non-stop."""
    root, outside = tmp_path / "ws", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "inner.txt").write_text("inside")
    (outside / "inner.txt").write_text(CANARY)
    (root / "alt").symlink_to(outside)
    stop = tmp_path / "stop"
    process = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(root / "sub"), str(root / "alt"), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    try:
        yield root, outside
    finally:
        stop.touch()
        swaps = int(process.stdout.readline() or 0)
        assert process.wait(timeout=30) == 0
    assert swaps > 1_000, "the swapper barely ran: the race was not exercised"


async def test_tools_never_escape_a_swapping_directory(
    resolver: str, swapping: tuple[Path, Path]
) -> None:
    """``resolver`` (tests/conftest.py) runs it with ``openat2`` and with the fallback walk."""
    root, outside = swapping
    backend = LocalWorkspaceBackend(root)
    read_tool, write_tool = read_file_tool(), write_file_tool()
    state = RunToolState()
    outcomes: dict[str, int] = {}
    for index in range(OPERATIONS):
        ctx = ToolContext("run", "trace", "race", f"call_{index}", 0, state, workspace=backend)
        for tool, args in (
            (read_tool, {"path": "sub/inner.txt"}),
            (write_tool, {"path": f"sub/w{index}.txt", "content": "written"}),
        ):
            result = await tool.invoke(ctx, args)
            body = json.loads(result.content)
            assert CANARY not in result.content, f"{tool.name} read outside the workspace"
            assert str(root.parent) not in result.content, "a host path reached the model"
            if body.get("ok") is False:
                assert body["error_code"] in TYPED_CODES, body
            else:
                assert tool.name == "write_file" or body["content"] == "inside"
            key = f"{tool.name}:{body.get('error_code', 'ok')}"
            outcomes[key] = outcomes.get(key, 0) + 1
    escaped = sorted(p.name for p in outside.iterdir() if p.name != "inner.txt")
    assert escaped == [], f"{len(escaped)} writes landed outside the workspace"
    assert (outside / "inner.txt").read_text() == CANARY
    # The race was live: some operations met the symlink, some the directory.
    assert outcomes.get("read_file:ok", 0) > 0, outcomes
    assert sum(v for k, v in outcomes.items() if not k.endswith(":ok")) > 0, outcomes
