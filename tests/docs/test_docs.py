"""Every code block of the README and of ``docs/**/*.md`` runs, offline.

Pages are found at collection time, so a page added later is tested without listing it here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import yaml

from tests.docs._blocks import (
    SHELL_LANGUAGES,
    read_blocks,
    run_python,
    shell_commands,
    split_command,
)

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
BLOCKS = {page: read_blocks(page) for page in PAGES}

# Variables that would send a snippet to a real provider or another settings file.
_ONLINE_VARIABLES = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OLLAMA_HOST",
    "AGENTCYCLE_SETTINGS",
    "AGENTCYCLE_LIVE",
)
# How a documented command names the interpreter and the CLI, and what the test runs instead.
_PROGRAMS = {
    "python": [sys.executable],
    "python3": [sys.executable],
    ".venv/bin/python": [sys.executable],
    "agentcycle": [sys.executable, "-m", "agentcycle"],
    ".venv/bin/agentcycle": [sys.executable, "-m", "agentcycle"],
}
_SHELL_OPERATORS = frozenset({"&&", "||", "|", ";", ">", ">>", "<", "&"})


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _runnable(language: set[str] | frozenset[str]) -> list[Path]:
    return [
        page
        for page, blocks in BLOCKS.items()
        if any(b.language in language and b.not_run is None for b in blocks)
    ]


def _repository_copy(into: Path) -> Path:
    """The repository's tracked files (what a fresh clone has) copied under ``into``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    copy = into / "repo"
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return copy


def test_pages_are_found_anywhere_under_docs() -> None:
    names = [_name(page) for page in PAGES]
    assert "README.md" in names
    assert "docs/design-notes.md" in names
    assert any(name.count("/") >= 2 for name in names), "pages in docs/ subfolders are tested"


def test_every_not_run_block_says_why() -> None:
    unexplained = [b.where for blocks in BLOCKS.values() for b in blocks if b.not_run == ""]
    assert not unexplained, f"<!-- not-run: reason --> without a reason: {unexplained}"


def test_not_run_blocks_stay_rare() -> None:
    """Skipping is for real providers and Celery workers; everything else runs."""
    skipped = [b for blocks in BLOCKS.values() for b in blocks if b.not_run is not None]
    ran = [
        b
        for blocks in BLOCKS.values()
        for b in blocks
        if b.not_run is None and b.language in {"python", *SHELL_LANGUAGES}
    ]
    assert len(skipped) * 3 < len(ran), [f"{b.where}: {b.not_run}" for b in skipped]


@pytest.mark.parametrize("page", _runnable({"python"}), ids=_name)
def test_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in _ONLINE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    blocks = [b for b in BLOCKS[page] if b.language == "python" and b.not_run is None]
    run_python(blocks, {"__name__": "__docs__"})


@pytest.mark.parametrize("page", _runnable(SHELL_LANGUAGES), ids=_name)
def test_shell_blocks_run(page: Path, tmp_path: Path) -> None:
    repo = _repository_copy(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in _ONLINE_VARIABLES}
    env.update(NO_COLOR="1", XDG_STATE_HOME=str(tmp_path / "state"))
    blocks = [b for b in BLOCKS[page] if b.language in SHELL_LANGUAGES and b.not_run is None]
    for block in blocks:
        for command in shell_commands(block):
            words = split_command(command)
            program = _PROGRAMS.get(words[0])
            assert program is not None and not _SHELL_OPERATORS & set(words), (
                f"{block.where}: `{command}` cannot run offline here; run only agentcycle and "
                "python commands, or mark the block <!-- not-run: reason -->"
            )
            proc = subprocess.run(
                [*program, *words[1:]],
                cwd=repo,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 0, f"{block.where}: `{command}` -> {proc.returncode}\n" + (
                proc.stdout[-2000:] + proc.stderr[-2000:]
            )


@pytest.mark.parametrize("page", _runnable({"json", "yaml"}), ids=_name)
def test_data_blocks_parse(page: Path) -> None:
    for block in BLOCKS[page]:
        if block.not_run is None and block.language == "json":
            json.loads(block.source)
        elif block.not_run is None and block.language == "yaml":
            yaml.safe_load(block.source)


# The runner itself: what the convention promises, on pages written here.

SAMPLE = """\
# A page

```python
total = 1
```

Some prose.

<!-- not-run: needs a real provider -->
```python
raise RuntimeError("never runs")
```

  ```python
  total += 1
  ```

```python
import asyncio
await asyncio.sleep(0)
total *= 10
```

```console
$ agentcycle --version
agentcycle 0.1.0
$ agentcycle --prompt "a" \\
    --workspace .  # a comment
```
"""


def test_blocks_run_in_order_in_one_namespace_and_skip_not_run() -> None:
    blocks = read_blocks(Path("sample.md"), SAMPLE)
    assert [b.language for b in blocks] == ["python", "python", "python", "python", "console"]
    assert blocks[1].not_run == "needs a real provider"
    namespace: dict[str, object] = {}
    run_python([b for b in blocks if b.language == "python" and b.not_run is None], namespace)
    assert namespace["total"] == 20


def test_console_blocks_yield_their_commands_not_their_output() -> None:
    console = read_blocks(Path("sample.md"), SAMPLE)[-1]
    commands = shell_commands(console)
    assert commands == [
        "agentcycle --version",
        'agentcycle --prompt "a" --workspace .  # a comment',
    ]
    assert split_command(commands[1]) == ["agentcycle", "--prompt", "a", "--workspace", "."]


def test_a_failing_block_points_at_its_line_in_the_page() -> None:
    page = "# Title\n\n```python\nx = 1\nraise ValueError('broken snippet')\n```\n"
    (block,) = read_blocks(Path("docs/broken.md"), page)
    with pytest.raises(ValueError, match="broken snippet") as caught:
        run_python([block], {})
    frames = traceback.extract_tb(caught.value.__traceback__)
    assert (frames[-1].filename, frames[-1].lineno) == ("docs/broken.md", 5)


def test_an_empty_not_run_reason_is_read_as_empty() -> None:
    (block,) = read_blocks(Path("p.md"), "<!-- not-run: -->\n```bash\nrm -rf /\n```\n")
    assert block.not_run == ""
