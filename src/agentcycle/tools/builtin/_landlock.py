"""The fallback sandbox where user namespaces are unavailable: Landlock plus a seccomp filter.

Applied by the reaper helper's child just before it executes the shell (``helper_argv``'s
``confine_code``: Python source run in that child), so it binds the command and everything it
starts, never the host process. Through ``ctypes`` syscalls, with no dependency:

- **Landlock** (Linux 5.13+): the whole filesystem readable and executable; writable only
  beneath the writable roots, a fresh per-command temporary directory (``TMPDIR``) and
  ``/dev`` (``/dev/null``, the terminal); ``no_new_privs`` is set first, as Landlock requires.
- **seccomp**: ``socket()`` for ``AF_INET``, ``AF_INET6`` and ``AF_PACKET`` fails with
  ``EACCES`` unless the policy allows the network; a syscall of a foreign ABI (x32, another
  architecture) kills the process, so the filter cannot be sidestepped.

What it cannot do, unlike bubblewrap: Landlock rules only grant, beneath a directory, so
protected paths inside a writable root stay writable and credential files stay readable (the
shell's output redaction still applies); there is no PID namespace (``/proc`` shows the host's
processes, though reading another user's environment is still refused by the kernel) and no
private ``/tmp``. The process cap (``RLIMIT_NPROC``, the pids cgroup) and the tree cleanup are
the same as with bubblewrap.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import platform

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}
"""Machine -> (seccomp audit arch, ``socket`` syscall number)."""


@functools.cache
def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none, or no seccomp filter for this machine)."""
    if platform.machine() not in _ARCHES:
        return 0
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return 0
    version = int(libc.syscall(_CREATE_RULESET, None, 0, 1))  # LANDLOCK_CREATE_RULESET_VERSION
    return max(version, 0)


# Run in the helper's child (a fresh ``python -I -S``), so it is self-contained source.
_CODE = r"""
import ctypes, json, os, struct
spec = json.loads(SPEC)
libc = ctypes.CDLL(None, use_errno=True)


def check(result, what):
    if result < 0:
        raise OSError(ctypes.get_errno(), what)
    return result


READ = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read file, read dir
WRITE = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 12)
handled = (1 << 13) - 1
if spec["abi"] >= 2:
    handled |= 1 << 13  # refer (rename/link across directories)
    WRITE |= 1 << 13
if spec["abi"] >= 3:
    handled |= 1 << 14  # truncate
    WRITE |= 1 << 14
attr = struct.pack("=Q", handled)
ruleset = check(libc.syscall(444, attr, len(attr), 0), "landlock_create_ruleset")
rules = [("/", READ)] + [(p, READ | WRITE) for p in spec["writable"]]
rules.append(("/dev", READ | (1 << 1)))
for path, access in rules:
    try:
        fd = os.open(path, getattr(os, "O_PATH", 0) | os.O_CLOEXEC)
    except OSError:
        continue
    rule = struct.pack("=Qi", access & handled, fd)
    check(libc.syscall(445, ruleset, 1, rule, 0), "landlock_add_rule " + path)
    os.close(fd)
check(libc.prctl(38, 1, 0, 0, 0), "no_new_privs")
check(libc.syscall(446, ruleset, 0), "landlock_restrict_self")
os.close(ruleset)
if not spec["network"]:
    def op(code, k, jt=0, jf=0):
        return struct.pack("=HBBI", code, jt, jf, k)
    LD, JEQ, JGE, RET = 0x20, 0x15, 0x35, 0x06
    ALLOW, KILL, DENY = 0x7FFF0000, 0x80000000, 0x00050000 | 13  # EACCES
    program = [
        op(LD, 4),                          # 0: arch
        op(JEQ, spec["arch"], 1, 0),        # 1: ours -> 3, else -> 2
        op(RET, KILL),                      # 2
        op(LD, 0),                          # 3: syscall number
        op(JGE, 0x40000000, 0, 1),          # 4: x32 ABI -> 5, else -> 6
        op(RET, KILL),                      # 5
        op(JEQ, spec["socket"], 0, 4),      # 6: socket -> 7, else -> 11
        op(LD, 16),                         # 7: its domain (first argument, low half)
        op(JEQ, 2, 3, 0),                   # 8: AF_INET -> 12
        op(JEQ, 10, 2, 0),                  # 9: AF_INET6 -> 12
        op(JEQ, 17, 1, 0),                  # 10: AF_PACKET -> 12, else -> 11
        op(RET, ALLOW),                     # 11
        op(RET, DENY),                      # 12
    ]
    code = b"".join(program)
    buffer = ctypes.create_string_buffer(code, len(code))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    prog = Prog(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    check(libc.prctl(22, 2, ctypes.byref(prog), 0, 0), "seccomp")
"""


def landlock_code(writable: list[str], network: bool) -> str:
    """Python source that confines the process running it: Landlock write access only beneath
    ``writable`` (and ``/dev``), and no internet sockets unless ``network``."""
    arch, socket_nr = _ARCHES[platform.machine()]
    spec = {
        "abi": landlock_abi(),
        "writable": [os.path.realpath(p) for p in writable],
        "network": network,
        "arch": arch,
        "socket": socket_nr,
    }
    return f"SPEC = {json.dumps(json.dumps(spec))}\n{_CODE}"
