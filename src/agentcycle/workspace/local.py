"""A workspace in a directory on the local file system.

Symlink safety: every path is resolved beneath a descriptor of the root held open for the
backend's life (``workspace._beneath``): ``openat2(RESOLVE_BENEATH)`` where the kernel has it,
a component-by-component ``O_NOFOLLOW`` walk otherwise. A symlink is followed only while it
stays inside the root (``path_escapes_workspace`` otherwise, reason ``symlink_escape`` or
``symlink_loop``); files are then opened, created, renamed and removed with ``*at`` calls on
the descriptor of their directory and ``O_NOFOLLOW``, so a directory or file swapped for a
symlink by a concurrent process is never followed out of the root: the operation acts inside
or fails (``symlink_race``). Errors name workspace-relative paths only.

Writes are atomic for readers: content goes to a temporary file in the target's directory
(``.agentcycle-<random>.tmp``, created through that directory's descriptor), which then
replaces the target (``renameat``) or, for exclusive creation, is hard-linked into place
(``linkat`` fails if the target exists). Files are not fsynced: atomicity, not durability
across power loss, is promised.
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
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import NamedTuple, TypeVar

from agentcycle.errors import AgentcycleError, WorkspaceStorageError
from agentcycle.workspace._beneath import Beneath, IsLink, lstat_at
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
from agentcycle.workspace._local_listing import read_dir, walk_tree
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
    path_error,
)

_INLINE_IO = 256 * 1024
"""Reads and writes up to this size run on the event loop; bigger ones go to a thread."""

_FIRST_BATCH, _MAX_BATCH = 16, 1024
"""Listing entries produced per trip to the worker thread: few at first, so a caller that
stops early reads little, then doubling, so long listings pay for few thread hops."""

_NO_FOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_LINK_UNSUPPORTED = frozenset(
    (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS)
)


_T = TypeVar("_T")


class _Target(NamedTuple):
    """Where a write lands: an owned descriptor of its directory, the name in it, and what is
    there now (``None`` when nothing is)."""

    dir_fd: int
    name: str
    current: os.stat_result | None


def _open_at(dir_fd: int, name: str, flags: int) -> int:
    """Open ``name`` in ``dir_fd`` without following a symlink (:class:`IsLink` if it is)."""
    try:
        return os.open(name, flags | _NO_FOLLOW, 0o666, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise IsLink from None
        raise


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


def _remove_quietly(dir_fd: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


class LocalWorkspaceBackend:
    """A :class:`~agentcycle.workspace.base.WorkspaceBackend` rooted at a local directory.

    ``root`` is created (with parents) when missing unless ``create`` is false; it is resolved
    once, so a symlinked root is fine. Small reads and writes run inline; large ones and
    listings run in worker threads. The backend holds a descriptor of the root for its
    lifetime (released when it is garbage collected).
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
        self._root_path = Path(real)
        self._beneath = Beneath(real)
        weakref.finalize(self, self._beneath.close)

    def __repr__(self) -> str:
        return f"LocalWorkspaceBackend({self._root!r})"

    @property
    def local_root(self) -> Path:
        """The resolved root directory."""
        return self._root_path

    # -- resolution and errors -------------------------------------------------------------

    def _at(self, rel: str, operation: Callable[[int, str], _T], *, creating: bool = False) -> _T:
        """``Beneath.at`` with ``OSError``\\s translated into typed errors naming ``rel``."""
        try:
            return self._beneath.at(rel, operation, create=creating)
        except OSError as error:
            raise self._error(error, rel, creating=creating) from None

    def _stat(self, rel: str) -> os.stat_result:
        """The metadata of what ``rel`` names, symlinks followed beneath the root."""
        return self._at(rel, lstat_at)

    def _blocker(self, rel: str) -> str | None:
        """The ancestor of ``rel`` that is a file, if any (only called on error paths)."""
        for ancestor in ancestors(rel):
            try:
                if stat.S_ISREG(self._beneath.at(ancestor, lstat_at).st_mode):
                    return ancestor
            except (OSError, AgentcycleError):
                return None
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
            # The resolver reports real loops itself, so ELOOP here means O_NOFOLLOW met a
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

    def _open_regular(self, rel: str) -> tuple[int, os.stat_result]:
        """Open a regular file for reading; reject anything else."""

        def open_file(dir_fd: int, name: str) -> int:
            if not name:
                raise is_a_directory(rel)
            return _open_at(dir_fd, name, os.O_RDONLY)

        fd = self._at(rel, open_file)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise is_a_directory(rel) if stat.S_ISDIR(info.st_mode) else not_a_file(rel)
        return fd, info

    def _target(self, rel: str, mode: str) -> _Target:
        """Where a write of ``rel`` lands: its directory (created if missing) and name, checked
        for ``mode``; symlinks are followed beneath the root."""
        if not rel:
            raise is_a_directory(rel)

        def check(dir_fd: int, name: str) -> _Target:
            if not name:
                raise is_a_directory(rel)
            try:
                current = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                current = None
            if current is not None:
                if stat.S_ISLNK(current.st_mode):
                    raise IsLink
                if stat.S_ISDIR(current.st_mode):
                    raise is_a_directory(rel)
                if mode == "create":
                    raise already_exists(rel)
            return _Target(os.dup(dir_fd), name, current)

        return self._at(rel, check, creating=True)

    def _temp_file(self, target: _Target, rel: str) -> tuple[int, str]:
        """A new private temporary file beside the target (same directory, so rename works)."""
        temp = f".agentcycle-{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW
        try:
            return os.open(temp, flags, 0o666, dir_fd=target.dir_fd), temp
        except OSError as error:
            raise self._error(error, rel, creating=True) from None

    def _commit(self, target: _Target, temp: str, rel: str, mode: str) -> None:
        """Put a fully written temporary file in place (the caller removes ``temp`` after)."""
        at = {"src_dir_fd": target.dir_fd, "dst_dir_fd": target.dir_fd}
        try:
            if mode == "create":
                try:
                    os.link(temp, target.name, follow_symlinks=False, **at)
                except OSError as error:
                    if error.errno not in _LINK_UNSUPPORTED:
                        raise
                    # No hard links here (FAT, some network file systems): reserve the name
                    # exclusively, then replace the empty placeholder with the content.
                    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW
                    os.close(os.open(target.name, flags, dir_fd=target.dir_fd))
                    os.replace(temp, target.name, **at)
                return
            if target.current is not None:
                # Keep the mode bits of the file being replaced (an executable stays one).
                os.chmod(temp, stat.S_IMODE(target.current.st_mode), dir_fd=target.dir_fd)
            os.replace(temp, target.name, **at)
        except OSError as error:
            raise self._error(error, rel, creating=True) from None

    # -- listing ---------------------------------------------------------------------------

    def _walk(
        self, base: str, matcher: GlobMatcher, descend: DescendPredicate | None
    ) -> Iterator[WorkspaceEntry | None]:
        """Depth-first, lazily: yield each examined entry (``None`` when it does not match)."""
        if not stat.S_ISDIR(self._stat(base).st_mode):
            raise not_a_directory(base)
        start = join_path(base, matcher.start)
        try:
            start_fd = self._beneath.directory(start)
        except OSError:
            return
        try:
            first = read_dir(self._beneath, start, start_fd)
        except OSError as error:
            os.close(start_fd)
            raise self._error(error, start) from None
        yield from walk_tree(
            start, start_fd, first, len(base) + 1 if base else 0, matcher, descend, self._beneath
        )

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
        info = self._stat(rel)
        if stat.S_ISDIR(info.st_mode):
            return WorkspaceEntry(rel, True, None, info.st_mtime)
        if not stat.S_ISREG(info.st_mode):
            raise not_a_file(rel)
        return WorkspaceEntry(rel, False, info.st_size, info.st_mtime)

    async def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        return self._exists_sync(normalize_path(path))

    def _exists_sync(self, rel: str) -> bool:
        try:
            self._beneath.at(rel, lstat_at)
        except OSError:
            return False
        return True

    async def read_bytes(self, path: str, *, start: int = 0, end: int | None = None) -> bytes:
        """The bytes ``[start, end)`` of a file."""
        check_range(start, end)
        rel = normalize_path(path)
        fd, info = self._open_regular(rel)
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
        target = self._target(rel, mode)
        try:
            if mode == "append":
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
                try:
                    fd = _open_at(target.dir_fd, target.name, flags)
                except IsLink:  # swapped for a link since the check
                    raise path_error(rel, "symlink_race") from None
                except OSError as error:
                    raise self._error(error, rel, creating=True) from None
                try:
                    if not stat.S_ISREG(os.fstat(fd).st_mode):
                        raise not_a_file(rel)
                    _write_all(fd, payload)
                finally:
                    os.close(fd)
                return
            fd, temp = self._temp_file(target, rel)
            try:
                try:
                    _write_all(fd, payload)
                finally:
                    os.close(fd)
                self._commit(target, temp, rel, mode)
            finally:
                _remove_quietly(target.dir_fd, temp)
        finally:
            os.close(target.dir_fd)

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
        target = self._target(rel, mode)
        total = 0
        try:
            fd, temp = self._temp_file(target, rel)
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
                self._commit(target, temp, rel, mode)
            finally:
                _remove_quietly(target.dir_fd, temp)
        finally:
            os.close(target.dir_fd)
        return total

    async def mkdir(self, path: str) -> None:
        """Create a directory and its missing parents."""
        self._mkdir_sync(normalize_path(path))

    def _mkdir_sync(self, rel: str) -> None:
        try:
            os.close(self._beneath.directory(rel, create=True))
        except NotADirectoryError:
            blocker = self._blocker(rel)
            error = not_a_directory(rel, blocker=blocker) if blocker else already_exists(rel)
            raise error from None
        except OSError as error:
            raise self._error(error, rel, creating=True) from None

    async def delete(self, path: str, *, recursive: bool = False) -> None:
        """Delete a file or directory; a symlink is removed itself."""
        rel = normalize_path(path)
        if not rel:
            raise invalid_operation("the workspace root cannot be deleted", rel)
        try:
            dir_fd, name = self._beneath.entry(rel)
        except OSError as error:
            raise self._error(error, rel) from None
        try:
            is_dir = stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
            if not is_dir:
                os.unlink(name, dir_fd=dir_fd)
            elif recursive:
                # shutil.rmtree with dir_fd walks by descriptors too (no symlink is followed).
                await asyncio.to_thread(shutil.rmtree, name, dir_fd=dir_fd)
            else:
                os.rmdir(name, dir_fd=dir_fd)
        except OSError as error:
            raise self._error(error, rel) from None
        except RecursionError:  # shutil.rmtree recurses once per level (Python 3.11)
            raise WorkspaceStorageError(
                f"{show(rel)} is nested too deeply to delete recursively",
                details={"path": rel, "reason": "too_deep"},
            ) from None
        finally:
            os.close(dir_fd)

    async def move(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        """Rename a file or directory; a symlink is moved itself."""
        source, target = normalize_path(src), normalize_path(dst)
        check_move(source, target)
        try:
            source_fd, source_name = self._beneath.entry(source)
        except OSError as error:
            raise self._error(error, source) from None
        try:
            try:
                mode = os.stat(source_name, dir_fd=source_fd, follow_symlinks=False).st_mode
            except OSError as error:
                raise self._error(error, source) from None
            if source == target:
                return
            self._move_to(source_fd, source_name, stat.S_ISDIR(mode), target, overwrite)
        finally:
            os.close(source_fd)

    def _move_to(
        self, source_fd: int, source_name: str, source_is_dir: bool, target: str, overwrite: bool
    ) -> None:
        try:
            target_fd, target_name = self._beneath.entry(target)
        except FileNotFoundError:  # a missing parent: created below
            target_fd, target_name = -1, ""
        except NotADirectoryError:
            raise not_a_directory(target, blocker=self._blocker(target)) from None
        except OSError as error:
            raise self._error(error, target, creating=True) from None
        try:
            if target_fd >= 0:
                try:
                    info = os.stat(target_name, dir_fd=target_fd, follow_symlinks=False)
                except FileNotFoundError:
                    pass
                except NotADirectoryError:
                    raise not_a_directory(target, blocker=self._blocker(target)) from None
                else:
                    if source_is_dir or not overwrite or stat.S_ISDIR(info.st_mode):
                        raise already_exists(target)
            else:
                try:
                    target_fd, target_name = self._beneath.entry(target, create=True)
                except OSError as error:
                    raise self._error(error, target, creating=True) from None
            os.rename(source_name, target_name, src_dir_fd=source_fd, dst_dir_fd=target_fd)
        except OSError as error:
            raise self._error(error, target, creating=True) from None
        finally:
            if target_fd >= 0:
                os.close(target_fd)
