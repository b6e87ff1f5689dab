"""Race-free resolution of workspace paths beneath a directory descriptor of the root.

Every lookup starts at a descriptor of the root opened once, and the kernel never follows a
symlink on our behalf except where it can prove the result stays beneath that descriptor:

- **Fast path**: ``openat2(root_fd, dir, O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)``
  (Linux 5.6+, called through ``ctypes``: Python does not expose it) opens a path's directory
  in one system call; the kernel follows relative symlinks only while they stay beneath the
  root and fails with ``EXDEV`` otherwise.
- **Walk** (no ``openat2``, an absolute symlink, or any failure of the fast path, so errors
  are always reported by one piece of code): one component at a time, each directory opened
  with ``O_NOFOLLOW`` relative to its parent's descriptor. A symlink met on the way is read
  with ``readlinkat`` and its target resolved by the same walk (``..`` pops a descriptor off
  the walk's own stack, never asks the kernel for a parent), so the walk stays beneath the
  root whatever changes around it. Absolute targets are accepted when they name a place under
  the root's real path.

The result is a descriptor of the directory that holds the final component, plus that
component's name; callers act on it with ``*at`` calls and ``O_NOFOLLOW``. A final component
that turns out to be a symlink is resolved by the walk (:meth:`Beneath.resolve`); one that is
swapped for a symlink after that fails with ``symlink_race`` instead of being followed.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import sys
from collections.abc import Callable
from typing import TypeVar

from agentcycle.workspace.paths import path_error

T = TypeVar("T")

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW_DIR = _DIR_FLAGS | os.O_NOFOLLOW
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_BENEATH = 0x08
_SYS_OPENAT2 = 437  # the same number on every architecture with the generic syscall table
MAX_SYMLINKS = 40
"""Symlinks one resolution may follow before it is reported as a loop (Linux's own limit)."""


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


def _load_openat2() -> Callable[[int, str, int], int] | None:
    """``openat2`` with ``RESOLVE_BENEATH`` when this kernel has it, else ``None``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
    except (OSError, AttributeError):
        return None
    syscall.restype = ctypes.c_long
    resolve = _RESOLVE_BENEATH | _RESOLVE_NO_MAGICLINKS

    def openat2(dir_fd: int, path: str, flags: int) -> int:
        how = _OpenHow(flags, 0, resolve)
        fd = syscall(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(os.fsencode(path)),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
        return int(fd)

    # Probe once: seccomp filters and old kernels answer ENOSYS (or EPERM).
    try:
        os.close(openat2(-100, ".", _DIR_FLAGS))  # AT_FDCWD
    except OSError:
        return None
    return openat2


_openat2 = _load_openat2()


class IsLink(Exception):
    """Raised by an operation that met a symlink where it asked for none (``O_NOFOLLOW``)."""


class Beneath:
    """Resolves workspace paths beneath ``root`` (a real, absolute directory path).

    Holds one descriptor of the root until :meth:`close`.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._root_prefix = root.rstrip(os.sep) + os.sep
        self.fd = os.open(root, _DIR_FLAGS)

    def close(self) -> None:
        """Release the root descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # -- public ----------------------------------------------------------------------------

    def at(self, rel: str, operation: Callable[[int, str], T], *, create: bool = False) -> T:
        """Run ``operation(dir_fd, name)`` on ``rel``'s final entry, following a final symlink.

        ``name`` is ``""`` when ``rel`` resolves to a directory reached as a whole (the root,
        a link to ``.``): ``dir_fd`` is then that directory. The operation raises
        :class:`IsLink` when it meets a symlink; the link is then resolved and the operation
        retried once; a second ``IsLink`` means the entry keeps changing (``symlink_race``).
        ``create`` makes missing parent directories on the way.
        """
        fd, name = self.entry(rel, create=create)
        try:
            return operation(fd, name)
        except IsLink:
            pass
        finally:
            os.close(fd)
        fd, name = self.resolve(rel, create=create)
        try:
            return operation(fd, name)
        except IsLink:
            raise path_error(rel, "symlink_race") from None
        finally:
            os.close(fd)

    def entry(self, rel: str, *, create: bool = False) -> tuple[int, str]:
        """A new descriptor of the directory holding ``rel``'s final entry, and its name; the
        final entry itself is not followed. The caller closes the descriptor."""
        head, _, name = rel.rpartition("/")
        if not rel:
            return os.dup(self.fd), ""
        if not head:
            return os.dup(self.fd), name
        if _openat2 is not None:
            try:
                return _openat2(self.fd, head, _DIR_FLAGS), name
            except OSError:
                pass  # escapes, absolute links, missing parts: the walk decides and reports
        return self._walk(rel, follow=False, create=create)

    def resolve(self, rel: str, *, create: bool = False) -> tuple[int, str]:
        """Like :meth:`entry`, but a final symlink is followed (beneath the root)."""
        return self._walk(rel, follow=True, create=create)

    def directory(self, rel: str, *, create: bool = False) -> int:
        """A new descriptor of the directory ``rel`` (symlinks followed beneath the root).

        Raises ``NotADirectoryError`` or ``FileNotFoundError`` (as ``OSError``) otherwise.
        """
        if not rel:
            return os.dup(self.fd)
        if _openat2 is not None and not create:
            with contextlib.suppress(OSError):
                return _openat2(self.fd, rel, _DIR_FLAGS)
        return self.at(rel, _open_directory(create), create=create)

    # -- the walk --------------------------------------------------------------------------

    def _inside(self, target: str, rel: str) -> list[str]:
        """The components of an absolute symlink target below the root, or an escape."""
        if target == self.root or target.rstrip("/") == self.root:
            return []
        if not target.startswith(self._root_prefix):
            raise path_error(rel, "symlink_escape")
        return target[len(self._root_prefix) :].split("/")

    def _walk(self, rel: str, *, follow: bool, create: bool) -> tuple[int, str]:
        stack: list[int] = []  # descriptors we own; the root is implied beneath them
        pending = rel.split("/")[::-1]
        hops = 0
        try:
            while pending:
                name = pending.pop()
                if name in ("", "."):
                    continue
                if name == "..":
                    if not stack:
                        raise path_error(rel, "symlink_escape")
                    os.close(stack.pop())
                    continue
                current = stack[-1] if stack else self.fd
                if not pending:  # the final component
                    if not follow or not _is_link(current, name):
                        return self._hand_over(stack), name
                else:
                    # A directory on the way: open it directly (one syscall in the common
                    # case) and look closer only when that fails.
                    try:
                        stack.append(self._open_step(current, name, create))
                        continue
                    except IsLink:
                        pass
                hops += 1
                if hops > MAX_SYMLINKS:
                    raise path_error(rel, "symlink_loop")
                pending.extend(reversed(self._link_parts(current, name, rel, stack)))
            # Everything was consumed by '.', '..' or a link to a directory: the result is
            # the directory on top of the stack itself.
            return self._hand_over(stack), ""
        except BaseException:
            for fd in stack:
                os.close(fd)
            raise

    @staticmethod
    def _open_step(current: int, name: str, create: bool) -> int:
        """Open the directory ``name`` on the way (made first when missing and ``create``)."""
        try:
            return open_directory_at(current, name)
        except FileNotFoundError:
            if not create:
                raise
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, dir_fd=current)
        return open_directory_at(current, name)

    def _link_parts(self, current: int, name: str, rel: str, stack: list[int]) -> list[str]:
        """The components the symlink ``name`` stands for, relative to where the walk is
        (``stack`` is reset to the root for an absolute target inside it)."""
        try:
            target = os.readlink(name, dir_fd=current)
        except OSError as error:
            if error.errno == errno.EINVAL:  # no longer a symlink since we looked
                raise path_error(rel, "symlink_race") from None
            raise
        if not target.startswith("/"):
            return target.split("/")
        parts = self._inside(os.path.normpath(target), rel)
        while stack:
            os.close(stack.pop())
        return parts

    def _hand_over(self, stack: list[int]) -> int:
        """The top descriptor (a new one for the root); every other one is closed."""
        top = stack.pop() if stack else os.dup(self.fd)
        for fd in stack:
            os.close(fd)
        stack.clear()
        return top


def _open_directory(create: bool) -> Callable[[int, str], int]:
    def open_directory(dir_fd: int, name: str) -> int:
        if not name:
            return os.dup(dir_fd)
        if create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, dir_fd=dir_fd)
        return open_directory_at(dir_fd, name)

    return open_directory


def open_directory_at(dir_fd: int, name: str) -> int:
    """Open the directory ``name`` in ``dir_fd`` without following a symlink.

    Raises :class:`IsLink` for a symlink (Linux reports ``ELOOP`` or, with ``O_DIRECTORY``,
    ``ENOTDIR`` for one, so the entry is looked at again to tell).
    """
    try:
        return os.open(name, _NOFOLLOW_DIR, dir_fd=dir_fd)
    except OSError as error:
        if error.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        with contextlib.suppress(OSError):
            if stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                raise IsLink from None
        raise


def _is_link(dir_fd: int, name: str) -> bool:
    """Whether the entry ``name`` is a symlink (``False`` when it does not exist)."""
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def lstat_at(dir_fd: int, name: str) -> os.stat_result:
    """``lstat`` of an entry (``fstat`` of ``dir_fd`` itself for ``""``); raises
    :class:`IsLink` for a symlink."""
    info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False) if name else os.fstat(dir_fd)
    if stat.S_ISLNK(info.st_mode):
        raise IsLink
    return info
