"""How ``read_file`` finds and cuts what it returns, in one streaming pass over a file.

A :class:`TextScan` is fed the decoded text piece by piece. It counts characters and lines,
locates where the read starts (a line number, or a cursor's character offset) and where the
requested range ends, and keeps only a window of at most ``capacity`` characters from the
start: memory stays bounded whatever the file's size. :func:`take` then cuts the window to the
per-call limits and to what fits in a tool result once JSON-escaped.
"""

from __future__ import annotations

from dataclasses import dataclass

from agentcycle._json import dumps


def _nth_newline(text: str, n: int) -> int:
    """Index of the ``n``-th (1-based) newline in ``text``, which has at least ``n``."""
    index = -1
    for _ in range(n):
        index = text.index("\n", index + 1)
    return index


class TextScan:
    """Counts and a bounded window of a text seen in pieces (see the module docstring).

    Start either at ``start_char`` (a cursor) or at the beginning of ``start_line``; the range
    ends after ``end_line`` (or at the end of the text).
    """

    def __init__(
        self,
        *,
        capacity: int,
        start_line: int = 1,
        start_char: int | None = None,
        end_line: int | None = None,
    ) -> None:
        self.capacity = capacity
        self.chars = 0
        self.newlines = 0
        self._last = ""
        self._start_line = start_line
        self._end_line = end_line
        self.window_start: int | None = start_char
        """Character offset where the window begins, once known."""
        self.window_line: int | None = None
        """Line number at ``window_start``, once known."""
        if start_char is None:
            self.window_line = start_line
            if start_line == 1:
                self.window_start = 0
        self.range_end: int | None = None
        """Character offset just after ``end_line``, once seen (``None``: the end of text)."""
        self._parts: list[str] = []
        self._kept = 0

    def feed(self, text: str) -> None:
        """Take the next piece of the text."""
        size = len(text)
        if not size:
            return
        count = text.count("\n")
        base = self.chars
        if self.window_start is None and self.newlines + count >= self._start_line - 1:
            self.window_start = base + _nth_newline(text, self._start_line - 1 - self.newlines) + 1
        start = self.window_start
        if self.window_line is None and start is not None and start <= base + size:
            self.window_line = 1 + self.newlines + text.count("\n", 0, start - base)
        end_line = self._end_line
        if self.range_end is None and end_line is not None and self.newlines + count >= end_line:
            self.range_end = base + _nth_newline(text, end_line - self.newlines) + 1
        if start is not None and self._kept < self.capacity and start < base + size:
            offset = max(start - base, 0)
            piece = text[offset : offset + self.capacity - self._kept]
            self._parts.append(piece)
            self._kept += len(piece)
        self.chars = base + size
        self.newlines += count
        self._last = text[-1]

    @property
    def lines(self) -> int:
        """Lines in the text so far (a last line without a newline counts)."""
        return self.newlines + (1 if self.chars and self._last != "\n" else 0)

    def window(self) -> str:
        """The kept text from ``window_start``, cut at the end of the range."""
        text = "".join(self._parts)
        if self.range_end is not None and self.window_start is not None:
            text = text[: max(self.range_end - self.window_start, 0)]
        return text


def json_chars(text: str) -> int:
    """How many characters ``text`` takes inside a JSON string (without the quotes)."""
    return len(dumps(text)) - 2


@dataclass(frozen=True, slots=True)
class Slice:
    """What one read returns: the shown text, how many window characters it covers, and how
    many lines it touches (the last one possibly cut)."""

    text: str
    chars: int
    lines: int


def take(
    window: str,
    first_line: int,
    *,
    numbered: bool,
    max_chars: int,
    max_lines: int,
    budget: int,
) -> Slice:
    """The longest run of whole lines from the start of ``window`` within the limits.

    ``max_chars`` and ``max_lines`` bound the file text taken, ``budget`` the JSON-escaped size
    of what is shown (line-number prefixes included). A first line too long for the limits is
    cut inside, so every call makes progress.
    """
    shown: list[str] = []
    taken = cost = lines = 0
    position = 0
    while position < len(window) and lines < max_lines:
        newline = window.find("\n", position)
        end = len(window) if newline == -1 else newline + 1
        line = window[position:end]
        prefix = f"{first_line + lines}\t" if numbered else ""
        line_cost = json_chars(prefix + line)
        if taken + len(line) <= max_chars and cost + line_cost <= budget:
            shown.append(prefix + line)
            taken += len(line)
            cost += line_cost
            lines += 1
            position = end
            continue
        if not lines:
            keep = _fit(line, prefix, max_chars, budget)
            shown.append(prefix + line[:keep])
            taken, lines = keep, 1
        break
    return Slice("".join(shown), taken, lines)


def _fit(line: str, prefix: str, max_chars: int, budget: int) -> int:
    """The longest prefix of ``line`` (at least one character) that fits both limits."""
    low, high = 1, min(len(line), max_chars)
    while low < high:
        middle = (low + high + 1) // 2
        if json_chars(prefix + line[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return low
