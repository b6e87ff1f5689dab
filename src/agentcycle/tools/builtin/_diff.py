"""A bounded unified diff of an exact-string replacement, built from where the matches are.

Diffing two whole files costs time that grows with their size (and worse for some shapes).
``edit_file`` knows exactly which characters it replaced, so the diff is built region by
region: each region is the lines one match (or several matches sharing lines) touched, refined
with :mod:`difflib` inside the region only, with three lines of context around each hunk. The
text stops growing at ``max_chars`` (measured as JSON-escaped text) with a marker saying so.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from agentcycle.tools.builtin._read_window import json_chars

CONTEXT_LINES = 3
MAX_DIFF_CHARS = 4_000
_REFINE_LIMIT = 2_000
"""Regions with more lines than this are shown as a whole replacement, not refined."""
_NO_NEWLINE = "\\ No newline at end of file\n"


def split_lines(text: str) -> list[str]:
    """Lines with their ``\\n`` kept; only ``\\n`` separates lines (``\\r`` stays in the line)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


@dataclass(frozen=True, slots=True)
class _Region:
    """Lines ``start .. start+len(old)`` of the old text became ``new``."""

    start: int
    old: list[str]
    new: list[str]


def _regions(text: str, old: str, new: str, *, replace_all: bool) -> Iterator[_Region]:
    """The changed regions, in order, for replacing ``old`` by ``new`` in ``text``."""
    match = text.find(old)
    line = 0
    counted = 0
    while match != -1:
        start = text.rfind("\n", 0, match) + 1
        pieces = [text[start:match], new]
        done = match + len(old)
        stop = _line_end(text, done)
        match = text.find(old, done) if replace_all else -1
        while True:
            if match != -1 and match < stop:  # another match on the region's lines joins it
                pieces += [text[done:match], new]
                done = match + len(old)
                stop = max(stop, _line_end(text, done))
                match = text.find(old, done)
            elif stop == done < len(text) and _ends_mid_line(pieces):
                # The replacement ends without a newline: the next line joins its last line.
                stop = _line_end(text, stop + 1)
            else:
                break
        pieces.append(text[done:stop])
        line += text.count("\n", counted, start)
        counted = start
        yield _Region(line, split_lines(text[start:stop]), split_lines("".join(pieces)))


def _ends_mid_line(pieces: list[str]) -> bool:
    joined = "".join(pieces)
    return bool(joined) and not joined.endswith("\n")


def _line_end(text: str, done: int) -> int:
    """The end (after its newline) of the line holding the character before ``done``."""
    newline = text.find("\n", done - 1)
    return len(text) if newline == -1 else newline + 1


def _opcodes(region: _Region) -> Sequence[tuple[str, int, int, int, int]]:
    if len(region.old) + len(region.new) > _REFINE_LIMIT:
        return [("replace", 0, len(region.old), 0, len(region.new))]
    matcher = difflib.SequenceMatcher(None, region.old, region.new, autojunk=False)
    return matcher.get_opcodes()


def _hunks(lines: list[str], regions: Iterator[_Region], max_lines: int) -> Iterator[list[str]]:
    """Unified-diff hunks (header first); regions closer than twice the context share one.

    A hunk stops growing past ``max_lines`` diff lines: the output is cut inside it anyway,
    and a replacement on every line of a big file must not be laid out whole.
    """
    group: list[_Region] = []
    size = 0
    shift = 0  # new line number minus old line number before the current group
    for region in regions:
        gap = region.start - _old_end(group[-1]) if group else 0
        if group and (gap > 2 * CONTEXT_LINES or size > max_lines):
            yield _format(lines, group, shift)
            shift += sum(len(r.new) - len(r.old) for r in group)
            group, size, gap = [], 0, 0
        group.append(region)
        size += gap + len(region.old) + len(region.new)
    if group:
        yield _format(lines, group, shift)


def _old_end(region: _Region) -> int:
    return region.start + len(region.old)


def _format(lines: list[str], group: list[_Region], shift: int) -> list[str]:
    first = max(group[0].start - CONTEXT_LINES, 0)
    last = min(_old_end(group[-1]) + CONTEXT_LINES, len(lines))
    body: list[str] = []
    at = first
    for region in group:
        body += [" " + line for line in lines[at : region.start]]
        for tag, i1, i2, j1, j2 in _opcodes(region):
            if tag == "equal":
                body += [" " + line for line in region.old[i1:i2]]
                continue
            body += ["-" + line for line in region.old[i1:i2]]
            body += ["+" + line for line in region.new[j1:j2]]
        at = _old_end(region)
    body += [" " + line for line in lines[at:last]]
    old_count = last - first
    new_count = old_count + sum(len(r.new) - len(r.old) for r in group)
    header = f"@@ -{_span(first, old_count)} +{_span(first + shift, new_count)} @@\n"
    return [header, *(_terminated(line) for line in body)]


def _span(start: int, count: int) -> str:
    """A hunk range as unified diffs write it (1-based; an empty range names the line before)."""
    if count == 1:
        return str(start + 1)
    return f"{start + 1 if count else start},{count}"


def _terminated(line: str) -> str:
    return line if line.endswith("\n") else line + "\n" + _NO_NEWLINE


def replacement_diff(
    path: str,
    text: str,
    old: str,
    new: str,
    *,
    replace_all: bool,
    max_chars: int = MAX_DIFF_CHARS,
) -> tuple[str, bool]:
    """The unified diff of replacing ``old`` by ``new`` in ``text`` (every match when
    ``replace_all``, else the first), and whether it was cut at ``max_chars``."""
    out = [f"--- a/{path}\n", f"+++ b/{path}\n"]
    cost = sum(json_chars(line) for line in out)
    lines = split_lines(text)
    regions = _regions(text, old, new, replace_all=replace_all)
    for hunk in _hunks(lines, regions, max_lines=max_chars):
        for line in hunk:
            cost += json_chars(line)
            if cost > max_chars:
                out.append(f"... [diff cut at {max_chars} characters]\n")
                return "".join(out), True
            out.append(line)
    return "".join(out), False
