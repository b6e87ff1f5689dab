"""The files a local search may look at, walked in canonical order and handed over part-way.

:class:`OrderedWalk` lists the regular files under a local directory that a query selects,
with the rules of the backend listing the Python engine uses: names the path policy cannot
address, symlinks and special files are left out, refused directories (hidden, ignored) and
directories the path glob rules out are not entered. It produces files in canonical order a
batch at a time, and can describe everything it has not reached yet (:meth:`rest`) as a list
of files and whole directories, so ripgrep can search the remainder in one go.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from agentcycle.tools.builtin._search_query import SearchQuery
from agentcycle.workspace.paths import (
    MAX_PATH_BYTES,
    is_addressable_name,
    join_path,
    relative_to,
    sort_key,
)


class OrderedWalk:
    """A resumable depth-first walk of ``query.base`` below the local ``root``."""

    def __init__(self, root: Path, query: SearchQuery) -> None:
        self._root = str(root)
        self._query = query
        self._path_glob = query.glob if query.glob is not None and not query.glob_on_name else None
        # The base itself is the first "entry", so even its directory is read by take(), which
        # callers run in a worker thread.
        self._stack: list[Iterator[tuple[str, bool]]] = [iter([(query.base, True)])]

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
        with contextlib.suppress(OSError), os.scandir(os.path.join(self._root, directory)) as scan:
            for item in scan:
                name = item.name
                if not is_addressable_name(name, top_level=top_level):
                    continue
                try:
                    if item.is_symlink():
                        continue  # ripgrep does not follow links it meets, nor does the walk
                    is_dir = item.is_dir(follow_symlinks=False)
                    if not is_dir and not item.is_file(follow_symlinks=False):
                        continue
                except OSError:  # removed while we looked
                    continue
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

    def take(self, count: int) -> list[str]:
        """The next ``count`` files (fewer at the end of the walk), in canonical order."""
        files: list[str] = []
        stack = self._stack
        while stack and len(files) < count:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
            elif child[1]:
                stack.append(iter(self._children(child[0])))
            else:
                files.append(child[0])
        return files

    def rest(self) -> list[str]:
        """Every file and directory not reached yet, in order; the walk is used up after."""
        remaining = [path for level in reversed(self._stack) for path, _ in level]
        self._stack.clear()
        return remaining
