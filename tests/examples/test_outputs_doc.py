"""The Python blocks of ``docs/outputs.md`` run offline as written (each in a fresh namespace,
unless the line before it is ``<!-- not-run: reason -->``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "outputs.md"
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.DOTALL)


def _blocks() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    return [m["code"] for m in BLOCK.finditer(text) if not m["before"].startswith("<!-- not-run")]


def test_the_page_has_runnable_blocks() -> None:
    assert len(_blocks()) >= 4


@pytest.mark.parametrize("index", range(len(_blocks())))
def test_block_runs(index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTCYCLE_SETTINGS", raising=False)
    monkeypatch.chdir(tmp_path)  # no settings file: the blocks need none
    code = _blocks()[index]
    exec(compile(code, f"{PAGE.name}[{index}]", "exec"), {"__name__": "docs_block"})
