"""A child-subreaper helper between the shell tools and ``bash``: no descendant escapes.

A process group is not a process tree: a grandchild that calls ``setsid`` or ``setpgid``
leaves its group, and one whose parent exits is re-parented to init, out of reach. So every
command runs under a small helper process (this module's :data:`HELPER`, run with the host's
Python) that:

1. marks itself a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``, via ``ctypes``): an
   orphaned descendant is re-parented to the helper instead of init, so the helper's process
   tree holds every process the command ever started, whatever group or session they moved to;
2. forks and execs ``bash -lc command``, hands stdin and the output pipe to it and lets go of
   its own copies (so end-of-file on them still means what it meant);
3. reaps children; when ``bash`` itself exits it writes bash's exit code (``-N`` for signal
   ``N``) to a status pipe, then keeps reaping until no descendant is left, and exits;
4. on ``SIGTERM`` (the session kills the process group; the helper is in it) sends
   ``SIGTERM`` to every descendant, ``SIGKILL`` after :data:`HELPER_GRACE_SECONDS`, repeats
   until none is left (children forked meanwhile are re-parented to it too), and exits.

Why a helper rather than making the host process the subreaper or using a cgroup: the host is
an embedding application (setting the flag there would re-parent its own unrelated orphans to
it), and cgroups are rarely writable for an unprivileged process; the helper costs one small
process per command and works wherever ``prctl`` does (Linux). Elsewhere the helper is not
used and the process group is all the shell kills, as before.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

HELPER_GRACE_SECONDS = 0.3
"""How long descendants get between the helper's SIGTERM and SIGKILL (below the session's
own grace, so the helper finishes before the group is SIGKILLed)."""

AVAILABLE = sys.platform.startswith("linux")
"""Whether commands run under the helper (``prctl`` and ``/proc`` are Linux's)."""

_HELPER_SOURCE = r"""
import ctypes, os, signal, sys, time

GRACE, KILL_LIMIT = float(sys.argv[1]), 5.0
status_fd = int(sys.argv[2])
nproc, cgroup, confine = int(sys.argv[3]), sys.argv[4], sys.argv[5]
WATCHED = {signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD}
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
# Blocked before the fork, so no signal is missed; taken with sigwaitinfo, never by a handler
# that could interrupt the bookkeeping below.
signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
command = os.fork()
if command == 0:
    # Python ignores SIGPIPE and SIGXFSZ; ignored signals survive exec, so restore them.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    os.close(status_fd)
    try:
        if cgroup:
            with open(cgroup, "w") as handle:
                handle.write("0")  # this process: see _confine on why not its pid
        if nproc:
            import resource

            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        if confine:
            exec(confine, {})
        os.execvp(sys.argv[6], sys.argv[6:])
    finally:
        os._exit(127)
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
signal.signal(signal.SIGINT, signal.SIG_IGN)


def descendants():
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as handle:
                    parents[int(name)] = int(handle.read().rpartition(b")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                pass
    found, frontier = [], [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def signal_all(sig):
    pids = descendants()
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    return pids


def reap():
    # Reap every exited child; False once no child is left at all.
    global command
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True
        if pid == command:
            command = None
            os.write(status_fd, b"%d\n" % os.waitstatus_to_exitcode(status))
            os.close(status_fd)


while reap():
    if signal.sigwaitinfo(WATCHED).si_signo != signal.SIGCHLD:
        signal_all(signal.SIGTERM)
        deadline = time.monotonic() + GRACE
        while reap() and descendants() and time.monotonic() < deadline:
            signal.sigtimedwait({signal.SIGCHLD}, 0.01)
        deadline = time.monotonic() + KILL_LIMIT
        while time.monotonic() < deadline and (signal_all(signal.SIGKILL) or reap()):
            signal.sigtimedwait({signal.SIGCHLD}, 0.005)
        break
"""


def helper_argv(
    status_fd: int,
    argv: Sequence[str],
    *,
    max_processes: int = 0,
    cgroup_join: str = "",
    confine_code: str = "",
) -> list[str]:
    """The argument vector that runs ``argv`` under the helper, which reports its exit code
    on ``status_fd``. With ``max_processes`` the command starts with that ``RLIMIT_NPROC``;
    with ``cgroup_join`` it first joins that cgroup by writing ``0`` (itself, single-threaded)
    to that file (``PidsCgroup.join_file``); with
    ``confine_code`` the helper's child runs that Python source just before it executes
    ``argv`` (the Landlock sandbox: a failure there kills the command, never runs it
    unconfined)."""
    return [
        sys.executable,
        "-I",
        "-S",
        "-c",
        _HELPER_SOURCE,
        repr(HELPER_GRACE_SECONDS),
        str(status_fd),
        str(max_processes),
        cgroup_join,
        confine_code,
        *argv,
    ]
