"""ripgrep and the pure-Python engine give identical search_files results on one local tree."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from agentcycle.tools.builtin import _search_rg
from agentcycle.workspace import LocalWorkspaceBackend
from tests.tools_workspace.discovery_helpers import SAMPLE, plant, search, without_rg

EXTRA: dict[str, bytes | str] = {
    "many/lines.txt": "".join(
        f"line {i} {'match' if i % 3 == 0 else 'plain'}\n" for i in range(60)
    ),
    "crlf.txt": "alpha match\r\nbeta\r\nmatch end\r\n",
    "no_newline.txt": "first\nlast match",
    "bom.txt": "\ufeffmatch after bom\n",
    "ws/trailing.py": "def x():\n    pass  \n\tmatch\n",
    "multi/span.txt": "start here\nmiddle\nend here\nstart again\nend\n",
    "zz/empty.txt": "",
    "lit/dots.txt": "h.llo literal\nhello\n(a+b)*[c]\n",
    "zz/long.txt": "match " + "y" * 2000 + "\n",
}

QUERIES: list[dict[str, Any]] = [
    {"pattern": "hello"},
    {"pattern": "hello", "output_mode": "content"},
    {"pattern": "hello", "output_mode": "count"},
    {"pattern": "Hello"},  # smart case: capitals make it case-sensitive
    {"pattern": "hello", "case_sensitive": True, "output_mode": "content"},
    {"pattern": "HELLO", "case_sensitive": False, "output_mode": "content"},
    {"pattern": "h.llo", "literal": True},
    {"pattern": "(a+b)*[c]", "literal": True, "output_mode": "content"},
    {"pattern": "h.llo", "output_mode": "content", "n": False},
    {"pattern": r"\bdef\s+\w+\(", "output_mode": "content"},
    {"pattern": r"^\s*(return|print)\b", "output_mode": "content", "c": 1},
    {"pattern": "match", "output_mode": "content", "a": 2, "b": 1},
    {"pattern": "match", "output_mode": "content", "c": 2, "head_limit": 7},
    {"pattern": "match", "output_mode": "content", "c": 1, "head_limit": 5, "offset": 5},
    {"pattern": "match", "head_limit": 2},
    {"pattern": "match", "head_limit": 2, "offset": 2},
    {"pattern": "match", "output_mode": "count", "head_limit": 3, "offset": 1},
    {"pattern": "match$", "output_mode": "content"},
    {"pattern": "^match", "output_mode": "content"},
    {"pattern": "hello", "glob": "*.md"},
    {"pattern": "hello", "glob": "src/**/*.py", "output_mode": "content"},
    {"pattern": "hello", "glob": "*.{py,ts}"},
    {"pattern": "hello", "glob": "[!g]*.{md,txt}"},  # too fancy for ripgrep's pre-filter
    {"pattern": "hello", "glob": "{docs,src/util}/**"},
    {"pattern": "hello", "type": "py", "output_mode": "content"},
    {"pattern": "hello", "type": "ts"},
    {"pattern": "hello", "type": "md", "path": "docs"},
    {"pattern": "hello", "include_hidden": True},
    {"pattern": "hello", "include_ignored": True},
    {"pattern": "hello", "include_sensitive": True},
    {"pattern": "hello", "include_hidden": True, "include_sensitive": True},
    {"pattern": "hello", "path": "node_modules"},
    {"pattern": "hello", "path": "src/app.py", "output_mode": "content", "case_sensitive": False},
    {"pattern": "ünï|κόσμε|CAFÉ", "output_mode": "content"},
    {"pattern": "σίσυφος", "output_mode": "content"},
    {"pattern": r"caf.\s", "output_mode": "content"},
    {"pattern": "start.*\\n.*\\n.*end", "multiline": True, "output_mode": "content"},
    {"pattern": "here\\nmiddle", "multiline": True, "output_mode": "count"},
    {"pattern": "end\\n", "multiline": True, "output_mode": "content", "c": 1},
    {"pattern": "start", "multiline": True},
    {"pattern": "binary"},
    {"pattern": "x{100}"},
    {"pattern": "y{600}", "output_mode": "content"},
    {"pattern": "nothing matches this"},
    {"pattern": "[0-9]+ match", "output_mode": "content", "head_limit": 4},
    {"pattern": "(?i)ALPHA", "output_mode": "content"},
]


@pytest.fixture
async def tree(tmp_path: Path) -> LocalWorkspaceBackend:
    workspace = LocalWorkspaceBackend(tmp_path / "ws")
    await plant(workspace, {**SAMPLE, **EXTRA})
    return workspace


def test_ripgrep_is_installed() -> None:
    assert shutil.which("rg") is not None, "the parity suite needs ripgrep (see .ci/run)"


async def test_engines_agree(tree: LocalWorkspaceBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    with_rg = [await search(tree, **query) for query in QUERIES]
    without_rg(monkeypatch)
    with_python = [await search(tree, **query) for query in QUERIES]
    mismatches = []
    for query, rg_outcome, py_outcome in zip(QUERIES, with_rg, with_python, strict=True):
        assert rg_outcome.engine == "ripgrep" and py_outcome.engine == "python"
        if rg_outcome.body != py_outcome.body:
            mismatches.append(f"{query}\n  rg: {rg_outcome.body}\n  py: {py_outcome.body}")
    assert not mismatches, "\n".join(mismatches)
    # The suite is only as good as its queries: all but two find something.
    empty = [q["pattern"] for q, o in zip(QUERIES, with_rg, strict=True) if not o.body["returned"]]
    assert empty == ["binary", "nothing matches this"]


async def test_spot_checks(tree: LocalWorkspaceBackend) -> None:
    files = (await search(tree, pattern="hello")).body["files"]
    assert "data/blob.bin" not in files  # NUL in the first 8 KiB
    assert "data/late_nul.txt" in files  # NUL only after 8 KiB: text
    assert "build" in files  # a *file* named like an ignored directory is searched
    assert "pkg/build/out.js" not in files and "node_modules/lib/index.js" not in files
    assert ".env" not in files and "config/secrets.yml" not in files
    context = (await search(tree, pattern="match", output_mode="content", c=1, head_limit=2)).body
    assert context["content"].splitlines() == [
        "bom.txt:1:\ufeffmatch after bom",
        "--",
        "crlf.txt:1:alpha match",
        "crlf.txt-2-beta",
    ]
    assert context["truncated"] and context["next_offset"] == 2
    long_line = (await search(tree, pattern="y{600}", output_mode="content")).body["content"]
    assert long_line.endswith("… [1506 more characters]")


@pytest.mark.parametrize(
    ("first", "largest", "arg_bytes"),
    [(1, 4, 1), (2, 2, 64), (3, 48, 1 << 20)],
    ids=["one-path-commands", "early-hand-off", "explicit-batches"],
)
async def test_engines_agree_wherever_ripgrep_takes_over(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    first: int,
    largest: int,
    arg_bytes: int,
) -> None:
    """Tiny explicit batches and command lines: every query mixes the walk's batches with
    the hand-off of the rest of the tree, split over several ripgrep commands, and content
    and counts come from several ``--json`` processes."""
    root = tmp_path / "ws"
    workspace = LocalWorkspaceBackend(root)
    await plant(workspace, {**SAMPLE, **EXTRA})
    (root / "src" / "linked.py").symlink_to(root / "src" / "app.py")
    (root / "linked_dir").symlink_to(root / "docs")
    (root / "dangling.txt").symlink_to(root / "missing.txt")
    os.mkfifo(root / "src" / "fifo")  # a reader would block: neither engine may open it
    monkeypatch.setattr(_search_rg, "_FIRST_WALK", first)
    monkeypatch.setattr(_search_rg, "_MAX_WALK", largest)
    monkeypatch.setattr(_search_rg, "_ARG_BYTES", arg_bytes)
    monkeypatch.setattr(_search_rg, "_FIRST_BATCH", first)
    monkeypatch.setattr(_search_rg, "_MAX_BATCH", largest)
    with_rg = [await search(workspace, **query) for query in QUERIES]
    without_rg(monkeypatch)
    with_python = [await search(workspace, **query) for query in QUERIES]
    for query, rg_outcome, py_outcome in zip(QUERIES, with_rg, with_python, strict=True):
        assert rg_outcome.engine == "ripgrep" and py_outcome.engine == "python"
        assert rg_outcome.body == py_outcome.body, query
    linked = [o.body.get("files", []) for o in with_rg]
    assert not any("src/linked.py" in files or "linked_dir/guide.md" in files for files in linked)
