"""A workspace seen through an exclusion pattern: what a sub-task's ``exclude_files_pattern``
hides from the child run.

Excluded paths are absent to the child's file tools: listings and searches never show them (nor
anything below an excluded directory), and ``info`` / reads fail with ``file_not_found`` as for
a file that does not exist, so the child's view of the workspace is coherent. Changing them is
refused with ``path_excluded``: creating or overwriting a file the child cannot see would be
worse than telling it so. The exclusion covers the workspace tools only; a child with shell
tools can still reach the files through ``bash``, so it is a focus aid, not a sandbox.

The pattern uses the workspace glob syntax (:mod:`agentcycle.workspace._glob`). Without ``/``
it matches names at any depth (``*.csv``, ``secrets``); with ``/`` it matches workspace paths
from the root (``data/raw/**``, ``docs/internal``). A path is excluded when it or one of its
directories matches.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path

from agentcycle.errors import WorkspaceError
from agentcycle.workspace._common import not_found
from agentcycle.workspace._glob import GlobMatcher
from agentcycle.workspace.base import (
    DescendPredicate,
    Listing,
    StreamWriteMode,
    WorkspaceBackend,
    WorkspaceEntry,
    WriteMode,
)
from agentcycle.workspace.paths import normalize_path

PATH_EXCLUDED = "path_excluded"
_CACHE_LIMIT = 4096


class ExcludedPaths:
    """The compiled exclusion pattern; ``matches(path)`` says whether a path is hidden."""

    __slots__ = ("_by_name", "_matcher", "_verdicts", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._matcher = GlobMatcher(pattern)  # raises invalid_glob for an unusable pattern
        self._by_name = "/" not in pattern and "\\" not in pattern
        self._verdicts: dict[str, bool] = {}

    def matches(self, path: str) -> bool:
        """Whether the normalised workspace ``path`` or one of its directories is excluded."""
        if not path:
            return False
        directory, _, name = path.rpartition("/")
        return self._matches_one(path, name) or self._directory_excluded(directory)

    def _matches_one(self, path: str, name: str) -> bool:
        return self._matcher.matches(name if self._by_name else path)

    def _directory_excluded(self, directory: str) -> bool:
        # Listings ask about every entry of a directory: remember each directory's verdict.
        if not directory:
            return False
        verdict = self._verdicts.get(directory)
        if verdict is None:
            parent, _, name = directory.rpartition("/")
            verdict = self._matches_one(directory, name) or self._directory_excluded(parent)
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[directory] = verdict
        return verdict


class ExcludingWorkspace:
    """``inner`` with the paths ``excluded`` matches hidden (see the module docstring).

    ``local_root`` is the inner backend's, so shell tools keep working; the search tool uses its
    pure-Python engine on this backend, because ripgrep would read the directory itself."""

    __slots__ = ("_inner", "excluded")

    def __init__(self, inner: WorkspaceBackend, excluded: ExcludedPaths) -> None:
        self._inner = inner
        self.excluded = excluded

    def __repr__(self) -> str:
        return f"ExcludingWorkspace({self._inner!r}, exclude={self.excluded.pattern!r})"

    @property
    def local_root(self) -> Path | None:
        """The inner backend's directory (commands run there, unfiltered)."""
        return self._inner.local_root

    def _visible(self, path: str) -> str:
        rel = normalize_path(path)
        if self.excluded.matches(rel):
            raise not_found(rel)
        return rel

    def _changeable(self, path: str) -> str:
        rel = normalize_path(path)
        if self.excluded.matches(rel):
            raise self._refusal(
                rel,
                f"{rel!r} is excluded from this sub-task's workspace view "
                f"(pattern {self.excluded.pattern!r}); it cannot be changed",
            )
        return rel

    def _refusal(self, path: str, message: str) -> WorkspaceError:
        return WorkspaceError(
            message, code=PATH_EXCLUDED, details={"path": path, "pattern": self.excluded.pattern}
        )

    def list(
        self,
        path: str = "",
        *,
        glob: str | None = None,
        limit: int | None = None,
        scan_limit: int | None = None,
        descend: DescendPredicate | None = None,
    ) -> Listing:
        """The inner listing without excluded entries; excluded directories are not entered."""
        base = normalize_path(path)
        excluded = self.excluded

        def enter(directory: str) -> bool:
            return not excluded.matches(directory) and (descend is None or descend(directory))

        if excluded.matches(base):
            return Listing(_missing(base), limit=limit)
        inner = self._inner.list(base, glob=glob, scan_limit=scan_limit, descend=enter)
        return _FilteredListing(inner, excluded, limit)

    async def info(self, path: str) -> WorkspaceEntry:
        """The inner ``info``; ``file_not_found`` for an excluded path."""
        return await self._inner.info(self._visible(path))

    async def exists(self, path: str) -> bool:
        """False for an excluded path."""
        rel = normalize_path(path)
        return not self.excluded.matches(rel) and await self._inner.exists(rel)

    async def read_bytes(self, path: str, *, start: int = 0, end: int | None = None) -> bytes:
        """The inner ``read_bytes``; ``file_not_found`` for an excluded path."""
        return await self._inner.read_bytes(self._visible(path), start=start, end=end)

    async def read_text(self, path: str, *, start: int = 0, end: int | None = None) -> str:
        """The inner ``read_text``; ``file_not_found`` for an excluded path."""
        return await self._inner.read_text(self._visible(path), start=start, end=end)

    async def write(self, path: str, data: bytes | str, *, mode: WriteMode = "overwrite") -> int:
        """The inner ``write``; ``path_excluded`` for an excluded path."""
        return await self._inner.write(self._changeable(path), data, mode=mode)

    async def write_stream(
        self,
        path: str,
        chunks: AsyncIterable[bytes],
        *,
        mode: StreamWriteMode = "overwrite",
    ) -> int:
        """The inner ``write_stream``; ``path_excluded`` for an excluded path."""
        return await self._inner.write_stream(self._changeable(path), chunks, mode=mode)

    async def mkdir(self, path: str) -> None:
        """The inner ``mkdir``; ``path_excluded`` for an excluded path."""
        await self._inner.mkdir(self._changeable(path))

    async def delete(self, path: str, *, recursive: bool = False) -> None:
        """The inner ``delete``; ``path_excluded`` for an excluded path. Deleting a directory
        that holds excluded entries is refused too: they would go with it unseen."""
        rel = self._changeable(path)
        if recursive and await self._holds_excluded(rel):
            raise self._refusal(
                rel, f"{rel!r} holds paths excluded from this sub-task's view; it cannot be deleted"
            )
        await self._inner.delete(rel, recursive=recursive)

    async def move(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        """The inner ``move``; ``path_excluded`` when either side is excluded, or when
        ``src`` is a directory holding excluded entries."""
        source, target = self._changeable(src), self._changeable(dst)
        if await self._holds_excluded(source):
            raise self._refusal(
                source,
                f"{source!r} holds paths excluded from this sub-task's view; it cannot be moved",
            )
        await self._inner.move(source, target, overwrite=overwrite)

    async def _holds_excluded(self, directory: str) -> bool:
        """Whether anything below ``directory`` is excluded (a file path holds nothing)."""
        listing = self._inner.list(directory, glob="**")
        try:
            async for entry in listing:
                if self.excluded.matches(entry.path):
                    return True
        except WorkspaceError:  # not a directory, or missing: the move itself reports it
            return False
        finally:
            await listing.aclose()
        return False


class _FilteredListing(Listing):
    """A listing of the inner backend with excluded entries dropped; ``scanned`` and
    ``truncated`` are the inner scan's."""

    def __init__(self, inner: Listing, excluded: ExcludedPaths, limit: int | None) -> None:
        self._inner = inner
        super().__init__(_without(inner, excluded), limit=limit)

    async def __anext__(self) -> WorkspaceEntry:
        try:
            return await super().__anext__()
        finally:
            self.scanned = self._inner.scanned
            self.truncated = self._inner.truncated

    async def aclose(self) -> None:
        """Stop both scans."""
        await super().aclose()
        await self._inner.aclose()


async def _without(inner: Listing, excluded: ExcludedPaths) -> AsyncIterator[WorkspaceEntry | None]:
    async for entry in inner:
        yield None if excluded.matches(entry.path) else entry


async def _missing(path: str) -> AsyncIterator[WorkspaceEntry | None]:
    raise not_found(path)
    yield  # pragma: no cover - makes this an async generator
