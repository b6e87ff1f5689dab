"""The files a local search may look at, walked in canonical order and handed over part-way.

:class:`OrderedWalk` lists the regular files under a local directory that a query selects,
with the rules of the backend listing the Python engine uses: names the path policy cannot
address, symlinks and special files are left out, refused directories (hidden, ignored) and
directories the path glob rules out are not entered. It produces files in canonical order a
batch at a time, and can describe everything it has not reached yet (:meth:`rest`) as a list
of files and whole directories, so ripgrep can search the remainder in one go, and estimate how
many files that remainder holds (:meth:`estimated_rest`) from the directories read so far.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from operator import length_hint
from pathlib import Path

from agentcycle.tools.builtin._search_query import SearchQuery
from agentcycle.workspace._local_listing import scan_entries
from agentcycle.workspace.paths import MAX_PATH_BYTES, join_path, relative_to, sort_key


class OrderedWalk:
    """A resumable depth-first walk of ``query.base`` below the local ``root``."""

    def __init__(self, root: Path, query: SearchQuery) -> None:
        self._root = str(root)
        self._query = query
        self._path_glob = query.glob if query.glob is not None and not query.glob_on_name else None
        # The base itself is the first "entry", so even its directory is read by take(), which
        # callers run in a worker thread. Each level keeps its entries beside their iterator, so
        # what is left of it can be counted.
        self._stack: list[tuple[Iterator[tuple[str, bool]], list[tuple[str, bool]]]] = []
        self._push([(query.base, True)])
        # For the directories read, per stack depth they were listed at: how many, and their
        # files and subdirectories in total.
        self._read: list[list[int]] = []

    @property
    def exhausted(self) -> bool:
        """Whether every file has been taken."""
        return not self._stack

    def _children(self, directory: str) -> list[tuple[str, bool]]:
        """The entries of ``directory`` worth visiting, as (path, is_dir), in canonical order."""
        top_level = not directory
        visibility, query, glob = self._query.visibility, self._query, self._path_glob
        found: list[tuple[str, bool]] = []
        # An unreadable or vanished directory has nothing to search (ripgrep skips it too).
        with contextlib.suppress(OSError):
            for name, is_dir, is_link in scan_entries(
                os.path.join(self._root, directory), top_level=top_level
            ):
                if is_link:
                    continue  # ripgrep does not follow links it meets, nor does the walk
                path = join_path(directory, name)
                if len(path) > MAX_PATH_BYTES // 4 and len(path.encode()) > MAX_PATH_BYTES:
                    continue
                if is_dir:
                    if visibility.refusal(path) is not None:
                        continue
                    if glob is not None and not glob.may_descend(relative_to(path, query.base)):
                        continue
                elif not visibility.shows(path, False) or not query.selects(path):
                    continue
                found.append((path, is_dir))
        found.sort(key=lambda child: sort_key(*child))
        return found

    def _push(self, entries: list[tuple[str, bool]]) -> None:
        self._stack.append((iter(entries), entries))

    def _note(self, depth: int, entries: list[tuple[str, bool]]) -> None:
        """Count a directory listed at stack depth ``depth`` that has just been read."""
        if depth == len(self._read):
            self._read.append([0, 0, 0])
        subdirs = sum(1 for _, is_dir in entries if is_dir)
        stats = self._read[depth]
        stats[0] += 1
        stats[1] += len(entries) - subdirs
        stats[2] += subdirs

    def take(self, count: int) -> list[str]:
        """The next ``count`` files (fewer at the end of the walk), in canonical order."""
        files: list[str] = []
        stack = self._stack
        while stack and len(files) < count:
            child = next(stack[-1][0], None)
            if child is None:
                stack.pop()
            elif child[1]:
                entries = self._children(child[0])
                self._note(len(stack) - 1, entries)
                self._push(entries)
            else:
                files.append(child[0])
        return files

    def _remaining(self) -> Iterator[tuple[int, list[tuple[str, bool]]]]:
        """Each level's entries not reached yet with the depth of their directories, deepest
        level first (the order of the walk)."""
        for depth in range(len(self._stack) - 1, -1, -1):
            level, entries = self._stack[depth]
            yield depth, entries[len(entries) - length_hint(level) :]

    def estimated_rest(self) -> float:
        """Roughly how many files :meth:`rest` holds, from the directories read so far.

        A directory not entered yet at depth ``d`` is taken to hold what directories read at
        that depth held on average: their files, plus their subdirectories each estimated the
        same way one level down. A depth nobody has read yet counts as one average directory
        of files. Skewed trees fool it; callers only use it to choose between two ways of
        searching the same files, never for what the search finds.
        """
        read = self._read
        total_dirs = sum(stats[0] for stats in read)
        fallback = sum(stats[1] for stats in read) / total_dirs if total_dirs else 1.0
        sizes = [fallback]  # the estimate for a directory one level below the deepest read
        for count, files, subdirs in reversed(read):
            sizes.append((files + subdirs * sizes[-1]) / count)
        sizes.reverse()  # sizes[d]: a directory listed at stack depth d, read[d] its peers
        estimate = 0.0
        for depth, entries in self._remaining():
            subdirs = sum(1 for _, is_dir in entries if is_dir)
            estimate += len(entries) - subdirs + subdirs * sizes[min(depth, len(sizes) - 1)]
        return estimate

    def rest(self) -> list[str]:
        """Every file and directory not reached yet, in order; the walk is used up after."""
        remaining = [path for _, entries in self._remaining() for path, _ in entries]
        self._stack.clear()
        return remaining
