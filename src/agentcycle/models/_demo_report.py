"""What the offline demo planner knows from tool results, and the report it writes from them.

Everything here works on the tool results as the model sees them (JSON text), so the demo reads
the workspace exactly the way a real model would, through the real tools.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

REPORT = "REPORT.md"
MANIFESTS = ("pyproject.toml", "package.json", "Cargo.toml", "go.mod", "setup.py", "pom.xml")
_READMES = ("README", "Readme", "readme")
_TEXT_SUFFIXES = (
    ".md", ".rst", ".txt", ".py", ".toml", ".json", ".yaml", ".yml", ".cfg", ".ini", ".js",
    ".ts", ".go", ".rs", ".java", ".c", ".h", ".cpp", ".rb", ".sh", ".html", ".css",
)  # fmt: skip
_LAYOUT_SHOWN = 30
_EXCERPT_CHARS = 600
_MANIFEST_KEYS = re.compile(r'^\s*"?(name|version|description|requires-python|module)"?\s*[=:]')

SUMMARY_WORDS = (
    "summar", "report", "overview", "describe", "explain", "survey", "review", "analy",
    "what is", "what's", "tell me about", "look at", "understand", "document", "project",
    "概述", "总结", "介绍", "分析",
)  # fmt: skip
"""A request containing one of these (case-folded) is one the fixed plan answers: a report."""


def is_report_request(task: str) -> bool:
    """Whether the demo's fixed plan (survey, read, write a report) answers ``task``."""
    folded = task.casefold()
    return any(word in folded for word in SUMMARY_WORDS)


def loads(text: str) -> dict[str, Any]:
    """A tool result or arguments object; ``{}`` when ``text`` is not a JSON object."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Listing:
    """A ``find_files`` answer: its entries, and whether more exist than it shows."""

    entries: tuple[dict[str, Any], ...] = ()
    truncated: bool = False
    skipped: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Listing:
        """The listing in a ``find_files`` result (empty when it is not one)."""
        body = loads(text)
        entries = tuple(e for e in body.get("files") or () if isinstance(e, dict) and "path" in e)
        # Hidden folders (.github, .ci) are the project's own; ignored ones are not.
        skipped = tuple(
            str(s.get("path"))
            for s in body.get("summarised") or ()
            if isinstance(s, dict) and s.get("kind") == "ignored"
        )
        return cls(entries, bool(body.get("truncated") or body.get("scan_truncated")), skipped)

    def files(self) -> list[str]:
        """Paths of the files listed (directories left out)."""
        return [str(e["path"]) for e in self.entries if e.get("type") != "directory"]

    def has(self, path: str) -> bool:
        """Whether ``path`` is listed."""
        return any(e["path"] == path for e in self.entries)


def pick_files(listings: list[Listing], limit: int) -> list[str]:
    """Up to ``limit`` files worth reading: READMEs, then manifests, then other text files,
    shallow before deep; never the demo's own report."""
    seen: list[str] = []
    for listing in listings:
        seen += [p for p in listing.files() if p not in seen and p != REPORT]

    def rank(path: str) -> tuple[int, int]:
        name = path.rsplit("/", 1)[-1]
        if name.startswith(_READMES):
            kind = 0
        elif name in MANIFESTS:
            kind = 1
        elif name.endswith(_TEXT_SUFFIXES):
            kind = 2
        else:
            kind = 3
        return kind, path.count("/")

    readable = [p for p in seen if rank(p)[0] < 3]
    return sorted(readable, key=rank)[:limit]


@dataclass(slots=True)
class ReadFile:
    """A file the run read: its path, line count and the text shown."""

    path: str
    lines: int | None
    text: str
    truncated: bool = False

    @classmethod
    def parse(cls, path: str, result: str) -> ReadFile | None:
        """The file in a ``read_file`` result; ``None`` when the read failed."""
        body = loads(result)
        if not body.get("ok"):
            return None
        lines = body.get("total_lines")
        return cls(
            path,
            lines if isinstance(lines, int) else None,
            str(body.get("content") or ""),
            bool(body.get("truncated")),
        )


@dataclass(slots=True)
class Findings:
    """What the run learnt, in the order the report shows it."""

    task: str
    layout: Listing = field(default_factory=Listing)
    read: list[ReadFile] = field(default_factory=list)
    failed_reads: list[str] = field(default_factory=list)

    @property
    def earlier_report(self) -> ReadFile | None:
        """The ``REPORT.md`` an earlier run wrote, when this run read it (to replace it)."""
        return next((read for read in self.read if read.path == REPORT), None)


def render_report(findings: Findings) -> str:
    """The Markdown report the demo writes."""
    layout = findings.layout
    lines = ["# Workspace report", "", f"Request: {findings.task}", "", "## Layout", ""]
    if not layout.entries:
        lines.append("The workspace is empty (no visible files or folders).")
    else:
        dirs = [e for e in layout.entries if _is_dir(e)]
        more = " at least" if layout.truncated else ""
        files = len(layout.entries) - len(dirs)
        lines.append(
            f"Top level:{more} {_count(len(layout.entries), 'entry', 'entries')} "
            f"({_count(len(dirs), 'folder')}, {_count(files, 'file')})."
        )
        lines.append("")
        for entry in layout.entries[:_LAYOUT_SHOWN]:
            path = entry["path"]
            if _is_dir(entry):
                lines.append(f"- `{path}/`")
            else:
                notes = [_size(entry.get("size"))]
                if path == REPORT:
                    notes.append("this report as an earlier run wrote it")
                shown = ", ".join(note for note in notes if note)
                lines.append(f"- `{path}` ({shown})" if shown else f"- `{path}`")
        hidden = len(layout.entries) - _LAYOUT_SHOWN
        if hidden > 0 or layout.truncated:
            lines.append("- … and more" if layout.truncated else f"- … and {hidden} more")
    if layout.skipped:
        shown = ", ".join(f"`{s}`" for s in layout.skipped)
        lines += [
            "",
            f"Not looked into (version control, dependencies, caches, build output): {shown}.",
        ]
    reports = [f for f in findings.read if f.path != REPORT]
    lines += ["", "## Key files", ""]
    if not reports:
        lines += ["No text files to read at the top of the workspace.", ""]
    for read in reports:
        count = f" ({_count(read.lines, 'line')})" if read.lines is not None else ""
        lines += [f"### `{read.path}`{count}", "", *_excerpt(read), ""]
    earlier = findings.earlier_report
    if earlier is not None:
        count = f" ({_count(earlier.lines, 'line')})" if earlier.lines is not None else ""
        lines += [f"Also read: the earlier `{REPORT}`{count}, which this report replaces.", ""]
    if findings.failed_reads:
        lines.append("Could not read: " + ", ".join(f"`{p}`" for p in findings.failed_reads))
    if lines[-1]:  # one blank line before the rule, after an excerpt as after a sentence
        lines.append("")
    lines += [
        "---",
        "Written by the agentcycle offline demo model, which follows a fixed plan (list the "
        "workspace, read a few key files, write this report) whatever the request. Run with a "
        "real model for real answers: `agentcycle --model openai:gpt-4.1-mini` (with "
        "`OPENAI_API_KEY` set) or `--model ollama:qwen2.5` for a local Ollama.",
    ]
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"


def _is_dir(entry: dict[str, Any]) -> bool:
    return entry.get("type") == "directory"


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return ""
    if size < 1024:
        return f"{size} bytes"
    return f"{size / 1024:.1f} KiB" if size < 1024 * 1024 else f"{size / 2**20:.1f} MiB"


def _excerpt(read: ReadFile) -> list[str]:
    """The part of a file worth quoting: a README's title and first paragraph, a manifest's
    name/version/description lines, otherwise the first non-empty lines."""
    text = read.text
    name = read.path.rsplit("/", 1)[-1]
    if name in MANIFESTS:
        # The first of each key is the project's own; later ones name other things
        # (dependencies, tool settings such as a linter contract's ``name``).
        firsts: dict[str, str] = {}
        for line in text.splitlines():
            key = _MANIFEST_KEYS.match(line)
            if key is not None:
                firsts.setdefault(key.group(1), line.strip())
        facts = list(firsts.values())
        if facts:
            return ["```", *facts[:6], "```"]
    if name.startswith(_READMES):
        return _readme_excerpt(text)
    first = [line for line in text.splitlines() if line.strip()][:5]
    return ["```", *(line[:120] for line in first), "```"] if first else ["(empty)"]


def _readme_excerpt(text: str) -> list[str]:
    title = ""
    paragraph: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not title and stripped.startswith("#"):
            title = stripped.lstrip("#").strip()
            continue
        if not stripped:
            if paragraph:
                break
            continue
        if stripped.startswith(("#", "<", "[!", "![", "```", "|")):  # badges, html, code
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    quoted = " ".join(paragraph)
    if len(quoted) > _EXCERPT_CHARS:
        quoted = quoted[: _EXCERPT_CHARS - 1] + "…"
    out = [f"**{title}**"] if title else []
    if quoted:
        out += ["", f"> {quoted}"] if out else [f"> {quoted}"]
    return out or ["(no text)"]
