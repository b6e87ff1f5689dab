"""The pure-Python search engine: any backend, Python ``re``, files read in bounded chunks.

Files are found with the backend's own listing (pruned like ``find_files``), in canonical
order. Line-by-line searches read a file in chunks and stop as soon as the answer is known
(the first match for ``files_with_matches``; the per-file cap plus trailing context for
``content``); each chunk is first searched whole and skipped if nothing in it can match.
Multiline searches read the whole file.
"""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from collections.abc import AsyncGenerator

from agentcycle.tools.builtin._search_query import FileLines, SearchQuery, is_binary
from agentcycle.workspace.base import WorkspaceBackend, WorkspaceEntry

_FIRST_CHUNK = 64 * 1024
_CHUNK = 1024 * 1024


class _LineScanner:
    """Feeds complete lines through the query, keeping context and the per-file cap."""

    def __init__(self, query: SearchQuery, path: str, cap: int | None) -> None:
        self.query = query
        self.found = FileLines(path)
        self.cap = cap
        self.line_no = 0
        self.done = False
        self._before: deque[tuple[int, str]] = deque(maxlen=query.before)
        self._after_left = 0
        self._capped = False
        self._keep_text = query.mode == "content"

    def _match(self, number: int, text: str) -> None:
        found = self.found
        found.matched.append(number)
        if self.query.mode == "files_with_matches":
            self.done = True
            return
        if not self._keep_text:
            return
        while self._before:
            before_no, before_text = self._before.popleft()
            found.lines[before_no] = before_text
        found.lines[number] = text
        if self._capped:
            return  # matches inside the trailing context do not extend it
        self._after_left = self.query.after
        if self.cap is not None and len(found.matched) >= self.cap:
            self._capped = True
            self.done = self._after_left == 0

    def _context(self, number: int, text: str) -> None:
        if not self._keep_text:
            return
        if self._after_left > 0:
            self.found.lines[number] = text
            self._after_left -= 1
            if self._capped and self._after_left == 0:
                self.done = True
        elif self.query.before:
            self._before.append((number, text))

    def feed(self, text: str) -> None:
        """Complete lines (without the final line break), decoded."""
        lines = text.split("\n")
        search = self.query.compiled.search
        if self.query.prefilter_safe and search(text) is None:
            # Nothing here matches: only context bookkeeping, no search per line.
            index = 0
            while index < len(lines) and self._after_left > 0:
                self.line_no += 1
                self._context(self.line_no, lines[index])
                index += 1
                if self.done:
                    return
            first_no = self.line_no + 1
            self.line_no += len(lines) - index
            if self._keep_text and self.query.before:
                keep = max(index, len(lines) - self.query.before)
                for offset in range(keep, len(lines)):
                    self._before.append((first_no + offset - index, lines[offset]))
            return
        for line in lines:
            self.line_no += 1
            if search(line) is not None:
                self._match(self.line_no, line)
            else:
                self._context(self.line_no, line)
            if self.done:
                return


def _scan_multiline(query: SearchQuery, path: str, text: str) -> FileLines:
    """Search a whole file at once; matches may span lines."""
    found = FileLines(path)
    if not text:
        return found
    breaks = [index for index, char in enumerate(text) if char == "\n"]
    line_count = len(breaks) + (0 if text.endswith("\n") else 1)
    matched: set[int] = set()
    for match in query.compiled.finditer(text):
        start, end = match.span()
        if start >= len(text) and text.endswith("\n"):
            continue  # the empty "line" after the final line break is not a line
        first = bisect.bisect_left(breaks, start) + 1
        last = bisect.bisect_left(breaks, max(start, end - 1)) + 1
        matched.update(range(first, min(last, line_count) + 1))
        if query.mode == "files_with_matches":
            break
    found.matched = sorted(matched)
    if query.mode != "content" or not matched:
        return found
    wanted: set[int] = set()
    for number in found.matched:
        wanted.update(range(max(1, number - query.before), number + query.after + 1))
    lines = text.split("\n")
    for number in sorted(wanted):
        if number <= line_count:
            found.lines[number] = lines[number - 1]
    return found


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


async def search_file(
    query: SearchQuery, workspace: WorkspaceBackend, entry: WorkspaceEntry, cap: int | None
) -> FileLines | None:
    """Search one file; ``None`` when it is binary or has no match."""
    size = entry.size if entry.size is not None else 0
    first = size if size <= _CHUNK else _FIRST_CHUNK
    data = await workspace.read_bytes(entry.path, end=max(first, 1))
    if is_binary(data):
        return None
    if query.multiline:
        if len(data) < size:
            data += await workspace.read_bytes(entry.path, start=len(data))
        found = _scan_multiline(query, entry.path, _decode(data))
        return found if found.matched else None
    scanner = _LineScanner(query, entry.path, cap)
    offset, pending = len(data), data
    while not scanner.done:
        if offset >= size:
            if pending:
                scanner.feed(_decode(pending[:-1] if pending.endswith(b"\n") else pending))
            break
        cut = pending.rfind(b"\n")
        if cut >= 0:
            scanner.feed(_decode(pending[:cut]))
            pending = pending[cut + 1 :]
            if scanner.done:
                break
        data = await workspace.read_bytes(entry.path, start=offset, end=offset + _CHUNK)
        if not data:
            size = offset  # the file shrank since it was listed
        offset += len(data)
        pending += data
    return scanner.found if scanner.found.matched else None


async def search(
    query: SearchQuery,
    workspace: WorkspaceBackend,
    *,
    cap: int | None,
    cancelled: asyncio.Event,
) -> AsyncGenerator[FileLines, None]:
    """Files with matches under ``query.base`` (or the file it names), in canonical order."""
    base_entry = await workspace.info(query.base)
    if not base_entry.is_dir:
        found = await search_file(query, workspace, base_entry, cap)
        if found is not None:
            yield found
        return
    visibility = query.visibility
    glob = query.raw_glob if query.glob is not None and not query.glob_on_name else "**"
    listing = workspace.list(
        query.base, glob=glob, descend=lambda path: visibility.refusal(path) is None
    )
    try:
        async for entry in listing:
            if cancelled.is_set():
                return
            if (
                entry.is_dir
                or entry.is_link
                or not visibility.shows(entry.path, False)
                or not query.selects(entry.path)
            ):
                continue
            found = await search_file(query, workspace, entry, cap)
            if found is not None:
                yield found
    finally:
        await listing.aclose()
