"""A workspace in a directory on the local file system.

Symlink safety: every path is resolved with ``os.path.realpath`` (strictly first, so loops are
caught) and must land inside the real root, otherwise ``path_escapes_workspace``. Files are
then opened through the resolved path with ``O_NOFOLLOW``, so a final component swapped for a
symlink after the check fails instead of being followed. What remains is the window in which
a concurrent process swaps an *intermediate* directory for a symlink; closing it needs
``openat2(RESOLVE_BENEATH)``, which Python does not expose. Only processes that can already
write to the workspace directly (a shell tool, say) could use that window.

Writes are atomic for readers: content goes to a temporary file in the target's directory
(``.agentcycle-<random>.tmp``), which then replaces the target (``os.replace``) or, for
exclusive creation, is hard-linked into place (``os.link`` fails if the target exists). Files
are not fsynced: atomicity, not durability across power loss, is promised.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import itertools
import os
import secrets
import shutil
import stat
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path

from agentcycle.errors import AgentcycleError, WorkspaceStorageError
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
    not_a_file,
    not_empty,
    not_found,
    show,
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
    MAX_PATH_BYTES,
    ancestors,
    is_addressable_name,
    join_path,
    normalize_path,
    parent_path,
    path_error,
    path_name,
    sort_key,
)

_INLINE_IO = 256 * 1024
"""Reads and writes up to this size run on the event loop; bigger ones go to a thread."""

_FIRST_BATCH, _MAX_BATCH = 16, 1024
"""Listing entries produced per trip to the worker thread: few at first, so a caller that
stops early reads little, then doubling, so long listings pay for few thread hops."""

_PATH_MAX = 4096
"""Longest absolute path the OS accepts, terminating NUL included (Linux)."""

_NO_FOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_LINK_UNSUPPORTED = frozenset(
    (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS)
)


_Child = tuple[str, bool, bool, "os.DirEntry[str] | os.stat_result"]
"""One addressable directory entry: name, is_dir, is_link, and what to stat for its metadata.
A plain tuple: listings make one per entry."""


def _read_all(fd: int, count: int, offset: int) -> bytes:
    chunks: builtins.list[bytes] = []
    while count > 0:
        chunk = os.pread(fd, count, offset)
        if not chunk:
            break
        chunks.append(chunk)
        count -= len(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _make_dirs(path: str) -> None:
    """``os.makedirs(path, exist_ok=True)`` without recursion: paths may be very deep."""
    missing: builtins.list[str] = []
    while not os.path.isdir(path):
        missing.append(path)
        path = os.path.dirname(path)
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class LocalWorkspaceBackend:
    """A :class:`~agentcycle.workspace.base.WorkspaceBackend` rooted at a local directory.

    ``root`` is created (with parents) when missing unless ``create`` is false; it is resolved
    once, so a symlinked root is fine. Small reads and writes run inline; large ones and
    listings run in worker threads.
    """

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        path = Path(root)
        try:
            if create:
                path.mkdir(parents=True, exist_ok=True)
            real = os.path.realpath(path, strict=True)
        except FileExistsError:
            raise not_a_directory(str(path)) from None
        except FileNotFoundError:
            raise not_found(str(path)) from None
        if not os.path.isdir(real):
            raise not_a_directory(str(path))
        self._root = real
        self._root_prefix = real.rstrip(os.sep) + os.sep
        self._root_path = Path(real)

    def __repr__(self) -> str:
        return f"LocalWorkspaceBackend({self._root!r})"

    @property
    def local_root(self) -> Path:
        """The resolved root directory."""
        return self._root_path

    # -- resolution and errors -------------------------------------------------------------

    def _contained(self, real: str) -> bool:
        return real == self._root or real.startswith(self._root_prefix)

    def _real(self, rel: str) -> str:
        """The real path of ``rel``, following every symlink; it must stay inside the root."""
        if not rel:
            return self._root
        joined = os.path.join(self._root, rel)
        if len(os.fsencode(joined)) >= _PATH_MAX:
            raise path_error(rel, "path_too_long")
        try:
            real = os.path.realpath(joined, strict=True)
        except (FileNotFoundError, NotADirectoryError):
            # Missing tail: nothing beyond the first missing component can be a symlink.
            real = os.path.realpath(joined)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise path_error(rel, "symlink_loop") from None
            raise self._error(error, rel) from None
        if not self._contained(real):
            raise path_error(rel, "symlink_escape")
        return real

    def _real_entry(self, rel: str) -> str:
        """The real path of ``rel``'s parent plus its own name: the entry, not a link target."""
        return os.path.join(self._real(parent_path(rel)), path_name(rel))

    def _blocker(self, rel: str) -> str | None:
        """The ancestor of ``rel`` that is a file, if any (only called on error paths)."""
        for ancestor in ancestors(rel):
            if os.path.isfile(os.path.join(self._root, ancestor)):
                return ancestor
        return None

    def _error(self, error: OSError, rel: str, *, creating: bool = False) -> AgentcycleError:
        """Translate an ``OSError`` into a typed workspace error naming only ``rel``."""
        code = error.errno
        if code == errno.ENOENT:
            return not_found(rel)
        if code == errno.ENOTDIR:
            return not_a_directory(rel, blocker=self._blocker(rel)) if creating else not_found(rel)
        if code == errno.EEXIST:
            return already_exists(rel)
        if code == errno.EISDIR:
            return is_a_directory(rel)
        if code == errno.ENOTEMPTY:
            return not_empty(rel)
        if code == errno.ELOOP:
            # Resolution already caught real loops, so ELOOP here means O_NOFOLLOW met a
            # symlink that appeared after the path was resolved and checked.
            return path_error(rel, "symlink_race")
        if code == errno.ENXIO:  # opening a FIFO without a reader, or a socket
            return not_a_file(rel)
        if code == errno.ENAMETOOLONG:
            return path_error(rel, "path_too_long")
        if code == errno.EINVAL:
            return invalid_operation(f"invalid operation on {show(rel)}: {error.strerror}", rel)
        reason = "permission_denied" if code in (errno.EACCES, errno.EPERM) else "os_error"
        return WorkspaceStorageError(
            f"{show(rel)}: {error.strerror}",
            details={"path": rel, "reason": reason, "errno": code},
        )

    def _open_regular(self, real: str, rel: str, flags: int) -> tuple[int, os.stat_result]:
        """Open a regular file without following a final symlink; reject anything else."""
        creating = bool(flags & os.O_CREAT)
        try:
            fd = os.open(real, flags | _NO_FOLLOW, 0o666)
        except OSError as error:
            raise self._error(error, rel, creating=creating) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise is_a_directory(rel) if stat.S_ISDIR(info.st_mode) else not_a_file(rel)
        return fd, info

    def _make_parent(self, real: str, rel: str) -> None:
        parent = os.path.dirname(real)
        if os.path.isdir(parent):
            return
        try:
            _make_dirs(parent)
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTDIR):
                raise not_a_directory(rel, blocker=self._blocker(rel)) from None
            raise self._error(error, rel, creating=True) from None

    def _temp_file(self, real: str, rel: str) -> tuple[int, str]:
        """A new private temporary file next to ``real`` (same file system, so rename works)."""
        temp = os.path.join(os.path.dirname(real), f".agentcycle-{secrets.token_hex(8)}.tmp")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, 0o666), temp
        except OSError as error:
            raise self._error(error, rel, creating=True) from None

    def _commit(self, temp: str, real: str, rel: str, mode: str) -> None:
        """Put a fully written temporary file in place (the caller removes ``temp`` after)."""
        try:
            if mode == "create":
                try:
                    os.link(temp, real, follow_symlinks=False)
                except OSError as error:
                    if error.errno not in _LINK_UNSUPPORTED:
                        raise
                    # No hard links here (FAT, some network file systems): reserve the name
                    # exclusively, then replace the empty placeholder with the content.
                    os.close(os.open(real, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW))
                    os.replace(temp, real)
                return
            try:
                current = os.stat(real, follow_symlinks=False)
            except FileNotFoundError:
                pass
            else:
                # Keep the mode bits of the file being replaced (an executable stays one).
                os.chmod(temp, stat.S_IMODE(current.st_mode))
            os.replace(temp, real)
        except OSError as error:
            raise self._error(error, rel, creating=True) from None

    def _prepare_write(self, rel: str, mode: str) -> str:
        """Resolve a write target, check it can be written, and create its parents."""
        if not rel:
            raise is_a_directory(rel)
        real = self._real(rel)
        if os.path.isdir(real):
            raise is_a_directory(rel)
        if mode == "create" and os.path.lexists(real):
            raise already_exists(rel)
        self._make_parent(real, rel)
        return real

    # -- listing ---------------------------------------------------------------------------

    def _link_target(self, link: str) -> os.stat_result | None:
        """Stat of a symlink's target if it resolves inside the root, else ``None``."""
        try:
            real = os.path.realpath(link, strict=True)
            return os.stat(real) if self._contained(real) else None
        except OSError:
            return None

    def _read_dir(self, rel_dir: str, real_dir: str) -> builtins.list[_Child]:
        """The addressable entries of one directory, in canonical order.

        Names the path policy would reject, special files, and symlinks that dangle, loop or
        lead outside the root are left out: a listing shows what can be used.
        """
        children: builtins.list[_Child] = []
        top_level = not rel_dir
        with os.scandir(real_dir) as scan:
            for item in scan:
                if not is_addressable_name(item.name, top_level=top_level):
                    continue
                try:
                    if item.is_symlink():
                        target = self._link_target(item.path)
                        if target is None:
                            continue
                        is_dir, is_file = stat.S_ISDIR(target.st_mode), stat.S_ISREG(target.st_mode)
                        if is_dir or is_file:
                            children.append((item.name, is_dir, True, target))
                        continue
                    is_dir = item.is_dir(follow_symlinks=False)
                    if is_dir or item.is_file(follow_symlinks=False):
                        children.append((item.name, is_dir, False, item))
                except OSError:  # removed while we looked
                    continue
        children.sort(key=lambda child: sort_key(child[0], child[1]))
        return children

    def _walk(
        self, base: str, matcher: GlobMatcher, descend: DescendPredicate | None
    ) -> Iterator[WorkspaceEntry | None]:
        """Depth-first, lazily: yield each examined entry (``None`` when it does not match)."""
        base_real = self._real(base)
        try:
            base_is_dir = stat.S_ISDIR(os.stat(base_real).st_mode)
        except OSError as error:
            raise self._error(error, base) from None
        if not base_is_dir:
            raise not_a_directory(base)
        start = join_path(base, matcher.start)
        start_real = self._real(start)
        if not os.path.isdir(start_real):
            return
        try:
            first = self._read_dir(start, start_real)
        except OSError as error:
            raise self._error(error, start) from None
        stack: builtins.list[tuple[str, str, Iterator[_Child]]] = [(start, start_real, iter(first))]
        prefix = len(base) + 1 if base else 0
        matches, may_descend = matcher.matches, matcher.may_descend
        while stack:
            directory, real_dir, children = stack[-1]
            # Runs once per entry of the tree, so it is written for speed: each directory's
            # loop breaks off to descend and resumes from its iterator afterwards.
            for name, is_dir, is_link, source in children:
                path = f"{directory}/{name}" if directory else name
                if len(path) > MAX_PATH_BYTES // 4 and len(path.encode()) > MAX_PATH_BYTES:
                    continue
                relative = path[prefix:]
                if matches(relative):
                    try:
                        info = source.stat() if isinstance(source, os.DirEntry) else source
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
                    real_child = os.path.join(real_dir, name)
                    # An unreadable or vanished subdirectory has nothing to list.
                    with contextlib.suppress(OSError):
                        stack.append((path, real_child, iter(self._read_dir(path, real_child))))
                        break
            else:
                stack.pop()

    async def _scan(
        self, base: str, matcher: GlobMatcher, descend: DescendPredicate | None
    ) -> AsyncIterator[WorkspaceEntry | None]:
        walker = self._walk(base, matcher, descend)
        size = _FIRST_BATCH
        while True:
            batch = await asyncio.to_thread(builtins.list, itertools.islice(walker, size))
            for item in batch:
                yield item
            if len(batch) < size:
                return
            size = min(size * 2, _MAX_BATCH)

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

    async def info(self, path: str) -> WorkspaceEntry:
        """Type, size and modification time of ``path``."""
        rel = normalize_path(path)
        real = self._real(rel)
        try:
            info = os.stat(real)
        except OSError as error:
            raise self._error(error, rel) from None
        if stat.S_ISDIR(info.st_mode):
            return WorkspaceEntry(rel, True, None, info.st_mtime)
        if not stat.S_ISREG(info.st_mode):
            raise not_a_file(rel)
        return WorkspaceEntry(rel, False, info.st_size, info.st_mtime)

    async def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        return self._exists_sync(normalize_path(path))

    def _exists_sync(self, rel: str) -> bool:
        return os.path.exists(self._real(rel))

    async def read_bytes(self, path: str, *, start: int = 0, end: int | None = None) -> bytes:
        """The bytes ``[start, end)`` of a file."""
        check_range(start, end)
        rel = normalize_path(path)
        fd, info = self._open_regular(self._real(rel), rel, os.O_RDONLY)
        try:
            stop = info.st_size if end is None else min(end, info.st_size)
            count = max(0, stop - start)
            if count > _INLINE_IO:
                return await asyncio.to_thread(_read_all, fd, count, start)
            return _read_all(fd, count, start)
        finally:
            os.close(fd)

    async def read_text(self, path: str, *, start: int = 0, end: int | None = None) -> str:
        """UTF-8 text of the byte range ``[start, end)``."""
        data = await self.read_bytes(path, start=start, end=end)
        return decode_utf8_slice(data, normalize_path(path), start=start, end=end)

    def _write_sync(self, rel: str, payload: bytes, mode: str) -> None:
        real = self._prepare_write(rel, mode)
        if mode == "append":
            fd, _ = self._open_regular(real, rel, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                _write_all(fd, payload)
            finally:
                os.close(fd)
            return
        fd, temp = self._temp_file(real, rel)
        try:
            try:
                _write_all(fd, payload)
            finally:
                os.close(fd)
            self._commit(temp, real, rel, mode)
        finally:
            _remove_quietly(temp)

    async def write(self, path: str, data: bytes | str, *, mode: WriteMode = "overwrite") -> int:
        """Write ``data`` to ``path`` (atomically unless appending)."""
        check_mode(mode, WRITE_MODES)
        payload = as_bytes(data)
        rel = normalize_path(path)
        if len(payload) > _INLINE_IO:
            await asyncio.to_thread(self._write_sync, rel, payload, mode)
        else:
            self._write_sync(rel, payload, mode)
        return len(payload)

    async def write_stream(
        self,
        path: str,
        chunks: AsyncIterable[bytes],
        *,
        mode: StreamWriteMode = "overwrite",
    ) -> int:
        """Write ``path`` from streamed chunks through a temporary file."""
        check_mode(mode, STREAM_MODES)
        rel = normalize_path(path)
        real = self._prepare_write(rel, mode)
        fd, temp = self._temp_file(real, rel)
        total = 0
        try:
            try:
                async for chunk in chunks:
                    data = as_bytes(chunk)
                    if len(data) > _INLINE_IO:
                        await asyncio.to_thread(_write_all, fd, data)
                    else:
                        _write_all(fd, data)
                    total += len(data)
            finally:
                os.close(fd)
            self._commit(temp, real, rel, mode)
        finally:
            _remove_quietly(temp)
        return total

    async def mkdir(self, path: str) -> None:
        """Create a directory and its missing parents."""
        self._mkdir_sync(normalize_path(path))

    def _mkdir_sync(self, rel: str) -> None:
        real = self._real(rel)
        if os.path.isdir(real):
            return
        try:
            _make_dirs(real)
        except FileExistsError as error:
            if error.filename == real:
                raise already_exists(rel) from None
            raise not_a_directory(rel, blocker=self._blocker(rel)) from None
        except OSError as error:
            raise self._error(error, rel, creating=True) from None

    async def delete(self, path: str, *, recursive: bool = False) -> None:
        """Delete a file or directory; a symlink is removed itself."""
        rel = normalize_path(path)
        if not rel:
            raise invalid_operation("the workspace root cannot be deleted", rel)
        entry = self._real_entry(rel)
        try:
            is_dir = stat.S_ISDIR(os.lstat(entry).st_mode)
            if not is_dir:
                os.unlink(entry)
            elif recursive:
                await asyncio.to_thread(shutil.rmtree, entry)
            else:
                os.rmdir(entry)
        except OSError as error:
            raise self._error(error, rel) from None
        except RecursionError:  # shutil.rmtree recurses once per level (Python 3.11)
            raise WorkspaceStorageError(
                f"{show(rel)} is nested too deeply to delete recursively",
                details={"path": rel, "reason": "too_deep"},
            ) from None

    async def move(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        """Rename a file or directory; a symlink is moved itself."""
        source, target = normalize_path(src), normalize_path(dst)
        check_move(source, target)
        source_entry, target_entry = self._real_entry(source), self._real_entry(target)
        try:
            source_is_dir = stat.S_ISDIR(os.lstat(source_entry).st_mode)
        except OSError as error:
            raise self._error(error, source) from None
        if source == target:
            return
        try:
            target_info = os.lstat(target_entry)
        except FileNotFoundError:
            pass
        except NotADirectoryError:
            raise not_a_directory(target, blocker=self._blocker(target)) from None
        else:
            if source_is_dir or not overwrite or stat.S_ISDIR(target_info.st_mode):
                raise already_exists(target)
        self._make_parent(target_entry, target)
        try:
            os.rename(source_entry, target_entry)
        except OSError as error:
            raise self._error(error, target, creating=True) from None
