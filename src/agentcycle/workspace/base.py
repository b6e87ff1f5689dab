"""The storage protocol every workspace backend implements, and the shapes it returns.

Paths are workspace-relative POSIX strings, checked and normalised by
:func:`agentcycle.workspace.paths.normalize_path` (``""`` and ``"."`` are the root). Every
method raises typed errors from :mod:`agentcycle.errors`:

- ``path_escapes_workspace`` (:class:`~agentcycle.errors.PathEscapesWorkspace`) for paths the
  policy rejects, before any storage is touched;
- ``file_not_found``, ``file_exists``, ``is_a_directory``, ``not_a_directory``, ``not_a_file``,
  ``directory_not_empty``, ``unsupported_encoding``, ``concurrent_modification`` and
  ``storage_error`` for what the storage says;
- ``invalid_glob`` and ``invalid_operation`` (plain :class:`~agentcycle.errors.WorkspaceError`)
  for unusable patterns and for deleting or moving the root or a directory into itself.

A path below a file (``notes.txt/x``) does not exist: reading it is ``file_not_found``, creating
it is ``not_a_directory``. Writes create missing parent directories.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from agentcycle.workspace.paths import path_name

WriteMode = Literal["overwrite", "append", "create"]
"""``overwrite`` replaces (atomically where the storage allows), ``append`` adds to the end
(creating the file if missing), ``create`` fails with ``file_exists`` if the path exists."""

StreamWriteMode = Literal["overwrite", "create"]
"""The modes :meth:`WorkspaceBackend.write_stream` supports."""

DescendPredicate = Callable[[str], bool]
"""Called with a directory's workspace path during a listing: false keeps the walk out of it."""


@dataclass(frozen=True, slots=True)
class WorkspaceEntry:
    """One file or directory: what listings yield and ``info`` returns.

    ``size`` is in bytes and ``None`` for directories; ``modified`` is a POSIX timestamp in
    seconds, ``None`` where the storage has none (virtual directories on S3). ``is_link`` is
    true for a symbolic link (local storage only); type, size and time are then its target's.
    """

    path: str
    is_dir: bool
    size: int | None = None
    modified: float | None = None
    is_link: bool = False

    @property
    def kind(self) -> Literal["file", "directory"]:
        """``"directory"`` or ``"file"``."""
        return "directory" if self.is_dir else "file"

    @property
    def name(self) -> str:
        """The last path segment (``""`` for the root)."""
        return path_name(self.path)


class Listing:
    """The lazily produced result of :meth:`WorkspaceBackend.list`.

    Iterate it with ``async for`` (or ``await listing.collect()``). Entries come in the
    canonical order of :func:`agentcycle.workspace.paths.sort_key`: a depth-first walk whose
    directories are sorted by UTF-8 bytes, a directory sorting as if its name ended in ``/``.
    Storage is read only as far as the iteration goes, so stopping early is cheap.

    After (or during) iteration, ``scanned`` counts the entries the backend examined,
    ``returned`` the entries yielded, and ``truncated`` is true when ``scan_limit`` stopped
    the scan with entries left unexamined.

    Backends build one from an async iterator that yields every examined entry: the entry if
    it matches, ``None`` if it does not (so unmatched entries count towards ``scan_limit``
    without costing a stat).
    """

    def __init__(
        self,
        scan: AsyncIterator[WorkspaceEntry | None],
        *,
        limit: int | None = None,
        scan_limit: int | None = None,
    ) -> None:
        for name, value in (("limit", limit), ("scan_limit", scan_limit)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        self._scan = scan
        self._limit = limit
        self._scan_limit = scan_limit
        self._done = False
        self.scanned = 0
        self.returned = 0
        self.truncated = False

    def __aiter__(self) -> Listing:
        return self

    async def __anext__(self) -> WorkspaceEntry:
        while not self._done:
            if self._limit is not None and self.returned >= self._limit:
                break
            if self._scan_limit is not None and self.scanned >= self._scan_limit:
                # Look one entry ahead so ``truncated`` means "there was more", not "maybe".
                try:
                    await anext(self._scan)
                    self.truncated = True
                except StopAsyncIteration:
                    pass
                break
            try:
                item = await anext(self._scan)
            except StopAsyncIteration:
                break
            self.scanned += 1
            if item is not None:
                self.returned += 1
                return item
        await self.aclose()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop the scan and release what it holds (called for you when iteration ends)."""
        if not self._done:
            self._done = True
            closer = getattr(self._scan, "aclose", None)
            if closer is not None:
                await closer()

    async def collect(self) -> list[WorkspaceEntry]:
        """All (remaining) entries as a list."""
        return [entry async for entry in self]


@runtime_checkable
class WorkspaceBackend(Protocol):
    """Where a workspace's files live. Implemented by local, memory and S3 backends.

    Implementations must apply :func:`~agentcycle.workspace.paths.normalize_path` to every path
    argument and pass :class:`agentcycle.testing.workspace_conformance.WorkspaceBackendConformance`.
    """

    @property
    def local_root(self) -> Path | None:
        """The real directory behind the workspace, or ``None`` when there is none (memory, S3).

        Tools use it to run native programs (ripgrep, shells) on local workspaces.
        """
        ...

    def list(
        self,
        path: str = "",
        *,
        glob: str | None = None,
        limit: int | None = None,
        scan_limit: int | None = None,
        descend: DescendPredicate | None = None,
    ) -> Listing:
        """Entries under the directory ``path``: its children, or those matching ``glob``.

        ``glob`` is relative to ``path`` (see :mod:`agentcycle.workspace._glob` for the syntax;
        ``"**"`` lists everything below). ``limit`` caps the entries yielded, ``scan_limit``
        the entries examined. ``descend`` prunes: a directory for which it returns false is
        still examined (and yielded if it matches) but nothing below it is read or counted.
        Symlinked directories (local) are listed but not descended into.
        Path and glob errors raise here; ``file_not_found`` / ``not_a_directory`` for ``path``
        raise when iteration starts.
        """
        ...

    async def info(self, path: str) -> WorkspaceEntry:
        """Type, size and modification time of ``path`` (``file_not_found`` if missing)."""
        ...

    async def exists(self, path: str) -> bool:
        """Whether ``path`` exists (policy violations still raise)."""
        ...

    async def read_bytes(self, path: str, *, start: int = 0, end: int | None = None) -> bytes:
        """The bytes ``[start, end)`` of a file (clamped to its size; whole file by default)."""
        ...

    async def read_text(self, path: str, *, start: int = 0, end: int | None = None) -> str:
        """UTF-8 text of the byte range ``[start, end)``.

        A character cut by the range's edges inside the file is left out rather than
        reported as an encoding error; anything else not UTF-8 raises
        ``unsupported_encoding``.
        """
        ...

    async def write(self, path: str, data: bytes | str, *, mode: WriteMode = "overwrite") -> int:
        """Write ``data`` (``str`` is encoded as UTF-8); return the number of bytes written."""
        ...

    async def write_stream(
        self,
        path: str,
        chunks: AsyncIterable[bytes],
        *,
        mode: StreamWriteMode = "overwrite",
    ) -> int:
        """Write a file from streamed chunks without buffering it whole; return its size.

        Readers see the old content or the complete new file, never a partial one; if the
        iterator raises, the path is left as it was.
        """
        ...

    async def mkdir(self, path: str) -> None:
        """Create a directory and its missing parents; an existing directory is fine."""
        ...

    async def delete(self, path: str, *, recursive: bool = False) -> None:
        """Delete a file or directory (non-empty directories need ``recursive=True``).

        A symlink is removed itself, never its target.
        """
        ...

    async def move(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        """Rename a file or directory; ``overwrite`` allows replacing an existing *file*.

        A symlink is moved itself, never its target.
        """
        ...
