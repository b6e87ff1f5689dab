"""The ripgrep search engine, for local workspaces when ``rg`` is on ``PATH``.

ripgrep runs with explicit flags so nothing outside the call changes its answers: no config
file (``--no-config``), no ignore files (``--no-ignore``: ``.gitignore`` is *not* honoured, by
either engine), no transcoding or BOM stripping (``-E none``), every file read as text (``-a``;
the shared binary rule is applied afterwards), symlinks not followed. Hidden entries stay
skipped unless asked for, and ignored directories are excluded with ``-g '!name/'`` globs.

ripgrep reports files in no particular order, so a search runs in two steps:

1. Matching files in canonical order. The walk (:mod:`._search_walk`) lists the files the Python
   engine would search, in order, and ``rg -l`` searches them in explicit batches (256 files,
   then four times more each time); sorting a batch's answer puts it in order. A common pattern
   fills the page from the first batch, so the tree is never walked whole. When the hit rate so
   far says the next batch will not fill the page, and filling it would take more than 16,384
   further files or more than 1/2.5 of the files the walk estimates are left (a file in an
   explicit batch costs about 2.5 times one ripgrep reaches by walking a directory itself),
   the rest of the walk (the files and whole directories not reached yet) goes to one ``rg -l``
   (ripgrep's fast path), whose answer is checked against the same visibility, glob and type
   rules as the Python engine and sorted. Long path lists are split over several commands.
2. Files are then taken in that order, skipping binary ones, and for ``content`` and ``count``
   searched with ``rg --json -j1``: once at least 16 files are waiting (then 64, 256, 1024),
   all of them go to one process (1,024 at most each), killed as soon as the caller has
   enough. The whole answer for the rest of the tree thus usually costs one process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import stat
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

from agentcycle.tools.builtin._scope import FILE_TYPES
from agentcycle.tools.builtin._search_query import (
    BINARY_SNIFF_BYTES,
    FileLines,
    InvalidPattern,
    SearchQuery,
    is_binary,
)
from agentcycle.tools.builtin._search_walk import OrderedWalk
from agentcycle.workspace.base import WorkspaceBackend
from agentcycle.workspace.filters import IGNORED_DIR_NAMES

_FIRST_BATCH, _MAX_BATCH = 16, 1024
"""Step 2 waits for this many files (growing fourfold while more are wanted) before it starts
``rg --json`` on all it has, and gives one process at most the largest number."""
_FIRST_WALK, _MAX_WALK = 256, 16_384
"""Files per explicit ``rg -l`` batch in step 1, growing fourfold."""
_ARG_BYTES = max(128 * 1024, min(os.sysconf("SC_ARG_MAX") // 4, 1 << 20))
"""Path bytes per ripgrep command line: a quarter of the system's limit on arguments, which
the environment shares (512 KiB on Linux: a batch of 4,096 paths fits one command)."""
_EXPLICIT_COST = 2.5
"""Cost of a file in an explicit batch (our walk, then ripgrep on named files) relative to
one that ripgrep's parallel walk of a whole directory reaches."""
_LINE_LIMIT = 1 << 28
"""Longest JSON line read from ripgrep (a match on a very long line)."""
_SNIFF_SLICE = 256
"""Matching files sniffed for binary content at a time (a few milliseconds of reads), so a
long answer is only read as far as the caller wants."""
_SNIFF_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
"""Opening a file to sniff it: never a final symlink, never blocking on a FIFO."""
_PLAIN = r"[\w.*?+@=~ -]+"
_SIMPLE_GLOB = re.compile(rf"(?:{_PLAIN})?(?:\{{{_PLAIN}(?:,{_PLAIN})+\}})?(?:{_PLAIN})?")
"""File-name globs whose meaning ripgrep's glob dialect shares: no classes, one brace group."""


class SearchFailed(Exception):
    """ripgrep failed for a reason other than the pattern (reported as ``search_failed``)."""


def _name_glob_prefilter(raw: str) -> str | None:
    """A file-name glob simple enough to hand ripgrep as a pre-filter, else ``None``.

    Anything fancier (classes, nested or unbalanced braces) is left to the exact check that
    follows, so ripgrep never rejects or reinterprets a glob our matcher accepts.
    """
    return raw if raw and _SIMPLE_GLOB.fullmatch(raw) else None


def _common_flags(query: SearchQuery) -> list[str]:
    flags = [
        "--no-config",
        "--no-ignore",
        "--no-messages",
        "--text",
        "--encoding",
        "none",
        "--ignore-case" if query.ignore_case else "--case-sensitive",
    ]
    if query.multiline:
        flags.append("--multiline")
    return flags


def _walk_flags(query: SearchQuery) -> list[str]:
    flags: list[str] = []
    visibility = query.visibility
    if visibility.include_hidden:
        flags.append("--hidden")
    if query.file_type is not None:
        for glob in FILE_TYPES[query.file_type]:
            flags += ["--glob", glob]
    elif query.raw_glob is not None and query.glob_on_name:
        prefilter = _name_glob_prefilter(query.raw_glob)
        if prefilter is not None:
            flags += ["--glob", prefilter]
    if not visibility.include_ignored:
        # Later globs win in ripgrep, so these exclusions beat the pre-filter above.
        for name in sorted(IGNORED_DIR_NAMES):
            flags += ["--glob", f"!{name}/"]
        flags += ["--glob", "!*.egg-info/"]
    return flags


@contextlib.asynccontextmanager
async def _ripgrep(rg: str, root: Path, args: list[str], cancelled: asyncio.Event) -> Any:
    """A running ripgrep process; killed on cancellation and when the caller is done."""
    process = await asyncio.create_subprocess_exec(
        rg,
        *args,
        cwd=root,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=_LINE_LIMIT,
    )

    def kill() -> None:
        # Signalled directly: Popen.kill() first polls, reaping a child that has just exited
        # behind the child watcher's back (it then warns of an unknown process). An exited
        # child keeps its pid until the watcher reaps it, an instant before reporting.
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)

    async def kill_on_cancel() -> None:
        await cancelled.wait()
        kill()

    watcher = asyncio.create_task(kill_on_cancel())
    try:
        yield process
    finally:
        watcher.cancel()
        kill()
        await process.wait()


async def _check_exit(process: Any) -> None:
    """Raise for ripgrep's errors (exit 2 without results); 0 and 1 are fine."""
    code = await process.wait()
    if code in (0, 1) or code < 0:
        return
    stderr = (await process.stderr.read()).decode("utf-8", errors="replace").strip()
    if "regex" in stderr or "pattern" in stderr:
        raise InvalidPattern(f"ripgrep: {stderr[:2000]}")
    raise SearchFailed(stderr[:2000] or f"ripgrep exited with status {code}")


def _to_workspace(raw: str) -> str:
    return raw[2:] if raw.startswith("./") else raw


async def _files_with_matches(
    rg: str,
    root: Path,
    query: SearchQuery,
    targets: list[str],
    *,
    walk: bool,
    cancelled: asyncio.Event,
) -> list[str]:
    """``rg -l`` over workspace ``targets`` (files, or directories when ``walk``), unordered.

    Long target lists are split over several commands so no command line gets too long.
    """
    args = [*_common_flags(query), *(_walk_flags(query) if walk else [])]
    args += ["--files-with-matches", "--null", "--regexp", query.regex, "--"]
    found: list[str] = []
    start = 0
    while start < len(targets):
        chunk: list[str] = []
        size = 0
        while start < len(targets) and size < _ARG_BYTES:
            chunk.append("./" + targets[start])
            size += len(chunk[-1]) + 1
            start += 1
        async with _ripgrep(rg, root, [*args, *chunk], cancelled) as process:
            output = await process.stdout.read()
            await _check_exit(process)
        for raw in output.split(b"\0"):
            if raw:
                with contextlib.suppress(UnicodeDecodeError):  # not a workspace name
                    found.append(_to_workspace(raw.decode("utf-8")))
    return found


async def _matching_files(
    rg: str, root: Path, query: SearchQuery, need: int, cancelled: asyncio.Event
) -> AsyncGenerator[list[str], None]:
    """Step 1: every visible matching file below the base directory, in canonical order, in
    groups of files found together (one per ripgrep answer).

    The walk lists files in order and ripgrep searches them in growing explicit batches, so a
    common pattern fills the page from the first few hundred files. Once the hit rate so far
    says filling it would take more than one largest batch, the unvisited rest of the tree
    (files and whole directories) goes to one ``rg -l``, whose unordered answer is filtered and
    sorted.
    """
    walk = OrderedWalk(root, query)
    size = _FIRST_WALK
    scanned = hits = 0
    while True:
        batch = await asyncio.to_thread(walk.take, size)
        if not batch and not scanned:
            # Nothing to search, but ripgrep still judges the pattern (it may reject it).
            await _files_with_matches(rg, root, query, [query.base], walk=True, cancelled=cancelled)
            return
        found = await _files_with_matches(rg, root, query, batch, walk=False, cancelled=cancelled)
        found.sort()  # the batch is in canonical order, and so is code point order
        if found:
            yield found
        scanned, hits = scanned + len(batch), hits + len(found)
        if walk.exhausted:
            return
        size = min(size * 4, _MAX_WALK)
        if not hits:
            break
        # Files still to scan at the hit rate so far (each match at least one unit). When the
        # next batch should fill the page it goes ahead. Beyond one largest batch, or beyond
        # what the rest of the tree is worth in explicit files, ripgrep's own walk of the
        # rest is cheaper than ours.
        expected = (need - hits) * scanned / hits
        if expected <= size:
            continue
        if expected > _MAX_WALK or expected * _EXPLICIT_COST > walk.estimated_rest():
            break
    rest = walk.rest()
    if not rest:
        return
    visibility = query.visibility
    found = await _files_with_matches(rg, root, query, rest, walk=True, cancelled=cancelled)
    matching = [path for path in found if visibility.shows_file(path) and query.selects(path)]
    matching.sort()  # code point order is UTF-8 byte order: canonical for files
    if matching:
        yield matching


def _sniff(root: str, paths: list[str]) -> list[bool | None]:
    """Whether each of ``paths`` is binary, read straight from the directory the way ripgrep
    just did (without the backend's per-component checks, which cost more than the read);
    ``None`` for a file that cannot be opened as a regular one now, left to the backend.

    Reads of 8 KiB from local files are short enough to run on the event loop (the backend's
    own small reads do too); a worker thread per slice costs more than it saves.
    """
    verdicts: list[bool | None] = []
    for path in paths:
        try:
            fd = os.open(os.path.join(root, path), _SNIFF_FLAGS)
        except OSError:
            verdicts.append(None)
            continue
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                verdicts.append(None)
                continue
            head = b""
            while len(head) < BINARY_SNIFF_BYTES and (
                chunk := os.read(fd, BINARY_SNIFF_BYTES - len(head))
            ):
                head += chunk
            verdicts.append(is_binary(head))
        except OSError:
            verdicts.append(None)
        finally:
            os.close(fd)
    return verdicts


def _text(field: dict[str, Any]) -> str:
    if "text" in field:
        text: str = field["text"]
        return text
    return base64.b64decode(field["bytes"]).decode("utf-8", errors="replace")


def _split_event_lines(text: str) -> Iterator[str]:
    if text.endswith("\n"):
        text = text[:-1]
    yield from text.split("\n")


async def _json_search(
    rg: str,
    root: Path,
    query: SearchQuery,
    paths: list[str],
    cap: int | None,
    cancelled: asyncio.Event,
) -> AsyncGenerator[FileLines, None]:
    """Step 2: search ``paths`` in order with ``--json`` and yield each file's lines."""
    args = [*_common_flags(query), "--json", "--threads", "1"]
    if query.mode == "content":
        args += ["--before-context", str(query.before), "--after-context", str(query.after)]
        if cap is not None and not query.multiline:
            args += ["--max-count", str(cap)]
    args += ["--regexp", query.regex, "--"]
    for start in range(0, len(paths), _MAX_BATCH):
        async with contextlib.aclosing(
            _json_process(rg, root, query, args, paths[start : start + _MAX_BATCH], cancelled)
        ) as results:
            async for found in results:
                yield found


async def _json_process(
    rg: str,
    root: Path,
    query: SearchQuery,
    args: list[str],
    paths: list[str],
    cancelled: asyncio.Event,
) -> AsyncGenerator[FileLines, None]:
    """One ``rg --json`` process over ``paths`` (``args`` end with ``--``), in order."""
    args = [*args, *("./" + path for path in paths)]
    keep_text = query.mode == "content"
    wanted = set(paths)
    async with _ripgrep(rg, root, args, cancelled) as process:
        current: FileLines | None = None
        while line := await process.stdout.readline():
            event = json.loads(line)
            kind, data = event["type"], event["data"]
            if kind == "begin":
                current = FileLines(_to_workspace(_text(data["path"])))
            elif kind in ("match", "context") and current is not None:
                number = data["line_number"]
                for index, text in enumerate(_split_event_lines(_text(data["lines"]))):
                    if kind == "match":
                        current.matched.append(number + index)
                    if keep_text:
                        current.lines[number + index] = text
            elif kind == "end" and current is not None:
                # One thread searches the paths in the order given, so results come sorted.
                if current.matched and current.path in wanted:
                    yield current
                current = None
        await _check_exit(process)


async def search(
    query: SearchQuery,
    workspace: WorkspaceBackend,
    rg: str,
    root: Path,
    *,
    cap: int | None,
    need: int,
    cancelled: asyncio.Event,
) -> AsyncGenerator[FileLines, None]:
    """Files with matches under ``query.base`` (or the file it names), in canonical order.

    ``need`` is how many paging units the caller wants; it sizes the walk's batches.
    """
    base_entry = await workspace.info(query.base)
    if base_entry.is_dir:
        candidates = _matching_files(rg, root, query, need, cancelled)
    else:
        candidates = _named_file(rg, root, query, cancelled)
    batch: list[str] = []
    size = _FIRST_BATCH
    async with contextlib.aclosing(candidates):
        async for group in candidates:
            for start in range(0, len(group), _SNIFF_SLICE):
                part = group[start : start + _SNIFF_SLICE]
                for path, verdict in zip(part, _sniff(str(root), part), strict=True):
                    if cancelled.is_set():
                        return
                    if verdict is None:  # the backend reports what went wrong
                        head = await workspace.read_bytes(path, end=BINARY_SNIFF_BYTES)
                        verdict = is_binary(head)
                    if verdict:
                        continue
                    if query.mode == "files_with_matches":
                        yield FileLines(path)
                    else:
                        batch.append(path)
                # Whole groups go to ripgrep (each process killed once the caller has enough),
                # so a large late group, such as the answer for the rest of the tree, costs few
                # start-ups; a very large one goes a largest batch at a time.
                group_done = start + _SNIFF_SLICE >= len(group)
                if len(batch) >= size and (group_done or len(batch) >= _MAX_BATCH):
                    async with contextlib.aclosing(
                        _json_search(rg, root, query, batch, cap, cancelled)
                    ) as results:
                        async for found in results:
                            yield found
                    batch, size = [], min(size * 4, _MAX_BATCH)
    if batch:
        async with contextlib.aclosing(
            _json_search(rg, root, query, batch, cap, cancelled)
        ) as results:
            async for found in results:
                yield found


async def _named_file(
    rg: str, root: Path, query: SearchQuery, cancelled: asyncio.Event
) -> AsyncGenerator[list[str], None]:
    """Step 1 for a file named explicitly (the caller vetted it): the file, if it matches."""
    if await _files_with_matches(rg, root, query, [query.base], walk=False, cancelled=cancelled):
        yield [query.base]
