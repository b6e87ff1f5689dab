"""A workspace held in process memory: for tests, sandboxes and ephemeral runs."""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentcycle.workspace._common import (
    STREAM_MODES,
    WRITE_MODES,
    already_exists,
    as_bytes,
    check_mode,
    check_move,
    check_range,
    decode_utf8_slice,
    invalid_operation,
    is_a_directory,
    not_a_directory,
    not_empty,
    not_found,
)
from agentcycle.workspace._glob import GlobMatcher
from agentcycle.workspace.base import (
    DescendPredicate,
    Listing,
    StreamWriteMode,
    WorkspaceEntry,
    WriteMode,
)
from agentcycle.workspace.paths import (
    ancestors,
    join_path,
    normalize_path,
    parent_path,
    path_name,
    relative_to,
    sort_key,
)


@dataclass(slots=True)
class _File:
    data: bytes
    modified: float


class MemoryWorkspaceBackend:
    """A :class:`~agentcycle.workspace.base.WorkspaceBackend` whose files live in a dict.

    ``files`` seeds the workspace (path -> content; ``str`` is stored as UTF-8). Every
    operation is atomic: it runs under one lock without awaiting, so the backend is safe to
    share between tasks and threads. Directories are real (``mkdir`` creates an empty one).
    """

    def __init__(self, files: Mapping[str, bytes | str] | None = None) -> None:
        now = time.time()
        self._files: dict[str, _File] = {}
        self._dirs: dict[str, float] = {"": now}
        self._children: dict[str, set[str]] = {"": set()}
        self._lock = threading.Lock()
        for path, content in (files or {}).items():
            self._store(normalize_path(path), as_bytes(content), "overwrite")

    @property
    def local_root(self) -> Path | None:
        """Always ``None``: there is no directory behind a memory workspace."""
        return None

    # -- internal state helpers (callers hold the lock) ------------------------------------

    def _entry(self, path: str) -> WorkspaceEntry | None:
        file = self._files.get(path)
        if file is not None:
            return WorkspaceEntry(path, False, len(file.data), file.modified)
        modified = self._dirs.get(path)
        if modified is not None:
            return WorkspaceEntry(path, True, None, modified)
        return None

    def _check_parents(self, path: str) -> None:
        """Raise ``not_a_directory`` if a file sits where a parent directory must go."""
        for ancestor in ancestors(path):
            if ancestor in self._files:
                raise not_a_directory(path, blocker=ancestor)

    def _link(self, path: str, now: float) -> None:
        """Register ``path`` in its parent (creating missing parents) and touch the parent."""
        while True:  # iterative: paths may be thousands of segments deep
            parent = parent_path(path)
            created = parent not in self._dirs
            if created:
                self._children[parent] = set()
            self._children[parent].add(path_name(path))
            self._dirs[parent] = now
            if not created:
                return
            path = parent

    def _unlink(self, path: str, now: float) -> None:
        parent = parent_path(path)
        self._children[parent].discard(path_name(path))
        self._dirs[parent] = now

    def _store(self, path: str, data: bytes, mode: str) -> None:
        if path in self._dirs:
            raise is_a_directory(path)
        self._check_parents(path)
        existing = self._files.get(path)
        if existing is not None and mode == "create":
            raise already_exists(path)
        if existing is not None and mode == "append":
            data = existing.data + data
        now = time.time()
        self._files[path] = _File(data, now)
        self._link(path, now)

    def _subtree(self, path: str) -> builtins.list[str]:
        """``path`` and everything below it, parents before children."""
        found = [path]
        for item in found:  # grows while iterating: a breadth-first walk without recursion
            found.extend(join_path(item, name) for name in self._children.get(item, ()))
        return found

    def _sorted_children(self, directory: str) -> builtins.list[str]:
        def key(name: str) -> bytes:
            return sort_key(name, join_path(directory, name) in self._dirs)

        return sorted(self._children.get(directory, ()), key=key)

    # -- protocol --------------------------------------------------------------------------

    def list(
        self,
        path: str = "",
        *,
        glob: str | None = None,
        limit: int | None = None,
        scan_limit: int | None = None,
        descend: DescendPredicate | None = None,
    ) -> Listing:
        """Entries under ``path`` (see :meth:`WorkspaceBackend.list`)."""
        base = normalize_path(path)
        matcher = GlobMatcher(glob)
        return Listing(self._scan(base, matcher, descend), limit=limit, scan_limit=scan_limit)

    async def _scan(
        self, base: str, matcher: GlobMatcher, descend: DescendPredicate | None
    ) -> AsyncIterator[WorkspaceEntry | None]:
        with self._lock:
            if base not in self._dirs:
                raise not_a_directory(base) if base in self._files else not_found(base)
            start = join_path(base, matcher.start)
            if start not in self._dirs:
                return
            stack = [(start, iter(self._sorted_children(start)))]
        while stack:
            directory, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                continue
            path = join_path(directory, name)
            relative = relative_to(path, base)
            with self._lock:
                entry = self._entry(path)
                if entry is None:  # removed since its directory was read
                    continue
                if (
                    entry.is_dir
                    and matcher.may_descend(relative)
                    and (descend is None or descend(path))
                ):
                    stack.append((path, iter(self._sorted_children(path))))
            yield entry if matcher.matches(relative) else None

    async def info(self, path: str) -> WorkspaceEntry:
        """Type, size and modification time of ``path``."""
        rel = normalize_path(path)
        with self._lock:
            entry = self._entry(rel)
        if entry is None:
            raise not_found(rel)
        return entry

    async def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        rel = normalize_path(path)
        with self._lock:
            return rel in self._files or rel in self._dirs

    async def read_bytes(self, path: str, *, start: int = 0, end: int | None = None) -> bytes:
        """The bytes ``[start, end)`` of a file."""
        check_range(start, end)
        rel = normalize_path(path)
        with self._lock:
            file = self._files.get(rel)
            if file is None:
                raise is_a_directory(rel) if rel in self._dirs else not_found(rel)
            return file.data[start:end]

    async def read_text(self, path: str, *, start: int = 0, end: int | None = None) -> str:
        """UTF-8 text of the byte range ``[start, end)``."""
        data = await self.read_bytes(path, start=start, end=end)
        return decode_utf8_slice(data, normalize_path(path), start=start, end=end)

    async def write(self, path: str, data: bytes | str, *, mode: WriteMode = "overwrite") -> int:
        """Write ``data`` to ``path``."""
        check_mode(mode, WRITE_MODES)
        payload = as_bytes(data)
        rel = normalize_path(path)
        with self._lock:
            self._store(rel, payload, mode)
        return len(payload)

    async def write_stream(
        self,
        path: str,
        chunks: AsyncIterable[bytes],
        *,
        mode: StreamWriteMode = "overwrite",
    ) -> int:
        """Write ``path`` from streamed chunks; nothing is stored if the stream fails."""
        check_mode(mode, STREAM_MODES)
        rel = normalize_path(path)
        with self._lock:  # fail before consuming the stream when the write cannot succeed
            if rel in self._dirs:
                raise is_a_directory(rel)
            self._check_parents(rel)
            if mode == "create" and rel in self._files:
                raise already_exists(rel)
        parts = [as_bytes(chunk) async for chunk in chunks]
        payload = b"".join(parts)
        with self._lock:
            self._store(rel, payload, mode)
        return len(payload)

    async def mkdir(self, path: str) -> None:
        """Create a directory and its missing parents."""
        rel = normalize_path(path)
        with self._lock:
            if rel in self._dirs:
                return
            if rel in self._files:
                raise already_exists(rel)
            self._check_parents(rel)
            now = time.time()
            self._dirs[rel] = now
            self._children[rel] = set()
            self._link(rel, now)

    async def delete(self, path: str, *, recursive: bool = False) -> None:
        """Delete a file, or a directory (with its contents when ``recursive``)."""
        rel = normalize_path(path)
        if not rel:
            raise invalid_operation("the workspace root cannot be deleted", rel)
        with self._lock:
            if rel in self._files:
                del self._files[rel]
            elif rel in self._dirs:
                if self._children[rel] and not recursive:
                    raise not_empty(rel)
                for item in self._subtree(rel):
                    self._files.pop(item, None)
                    self._dirs.pop(item, None)
                    self._children.pop(item, None)
            else:
                raise not_found(rel)
            self._unlink(rel, time.time())

    async def move(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        """Rename a file or directory."""
        source, target = normalize_path(src), normalize_path(dst)
        check_move(source, target)
        with self._lock:
            source_is_dir = source in self._dirs
            if not source_is_dir and source not in self._files:
                raise not_found(source)
            if source == target:
                return
            if target in self._dirs or (target in self._files and (source_is_dir or not overwrite)):
                raise already_exists(target)
            self._check_parents(target)
            now = time.time()
            for item in self._subtree(source):
                moved = target + item[len(source) :]
                if item in self._files:
                    self._files[moved] = self._files.pop(item)
                else:
                    self._dirs[moved] = self._dirs.pop(item)
                    self._children[moved] = self._children.pop(item)
            self._unlink(source, now)
            self._link(target, now)
