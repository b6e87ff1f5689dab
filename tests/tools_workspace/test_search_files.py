"""search_files on every backend, fallbacks, pattern errors, bounds and cancellation."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import pytest

from agentcycle._json import dumps
from agentcycle.tools.builtin import _search_rg
from agentcycle.tools.builtin.search import MAX_OUTPUT_CHARS
from agentcycle.workspace import LocalWorkspaceBackend, WorkspaceBackend
from tests.tools_workspace.discovery_helpers import SEARCH, context, plant, search, without_rg

HELLO_FILES = [
    "build",
    "data/late_nul.txt",
    "docs/guide.md",
    "docs/ünï/çödé.txt",
    "src/app.py",
    "src/util/helpers.py",
    "src/util/strings.ts",
]


async def test_same_results_on_every_backend(workspace: WorkspaceBackend) -> None:
    await plant(workspace)
    files = await search(workspace, pattern="hello")
    assert files.body["files"] == HELLO_FILES
    assert files.engine == ("ripgrep" if workspace.local_root is not None else "python")
    content = await search(workspace, pattern="hello", path="docs", output_mode="content", c=1)
    assert content.body["content"].splitlines() == [
        "docs/guide.md:1:Hello again",
        "docs/guide.md-2-nothing here",
        "docs/guide.md:3:hello at the end",
        "--",
        "docs/ünï/çödé.txt-1-naïve café ünïcode",
        "docs/ünï/çödé.txt:2:Σίσυφος hello κόσμε",
    ]
    counts = await search(workspace, pattern="hello", output_mode="count", type="md")
    assert counts.body["counts"] == [{"path": "docs/guide.md", "count": 2}]
    hidden = await search(workspace, pattern="hello", include_hidden=True, include_sensitive=True)
    assert ".env" in hidden.body["files"] and ".github/workflow.yml" in hidden.body["files"]
    paged = await search(workspace, pattern="hello", head_limit=3, offset=3)
    assert paged.body["files"] == HELLO_FILES[3:6]
    assert paged.body["next_offset"] == 6


async def test_falls_back_to_python_without_ripgrep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = LocalWorkspaceBackend(tmp_path)
    await plant(workspace)
    without_rg(monkeypatch)
    outcome = await search(workspace, pattern="hello")
    assert outcome.ok and outcome.engine == "python"
    assert outcome.body["files"] == HELLO_FILES


@pytest.mark.parametrize("engine", ["ripgrep", "python"])
async def test_invalid_patterns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    workspace = LocalWorkspaceBackend(tmp_path)
    await plant(workspace)
    if engine == "python":
        without_rg(monkeypatch)
    for pattern in (
        "(unclosed",
        "a**",
        "foo(?=bar)",
        "(?<!x)y",
        r"(a)\1",
        "[z-a]",
        "a\nb",
        r"a\nb",
    ):
        outcome = await search(workspace, pattern=pattern)
        assert outcome.error_code == "invalid_pattern", pattern
        assert outcome.body["error"]
    # Escaped and bracketed look-alikes are fine, and literal mode takes anything.
    assert (await search(workspace, pattern=r"\\1|[?=]")).ok
    assert (await search(workspace, pattern="(?=", literal=True)).ok


async def test_pattern_ripgrep_alone_rejects_is_invalid(tmp_path: Path) -> None:
    workspace = LocalWorkspaceBackend(tmp_path)
    await workspace.write("a.txt", "aaa")
    outcome = await search(workspace, pattern="a{,2}")  # Python reads {0,2}; Rust refuses
    assert outcome.error_code == "invalid_pattern"
    assert "ripgrep" in outcome.body["error"]


async def test_output_is_bounded(workspace: WorkspaceBackend) -> None:
    await workspace.write("big.txt", "".join(f"{'w' * 90} {i}\n" for i in range(1000)))
    outcome = await search(workspace, pattern="w+", output_mode="content", head_limit=1000)
    body = outcome.body
    assert body["truncated"] and "offset=" in body["hint"]
    assert len(dumps(body["content"])) <= MAX_OUTPUT_CHARS
    shown = body["content"].count("\n") + 1
    assert shown == body["returned"] == body["next_offset"] < 500
    rest = await search(workspace, pattern="w+", output_mode="content", offset=shown, head_limit=5)
    assert rest.body["content"].splitlines()[0] == f"big.txt:{shown + 1}:{'w' * 90} {shown}"


async def test_sensitive_path_and_missing_workspace(workspace: WorkspaceBackend) -> None:
    await plant(workspace)
    refused = await search(workspace, pattern="hello", path=".env")
    assert refused.error_code == "sensitive_path"
    allowed = await search(workspace, pattern="hello", path=".env", include_sensitive=True)
    assert allowed.body["files"] == [".env"]
    assert (await search(workspace, pattern="x", path="missing")).error_code == "file_not_found"
    result = await SEARCH.invoke(context(None), {"pattern": "x"})
    assert result.error_code == "no_workspace"


def sparse_lines(path: Path) -> None:
    """16 GiB of mostly-hole lines: ripgrep would take many seconds to read them all."""
    with open(path, "wb") as handle:
        for index in range(1, 16 * 1024 + 1):
            handle.seek(index * 1024 * 1024 - 1)
            handle.write(b"\n")


async def test_cancellation_kills_ripgrep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    sparse_lines(root / "huge.txt")
    ctx = context(LocalWorkspaceBackend(root))
    started: list[Any] = []
    spawn = asyncio.create_subprocess_exec

    async def spawn_then_cancel(*args: Any, **kwargs: Any) -> Any:
        process = await spawn(*args, **kwargs)
        started.append(process)
        ctx.cancelled.set()  # the run is cancelled while ripgrep is reading
        return process

    monkeypatch.setattr(_search_rg.asyncio, "create_subprocess_exec", spawn_then_cancel)
    began = time.monotonic()
    result = await SEARCH.invoke(ctx, {"pattern": "[a-z]{3}x"})
    assert result.error_code == "cancelled"
    assert time.monotonic() - began < 5
    assert len(started) == 1 and started[0].returncode == -9  # killed, not finished
    with pytest.raises(ProcessLookupError):
        os.kill(started[0].pid, 0)


def spawned_ripgrep(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the paths each ripgrep process the engine starts is given (it still runs)."""
    commands: list[list[str]] = []
    spawn = asyncio.create_subprocess_exec

    async def recording(*args: Any, **kwargs: Any) -> Any:
        commands.append(list(args[list(args).index("--") + 1 :]))
        return await spawn(*args, **kwargs)

    monkeypatch.setattr(_search_rg.asyncio, "create_subprocess_exec", recording)
    return commands


@pytest.fixture
def many_files(tmp_path: Path) -> Path:
    """3,000 files that all say ``import os``, the last one also ``needle``."""
    root = tmp_path / "ws"
    for directory in range(30):
        (root / f"d{directory:02d}").mkdir(parents=True)
        for index in range(100):
            (root / f"d{directory:02d}" / f"f{index:03d}.py").write_text("import os\n")
    (root / "d29" / "f099.py").write_text("import os\nneedle\n")
    return root


async def test_common_pattern_stops_after_the_first_files(
    many_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = spawned_ripgrep(monkeypatch)
    workspace = LocalWorkspaceBackend(many_files)
    outcome = await search(workspace, pattern="import", head_limit=10)
    assert outcome.engine == "ripgrep"
    assert outcome.body["files"] == [f"d00/f{index:03d}.py" for index in range(10)]
    assert outcome.body["next_offset"] == 10
    # One `rg -l` over the walk's first batch of files, in order; the tree was not walked.
    assert commands == [[f"./d{i // 100:02d}/f{i % 100:03d}.py" for i in range(256)]]
    commands.clear()
    content = await search(workspace, pattern="import", output_mode="content", head_limit=3)
    assert content.body["content"].splitlines() == [
        f"d00/f{index:03d}.py:1:import os" for index in range(3)
    ]
    # Then one `rg --json` over that batch's matches, stopped once three lines are in.
    assert commands == [commands[0], commands[0]] and len(commands[0]) == 256
    commands.clear()
    # A big page keeps to explicit batches while the hit rate says they will fill it.
    big = await search(workspace, pattern="import", head_limit=450)
    assert big.body["files"][-1] == "d04/f049.py" and big.body["returned"] == 450
    assert [len(paths) for paths in commands] == [256, 1024]
    assert all(path.endswith(".py") for paths in commands for path in paths)


async def test_rare_pattern_hands_the_rest_of_the_tree_to_ripgrep(
    many_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = spawned_ripgrep(monkeypatch)
    outcome = await search(LocalWorkspaceBackend(many_files), pattern="needle")
    assert outcome.body["files"] == ["d29/f099.py"] and outcome.body["total"] == 1
    first, rest = commands
    assert len(first) == 256
    # The rest of the walk: the unsearched files of the third directory, then directories.
    assert rest == [f"./d02/f{index:03d}.py" for index in range(56, 100)] + [
        f"./d{directory:02d}" for directory in range(3, 30)
    ]


async def test_page_the_tree_cannot_fill_hands_off_after_the_first_batch(
    many_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One file in fifty matches: the first batch's hit rate says filling 250 results would
    take more files than the walk estimates are left, so ripgrep walks the rest at once."""
    for directory in range(30):
        for index in (0, 50):
            (many_files / f"d{directory:02d}" / f"f{index:03d}.py").write_text("handler\n")
    commands = spawned_ripgrep(monkeypatch)
    outcome = await search(LocalWorkspaceBackend(many_files), pattern="handler")
    expected = [f"d{directory:02d}/f{index:03d}.py" for directory in range(30) for index in (0, 50)]
    assert outcome.body["files"] == expected and outcome.body["total"] == 60
    first, rest = commands
    assert len(first) == 256 and rest[-1] == "./d29"


def test_binary_sniff_reads_only_regular_files_and_leaves_the_rest_to_the_backend(
    tmp_path: Path,
) -> None:
    """The engine's own sniff of matching files: text or binary for a regular file; anything
    else (a FIFO it must not block on, a link it must not follow, a file gone since ripgrep
    saw it) is left to the backend, which raises the usual typed errors."""
    (tmp_path / "text.py").write_text("x = 1\n" * 3000)
    (tmp_path / "blob.bin").write_bytes(b"x = 1\n\x00rest")
    (tmp_path / "late.bin").write_bytes(b"x" * 9000 + b"\x00")  # NUL past the sniffed head
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link.py").symlink_to(tmp_path / "text.py")
    names = ["text.py", "blob.bin", "late.bin", "fifo", "link.py", "gone.py"]
    assert _search_rg._sniff(str(tmp_path), names) == [False, True, False, None, None, None]
