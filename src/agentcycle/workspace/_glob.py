"""Workspace glob patterns: compile once, match paths, prune directories that cannot match.

Syntax (matched against paths relative to the listing's base directory, case-sensitively):
``*`` any run of characters within one segment (dots included), ``?`` one character,
``[abc]`` / ``[a-z]`` / ``[!abc]`` character classes, ``**`` as a whole segment zero or more
segments, ``{a,b}`` alternatives (nestable). A pattern without ``/`` matches only direct
children: ``*.py`` is the base's own Python files, ``**/*.py`` all of them. Backslash is a
separator as everywhere in the path policy, so there is no escape character; write ``[*]``
for a literal star.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from agentcycle.errors import WorkspaceError
from agentcycle.workspace.paths import normalize_path

MAX_ALTERNATIVES = 256
"""Most alternatives one pattern may expand to (``{a,b}{c,d}`` is four)."""

_META = re.compile(r"[*?\[]")


def _invalid(pattern: str, why: str) -> WorkspaceError:
    return WorkspaceError(
        f"glob {pattern[:120]!r} is not usable: {why}",
        code="invalid_glob",
        details={"glob": pattern[:120]},
    )


def _expand_braces(pattern: str, original: str) -> list[str]:
    """Expand ``{a,b}`` alternatives; braces without a top-level comma stay literal."""
    search_from = 0
    while (opening := pattern.find("{", search_from)) != -1:
        depth = 0
        commas: list[int] = []
        closing = -1
        for index in range(opening, len(pattern)):
            char = pattern[index]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    closing = index
                    break
            elif char == "," and depth == 1:
                commas.append(index)
        if closing == -1:
            break
        if not commas:
            search_from = opening + 1
            continue
        head, tail = pattern[:opening], pattern[closing + 1 :]
        bounds = [opening, *commas, closing]
        expanded: list[str] = []
        for left, right in itertools.pairwise(bounds):
            expanded.extend(_expand_braces(head + pattern[left + 1 : right] + tail, original))
            if len(expanded) > MAX_ALTERNATIVES:
                raise _invalid(original, f"it expands to more than {MAX_ALTERNATIVES} patterns")
        return expanded
    return [pattern]


def _class_regex(body: str) -> str:
    """Translate the inside of a ``[...]`` class; a negated class never matches ``/``."""
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    # Escape what is special inside a regex class except '-', which keeps its range meaning.
    escaped = re.sub(r"([\\\[\]^&~|])", r"\\\1", body)
    return f"[^/{escaped}]" if negate else f"[{escaped}]"


def _segment_regex(segment: str) -> str:
    """Translate one pattern segment (no ``/`` in it) into a regex fragment."""
    out: list[str] = []
    index, length = 0, len(segment)
    while index < length:
        char = segment[index]
        if char == "*":
            if not out or out[-1] != "[^/]*":
                out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = index + 1
            if end < length and segment[end] in "!^":
                end += 1
            if end < length and segment[end] == "]":
                end += 1
            end = segment.find("]", end)
            if end == -1:
                out.append(re.escape(char))
            else:
                out.append(_class_regex(segment[index + 1 : end]))
                index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


@dataclass(frozen=True, slots=True)
class _Alternative:
    """One brace-free pattern: its segments and their compiled forms."""

    segments: tuple[str, ...]
    segment_res: tuple[re.Pattern[str] | None, ...]  # None for a "**" segment
    full: re.Pattern[str]

    @classmethod
    def compile(cls, normalized: str) -> _Alternative:
        segments: list[str] = []
        for segment in normalized.split("/"):
            if segment == "**" and segments and segments[-1] == "**":
                continue  # "**/**" means the same as "**"
            segments.append(segment)
        parts: list[str] = []
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            if segment == "**":
                parts.append(".*" if last else "(?:[^/]+/)*")
            else:
                parts.append(_segment_regex(segment) + ("" if last else "/"))
        segment_res = tuple(
            None if s == "**" else re.compile(_segment_regex(s), re.DOTALL) for s in segments
        )
        return cls(tuple(segments), segment_res, re.compile("".join(parts), re.DOTALL))

    def may_descend(self, dir_segments: list[str]) -> bool:
        for index, name in enumerate(dir_segments):
            if index >= len(self.segments):
                return False
            segment_re = self.segment_res[index]
            if segment_re is None:
                return True
            if not segment_re.fullmatch(name):
                return False
        return len(self.segments) > len(dir_segments)

    def literal_dirs(self) -> list[str]:
        """Leading segments without wildcards, excluding the last (which is always matched)."""
        literal: list[str] = []
        for segment in self.segments[:-1]:
            if segment == "**" or _META.search(segment):
                break
            literal.append(segment)
        return literal


class GlobMatcher:
    """A compiled glob: ``matches`` a base-relative path, ``may_descend`` prunes directories.

    ``start`` is the base-relative directory where a walk can begin (the literal directory
    prefix common to every alternative); ``recursive`` says whether any alternative has ``**``.
    ``GlobMatcher(None)`` matches the base's direct children only.
    """

    __slots__ = ("_alternatives", "_only", "pattern", "recursive", "start")

    def __init__(self, pattern: str | None) -> None:
        self.pattern = pattern
        if pattern is None:
            alternatives = [_Alternative.compile("*")]
        else:
            if not isinstance(pattern, str):
                raise TypeError(f"glob patterns are str, not {type(pattern).__name__}")
            alternatives = []
            for expanded in _expand_braces(pattern, pattern):
                normalized = normalize_path(expanded)
                if not normalized:
                    raise _invalid(pattern, "it names the base directory itself, not entries")
                try:
                    alternatives.append(_Alternative.compile(normalized))
                except re.error as error:  # a class like [z-a]: a bad pattern, not a crash
                    raise _invalid(pattern, str(error)) from None
        self._alternatives = tuple(alternatives)
        # One alternative (the usual case) is matched without the loop: listings call this a lot.
        self._only = alternatives[0].full.fullmatch if len(alternatives) == 1 else None
        self.recursive = any("**" in a.segments for a in alternatives)
        common = alternatives[0].literal_dirs()
        for alternative in alternatives[1:]:
            other = alternative.literal_dirs()
            size = 0
            while size < min(len(common), len(other)) and common[size] == other[size]:
                size += 1
            common = common[:size]
        self.start = "/".join(common)

    def matches(self, relative: str) -> bool:
        """Whether a path relative to the listing base matches the pattern."""
        if self._only is not None:
            return self._only(relative) is not None
        return any(a.full.fullmatch(relative) for a in self._alternatives)

    def may_descend(self, relative_dir: str) -> bool:
        """Whether anything below this base-relative directory could match."""
        segments = relative_dir.split("/") if relative_dir else []
        return any(a.may_descend(segments) for a in self._alternatives)
