"""One ``search_files`` query, checked and resolved once, and what engines report back.

Both engines (ripgrep and pure Python) take a :class:`SearchQuery` and yield
:class:`FileLines` in canonical path order; everything that decides *what* matches (the regex
subset, smart case, file selection, the binary rule) lives here so the engines cannot drift.

The regex subset is what Python's ``re`` and Rust's ``regex`` (ripgrep) both read the same way:
literals, ``.``, classes (``[a-z]``, ``\\d \\w \\s`` and negations, Unicode-aware), anchors
``^ $ \\b \\B``, groups ``(...)`` ``(?:...)`` ``(?P<name>...)``, alternation, the quantifiers
``* + ? {m,n}`` and their lazy forms, and inline flags ``(?i)``. Look-around, back-references,
atomic groups, possessive quantifiers and conditionals are rejected (``invalid_pattern``) in
both engines because ripgrep's default engine has none of them; anything one engine cannot
compile is ``invalid_pattern`` with that engine's message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from agentcycle.errors import AgentcycleError
from agentcycle.tools.builtin._scope import Visibility, type_matcher
from agentcycle.workspace._glob import GlobMatcher
from agentcycle.workspace.paths import path_name, relative_to

OutputMode = Literal["files_with_matches", "content", "count"]

BINARY_SNIFF_BYTES = 8192
"""A file with a NUL byte in its first 8 KiB is binary and skipped (ripgrep's heuristic)."""

_UNSUPPORTED = re.compile(
    r"""\\[1-9]          # numbered back-reference
    | \(\?[=!]          # look-ahead
    | \(\?<[=!]         # look-behind
    | \(\?P=            # named back-reference
    | \(\?>             # atomic group
    | \(\?\(            # conditional
    | [*+?}]\+          # possessive quantifier
    """,
    re.VERBOSE,
)
_ESCAPE_PAIR = re.compile(r"\\[pP]\{[^}]*\}|\\.", re.DOTALL)
_SPECIAL = frozenset("\\.+*?()|[]{}^$")


class InvalidPattern(AgentcycleError):
    """The pattern is outside the supported regex subset or does not compile."""

    code = "invalid_pattern"


def escape_regex(text: str) -> str:
    """``text`` as a regex matching it literally, in syntax both engines read identically."""
    out: list[str] = []
    for char in text:
        if char in _SPECIAL:
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        else:
            out.append(char)
    return "".join(out)


def _without_escapes(text: str) -> str:
    """The pattern without escape sequences, so ``\\W`` or ``\\p{Lu}`` is not "uppercase"."""
    return _ESCAPE_PAIR.sub("", text)


def smart_ignore_case(pattern: str, literal: bool) -> bool:
    """Smart case: ignore case unless the pattern has an uppercase letter of its own."""
    letters = pattern if literal else _without_escapes(pattern)
    return not any(char.isupper() for char in letters)


def _unsupported(pattern: str) -> str | None:
    # Escaped backslashes first, so ``\\\\1`` (a literal backslash then 1) is not a backref.
    scrubbed = pattern.replace("\\\\", "")
    # A bracket expression is literal text: ``[?>]`` is fine.
    found = _UNSUPPORTED.search(re.sub(r"\[(?:\\.|[^\]\\])*\]", "", scrubbed))
    return found.group(0) if found else None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A validated search: the regex in shared syntax plus every option that shapes results."""

    pattern: str
    regex: str
    ignore_case: bool
    multiline: bool
    mode: OutputMode
    base: str
    visibility: Visibility
    glob: GlobMatcher | None
    glob_on_name: bool
    raw_glob: str | None
    file_type: str | None
    types: GlobMatcher | None
    before: int
    after: int
    line_numbers: bool
    compiled: re.Pattern[str] = field(repr=False)

    @classmethod
    def from_args(cls, base: str, args: dict[str, Any]) -> SearchQuery:
        """Resolve tool arguments (``base`` already normalised); raise ``invalid_pattern``."""
        pattern: str = args["pattern"]
        literal = bool(args.get("literal", False))
        multiline = bool(args.get("multiline", False))
        if not pattern:
            raise InvalidPattern("the pattern is empty", details={"pattern": pattern})
        if not multiline and "\n" in pattern:
            raise InvalidPattern(
                "the pattern contains a line break; pass multiline=true to match across lines",
                details={"pattern": pattern[:200]},
            )
        if literal:
            regex = escape_regex(pattern)
        else:
            if not multiline and re.search(r"(?<!\\)(?:\\\\)*\\n", pattern):
                raise InvalidPattern(
                    "the pattern matches a line break (\\n); pass multiline=true",
                    details={"pattern": pattern[:200]},
                )
            bad = _unsupported(pattern)
            if bad is not None:
                raise InvalidPattern(
                    f"{bad!r} is not supported: look-around, back-references, atomic groups, "
                    "possessive quantifiers and conditionals are unavailable",
                    details={"pattern": pattern[:200]},
                )
            regex = pattern
        case = args.get("case_sensitive")
        ignore_case = smart_ignore_case(pattern, literal) if case is None else not case
        flags = re.MULTILINE | (re.IGNORECASE if ignore_case else 0)
        try:
            compiled = re.compile(regex, flags)
        except re.error as error:
            raise InvalidPattern(
                f"the pattern does not compile: {error}", details={"pattern": pattern[:200]}
            ) from None
        raw_glob = args.get("glob") or None
        glob_on_name = raw_glob is not None and "/" not in raw_glob and "\\" not in raw_glob
        context = int(args.get("c") or 0)
        return cls(
            pattern=pattern,
            regex=regex,
            ignore_case=ignore_case,
            multiline=multiline,
            mode=args.get("output_mode") or "files_with_matches",
            base=base,
            visibility=Visibility.from_args(base, args),
            glob=GlobMatcher(raw_glob) if raw_glob is not None else None,
            glob_on_name=glob_on_name,
            raw_glob=raw_glob,
            file_type=args.get("type"),
            types=type_matcher(args.get("type")),
            before=max(int(args.get("b") or 0), context),
            after=max(int(args.get("a") or 0), context),
            line_numbers=bool(args.get("n", True)),
            compiled=compiled,
        )

    @property
    def prefilter_safe(self) -> bool:
        """Whether searching a whole chunk first can only over-report per-line matches.

        ``\\A`` and ``\\Z`` mean "start/end of text", which per line is every line.
        """
        return "\\A" not in self.regex and "\\Z" not in self.regex

    def selects(self, path: str) -> bool:
        """Whether the glob and type filters accept the file ``path`` (below ``base``)."""
        name = path_name(path)
        if self.types is not None and not self.types.matches(name):
            return False
        if self.glob is None:
            return True
        return self.glob.matches(name if self.glob_on_name else relative_to(path, self.base))


@dataclass(slots=True)
class FileLines:
    """What one engine found in one file, in line order.

    ``lines`` maps 1-based line numbers to their text (no line break) for every matching line
    and every context line; ``matched`` holds the matching line numbers. In
    ``files_with_matches`` mode both stay empty; in ``count`` mode only ``matched`` is filled.
    """

    path: str
    lines: dict[int, str] = field(default_factory=dict)
    matched: list[int] = field(default_factory=list)


def is_binary(head: bytes) -> bool:
    """The binary rule shared by both engines."""
    return b"\x00" in head[:BINARY_SNIFF_BYTES]
