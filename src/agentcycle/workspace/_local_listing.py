"""Listing a local workspace through directory descriptors (``LocalWorkspaceBackend.list``).

Every directory is opened through its parent's descriptor without following links, and its
entries are stat'ed through its own descriptor, held while it is on the walk's stack (closed
when the walk ends or is abandoned), so a directory swapped for a symlink mid-walk is skipped,
never followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from agentcycle.errors import AgentcycleError
from agentcycle.workspace._beneath import Beneath, IsLink, lstat_at, open_directory_at
from agentcycle.workspace._glob import GlobMatcher
from agentcycle.workspace.base import DescendPredicate, WorkspaceEntry
from agentcycle.workspace.paths import MAX_PATH_BYTES, is_addressable_name, sort_key

Child = tuple[str, bool, bool, "os.stat_result | None"]
"""One addressable directory entry: name, is_dir, is_link, and its metadata when already known
(a link's target); otherwise it is stat'ed through its directory's descriptor when needed. A
plain tuple: listings make one per entry."""


def _link_target(beneath: Beneath, rel: str) -> os.stat_result | None:
    """Stat of a symlink's target if it resolves inside the root, else ``None``."""
    try:
        return beneath.at(rel, lstat_at)
    except (OSError, AgentcycleError):
        return None


def scan_entries(directory: int | str, *, top_level: bool) -> Iterator[tuple[str, bool, bool]]:
    """``(name, is_dir, is_link)`` of the entries of ``directory`` (a descriptor or a path)
    that a workspace can show: addressable names of directories, regular files and symlinks
    (``is_dir`` is false for a link: its target is the caller's business). Entries removed
    while being looked at are skipped."""
    with os.scandir(directory) as scan:
        for item in scan:
            name = item.name
            if not is_addressable_name(name, top_level=top_level):
                continue
            try:
                if item.is_symlink():
                    yield name, False, True
                    continue
                is_dir = item.is_dir(follow_symlinks=False)
                if is_dir or item.is_file(follow_symlinks=False):
                    yield name, is_dir, False
            except OSError:  # removed while we looked
                continue


def read_dir(beneath: Beneath, rel_dir: str, dir_fd: int) -> list[Child]:
    """The addressable entries of one directory, in canonical order.

    Names the path policy would reject, special files, and symlinks that dangle, loop or lead
    outside the root are left out: a listing shows what can be used.
    """
    children: list[Child] = []
    for name, is_dir, is_link in scan_entries(dir_fd, top_level=not rel_dir):
        if not is_link:
            children.append((name, is_dir, False, None))
            continue
        target = _link_target(beneath, f"{rel_dir}/{name}" if rel_dir else name)
        if target is not None and (stat.S_ISDIR(target.st_mode) or stat.S_ISREG(target.st_mode)):
            children.append((name, stat.S_ISDIR(target.st_mode), True, target))
    children.sort(key=lambda child: sort_key(child[0], child[1]))
    return children


def walk_tree(
    start: str,
    start_fd: int,
    first: list[Child],
    prefix: int,
    matcher: GlobMatcher,
    descend: DescendPredicate | None,
    beneath: Beneath,
) -> Iterator[WorkspaceEntry | None]:
    """Depth-first from the directory ``start`` (its descriptor ``start_fd``, now owned by the
    walk, and its entries ``first``): each examined entry, ``None`` when it does not match.
    ``prefix`` is how many characters of a path the glob does not see (the listing's base)."""
    stack: list[tuple[str, int, Iterator[Child]]] = [(start, start_fd, iter(first))]
    matches, may_descend = matcher.matches, matcher.may_descend
    try:
        while stack:
            directory, dir_fd, children = stack[-1]
            # Runs once per entry of the tree, so it is written for speed: each directory's
            # loop breaks off to descend and resumes from its iterator afterwards.
            for name, is_dir, is_link, known in children:
                path = f"{directory}/{name}" if directory else name
                if len(path) > MAX_PATH_BYTES // 4 and len(path.encode()) > MAX_PATH_BYTES:
                    continue
                relative = path[prefix:]
                if matches(relative):
                    try:
                        info = known or os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    except OSError:
                        continue
                    size = None if is_dir else info.st_size
                    yield WorkspaceEntry(path, is_dir, size, info.st_mtime, is_link)
                else:
                    yield None
                # Symlinked directories are not descended into: no loops, no duplicates.
                if (
                    is_dir
                    and not is_link
                    and may_descend(relative)
                    and (descend is None or descend(path))
                ):
                    # An unreadable, vanished or swapped subdirectory has nothing to list.
                    try:
                        child_fd = open_directory_at(dir_fd, name)
                    except (OSError, IsLink):
                        continue
                    try:
                        grandchildren = read_dir(beneath, path, child_fd)
                    except OSError:
                        os.close(child_fd)
                        continue
                    stack.append((path, child_fd, iter(grandchildren)))
                    break
            else:
                os.close(stack.pop()[1])
    finally:
        for _, fd, _ in stack:
            os.close(fd)
