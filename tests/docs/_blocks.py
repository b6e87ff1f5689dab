"""Reading the fenced code blocks of a markdown page, and running its Python blocks.

The convention every page follows: each ```python block runs; the blocks of one page run in
order in one namespace (so a later block uses what an earlier one defined), in a fresh temporary
working directory, offline. A block preceded by a line ``<!-- not-run: reason -->`` is skipped,
and the reason must be given. Shell blocks (```bash, ```console) run their ``agentcycle ...``
and ``python ...`` commands; any other command needs the same not-run comment.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_NOT_RUN = re.compile(r"^\s*<!--\s*not-run:(?P<reason>.*?)-->\s*$")
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    language: str
    source: str
    line: int  # 1-based line of the first line of code (after the opening fence)
    not_run: str | None  # the reason given by a preceding ``<!-- not-run: ... -->``, or None

    @property
    def where(self) -> str:
        """``page:line`` for error messages."""
        return f"{self.page}:{self.line}"


def read_blocks(page: Path, text: str | None = None) -> list[Block]:
    """Every fenced block of ``page`` in order (``text`` overrides the file's content)."""
    lines = (page.read_text(encoding="utf-8") if text is None else text).splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = opening["info"].strip().split(" ")[0].lower()
        previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
        marker = _NOT_RUN.match(previous)
        body: list[str] = []
        index += 1
        while index < len(lines) and not lines[index].strip().startswith(fence):
            line = lines[index]
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
            index += 1
        start = index - len(body) + 1
        blocks.append(
            Block(
                page=page,
                language=language,
                source="\n".join(body) + "\n",
                line=start,
                not_run=None if marker is None else marker["reason"].strip(),
            )
        )
        index += 1  # past the closing fence
    return blocks


def run_python(blocks: list[Block], namespace: dict[str, object]) -> None:
    """Run ``blocks`` in order in ``namespace``; a top-level ``await`` runs on a fresh loop.

    Each block is compiled under its page's name, padded so a traceback's line number is the
    line in the markdown file.
    """
    for block in blocks:
        code = compile(
            "\n" * (block.line - 1) + block.source,
            str(block.page),
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,
        )
        if code.co_flags & inspect.CO_COROUTINE:
            asyncio.run(eval(code, namespace))
        else:
            exec(code, namespace)


def shell_commands(block: Block) -> list[str]:
    """The commands of a shell block: ``\\``-continued lines joined, comments and (for
    ``console``) output lines left out."""
    commands: list[str] = []
    pending = ""
    for raw in block.source.splitlines():
        line = raw.strip() if pending else raw.rstrip()
        if block.language == "console" and not pending:
            if not line.startswith("$ "):
                continue  # output, shown for the reader
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        command = (pending + line).strip()
        pending = ""
        if command and not command.startswith("#"):
            commands.append(command)
    return commands


def split_command(command: str) -> list[str]:
    """``command`` as arguments, a trailing ``# comment`` dropped."""
    return shlex.split(command, comments=True)
