"""Machinery behind ``tools.sandbox``: the bubblewrap command line, masked files, the pids cap.

A sandboxed command runs as ``helper -> bwrap -> bash -lc command``: the reaper helper
(``_reaper``) still owns the whole process tree, so a timeout or the end of the run kills
everything; bwrap builds the namespaces and mounts in this order (later mounts cover earlier
ones, so the order is the policy):

1. ``/`` read-only, a fresh ``/dev`` and ``/proc`` (the PID namespace's: no other process's
   environment is visible), an empty private ``/tmp``, and without network an empty ``/run``
   too (host daemons' Unix sockets live there, and a socket on a read-only mount still
   accepts connections);
2. the writable roots, bound read-write last among the directories;
3. the protected paths inside them re-bound read-only;
4. credential files and directories covered by an empty read-only file or directory.

The process cap is ``RLIMIT_NPROC`` (set by the helper before it starts bwrap) and, where the
caller may create one (root usually can), a ``pids`` cgroup: the kernel never applies
``RLIMIT_NPROC`` to the root user, so for root the cgroup is what stops a fork bomb.

The helper's child joins the cgroup by writing ``0`` (itself) to the cgroup's ``tasks`` file on
a cgroup v1 hierarchy: moving one thread that way skips the kernel's global
``cgroup_threadgroup_rwsem`` write lock, whose RCU grace period costs 8-20 ms per command when
commands are tens of milliseconds apart (``cgroup.procs`` takes it). The child is
single-threaded, so moving its one thread moves the process, and everything it forks after
that starts inside. A cgroup v2 hierarchy has no such file for moves between cgroups and joins
through ``cgroup.procs``.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agentcycle.tools.builtin._secrets import SecretFiles, top_level_secret_files
from agentcycle.tools.sandbox import BWRAP_NAMESPACES, SandboxMode, SandboxPolicy

HOME_CREDENTIALS = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".kube",
    ".docker",
    ".config/gcloud",
    ".config/gh",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
)
"""Paths under the home directory masked inside the sandbox (keys, cloud and registry
credentials)."""


@dataclass(frozen=True, slots=True)
class _Blanks:
    """An empty read-only file and directory to mount over what must not be seen."""

    file: str
    directory: str


@functools.cache
def _blanks() -> _Blanks:
    # One pair per process, readable by anyone (the sandbox may run as another user), removed
    # at exit.
    base = tempfile.mkdtemp(prefix="agentcycle-sandbox-")
    os.chmod(base, 0o755)
    file, directory = os.path.join(base, "empty"), os.path.join(base, "empty.d")
    with open(file, "wb"):
        pass
    os.mkdir(directory)
    os.chmod(file, 0o444)
    os.chmod(directory, 0o555)
    atexit.register(shutil.rmtree, base, True)
    return _Blanks(file, directory)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _masked(root: Path, secret_files: SecretFiles) -> list[str]:
    """Host paths of the credential files and directories to mask (existing ones only)."""
    candidates = [str(p) for p in top_level_secret_files(root)]
    candidates += [str(p) for p in secret_files.in_use()]
    home = os.environ.get("HOME")
    if home:
        candidates += [os.path.join(home, name) for name in HOME_CREDENTIALS]
    return [os.path.realpath(p) for p in candidates if os.path.lexists(p)]


def bwrap_argv(
    bwrap: str,
    policy: SandboxPolicy,
    root: Path,
    cwd: Path,
    secret_files: SecretFiles,
) -> list[str]:
    """The ``bwrap ... --`` prefix that confines a command run in ``cwd`` of the workspace
    ``root`` according to ``policy`` (the shell and its arguments follow it)."""
    argv = [bwrap, *BWRAP_NAMESPACES]
    if not policy.network:
        argv.append("--unshare-net")
    # Without --cap-drop ALL a root caller keeps its capabilities inside the user namespace
    # and can remount the read-only root writable.
    argv += ["--cap-drop", "ALL", "--die-with-parent", "--new-session"]
    argv += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    if not policy.network and os.path.isdir("/run"):
        argv += ["--tmpfs", "/run"]
    writable: list[str] = []
    if policy.mode is SandboxMode.WORKSPACE_WRITE:
        candidates = [str(root), *policy.writable_roots]
        writable = [os.path.realpath(p) for p in candidates if os.path.isdir(p)]
    else:  # read-only: still visible when it lies under the private /tmp or /run
        real_root = os.path.realpath(root)
        argv += ["--ro-bind", real_root, real_root]
    for path in writable:
        argv += ["--bind", path, path]
    for path in writable:
        for name in policy.protected_paths:
            protected = os.path.realpath(os.path.join(path, name))
            if _inside(protected, path) and os.path.exists(protected):
                argv += ["--ro-bind", protected, protected]
    if policy.mask_credentials:
        blanks = _blanks()
        hidden = ("/tmp", "/run") if not policy.network else ("/tmp",)
        for path in _masked(root, secret_files):
            # Under a private mount it is invisible already, unless a writable root shows it.
            if any(_inside(path, h) for h in hidden) and not any(
                _inside(path, w) for w in writable
            ):
                continue
            blank = blanks.directory if os.path.isdir(path) else blanks.file
            argv += ["--ro-bind", blank, path]
    argv += ["--chdir", str(cwd), "--"]
    return argv


# -- the pids cgroup ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Hierarchy:
    """A mounted cgroup hierarchy with the ``pids`` controller that this process may extend."""

    mount_point: str
    v1: bool


@functools.cache
def _pids_hierarchy() -> _Hierarchy | None:
    """A hierarchy where this process may create a ``pids`` cgroup, or ``None``."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if "-" not in fields:
            continue
        after = fields[fields.index("-") + 1 :]
        mount_point, fs_type = fields[4], after[0]
        options = after[2].split(",") if len(after) > 2 else []
        v1 = fs_type == "cgroup" and "pids" in options
        if (v1 or (fs_type == "cgroup2" and _delegates_pids(mount_point))) and os.access(
            mount_point, os.W_OK
        ):
            return _Hierarchy(mount_point, v1)
    return None


def _delegates_pids(mount_point: str) -> bool:
    try:
        with open(os.path.join(mount_point, "cgroup.subtree_control"), encoding="utf-8") as f:
            return "pids" in f.read().split()
    except OSError:
        return False


class PidsCgroup:
    """A ``pids`` cgroup that caps the processes of one command (root's fork-bomb stop)."""

    def __init__(self, path: str, v1: bool) -> None:
        self.path = path
        """The cgroup's directory."""
        self.v1 = v1
        """Whether it lies in a cgroup v1 hierarchy."""

    @classmethod
    def create(cls, limit: int) -> PidsCgroup | None:
        """A new cgroup limited to ``limit`` processes, or ``None`` where none can be made."""
        hierarchy = _pids_hierarchy()
        if hierarchy is None:
            return None
        name = f"agentcycle-{os.getpid()}-{secrets.token_hex(4)}"
        path = os.path.join(hierarchy.mount_point, name)
        try:
            os.mkdir(path)
        except OSError:
            return None
        cgroup = cls(path, hierarchy.v1)
        try:
            with open(os.path.join(path, "pids.max"), "w", encoding="ascii") as handle:
                handle.write(str(limit))
        except OSError:
            cgroup.remove()
            return None
        return cgroup

    @property
    def join_file(self) -> str:
        """The file a single-threaded process writes ``0`` to in order to join (``tasks`` on
        cgroup v1, the cheap move: see the module docstring; ``cgroup.procs`` on v2)."""
        return os.path.join(self.path, "tasks" if self.v1 else "cgroup.procs")

    def remove(self) -> bool:
        """Remove the cgroup; False while processes are still in it."""
        with contextlib.suppress(FileNotFoundError):
            try:
                os.rmdir(self.path)
            except OSError:
                return False
        return True
