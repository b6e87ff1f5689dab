"""The security suite: hostile paths against every path-taking workspace operation.

Public through :mod:`agentcycle.testing.workspace_conformance`. Each hostile path either must
be rejected by the path policy, or is a literal name that stays inside the workspace; the
policy decides which, and the suite checks that every backend agrees and that nothing escapes
either way. Targets name ``canary.txt`` and ``outside/canary.txt`` because that is where
probes plant their secrets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import pytest

from agentcycle.errors import AgentcycleError, PathEscapesWorkspace
from agentcycle.workspace.base import WorkspaceBackend
from agentcycle.workspace.paths import normalize_path

_TARGETS = ("canary.txt", "outside/canary.txt", "etc/passwd", "")
_TRAVERSALS = (
    "../",
    "../../",
    "../../../../../../../../",
    "./../",
    "a/../../",
    "a/b/../../../",
    ".//..//",
    "../ws/../",
    "a/./../.././",
    "..\\",
    "..\\..\\",
    "a\\..\\..\\",
    "..\\/",
    "..///..//",
    "./.\\..\\",
)
_BARE_TRAVERSALS = (
    "..",
    "../",
    "a/../..",
    "a/b/c/../../../..",
    "./..",
    "..\\",
    "x/..\\..",
    "a/" * 50 + "../" * 51,
)
_ENCODED = (
    "%2e%2e/canary.txt",
    "%2e%2e%2fcanary.txt",
    "%2E%2E%2F%2E%2E%2Fcanary.txt",
    "..%2fcanary.txt",
    "..%2Foutside%2Fcanary.txt",
    "%2e%2e%5ccanary.txt",
    "..%5c..%5ccanary.txt",
    "%252e%252e%252fcanary.txt",
    "..%c0%afcanary.txt",
    "..%c1%9ccanary.txt",
    "%c0%ae%c0%ae/canary.txt",
    "%e0%80%ae%e0%80%ae/canary.txt",
    "..%u2215canary.txt",
    "%uff0e%uff0e/canary.txt",
    "..%00/canary.txt",
    "&#46;&#46;/canary.txt",
    "..;/canary.txt",
    ".%2e/canary.txt",
    "%2e./canary.txt",
    "....//....//canary.txt",
    "...\\...\\canary.txt",
    ". ./canary.txt",
    ".. /canary.txt",
    " ../canary.txt",
    "..%20/canary.txt",
    "file:///etc/passwd",
    "file:/etc/passwd",
    "~/.ssh/id_rsa",
    "~root/.bashrc",
    "$HOME/.bashrc",
    "${HOME}/.bashrc",
    "%USERPROFILE%\\NTUSER.DAT",
)
_ABSOLUTE = (
    "/etc/passwd",
    "/",
    "//",
    "///etc/passwd",
    "/tmp",
    "/../../etc/passwd",
    "/./canary.txt",
    "\\etc\\passwd",
    "\\",
    "\\\\",
    "C:\\Windows\\win.ini",
    "C:/Windows/win.ini",
    "c:",
    "C:",
    "c:canary.txt",
    "Z:\\",
    "\\\\server\\share\\x",
    "\\\\?\\C:\\Windows",
    "\\\\.\\PhysicalDrive0",
    "//server/share",
    "\\\\?\\UNC\\server\\share",
    "\\/etc/passwd",
    "/\\etc\\passwd",
)
_CONTROL = (
    "canary.txt\x00",
    "a\x00b",
    "\x00",
    "../\x00",
    "x.txt\x00.png",
    "\x00/../canary.txt",
    "a\nb",
    "a\rb",
    "\t",
    "a\x1b[31mred",
    "a\x7f",
    "a\x85b",
    "a\x9b",
    "\x01",
    "dir/\x08name",
)
_LONG = (
    "a" * 255,
    "a" * 256,
    "é" * 127,
    "é" * 128,
    "😀" * 64,
    "x" * 5000,
    "/".join(["abcd"] * 800),  # 3,999 bytes, 800 levels
    "/".join(["abcd"] * 850),  # over 4,096 bytes
    "../" * 2000,
    "./" * 10000,
    "a/" * 3000 + "../" * 3001,
    "d/" * 300 + "f.txt",
)
_UNICODE = (
    "\uff0e\uff0e/canary.txt",
    "\u2024\u2024/canary.txt",
    "\u2025/canary.txt",
    "\ufe52\ufe52/canary.txt",
    "\u3002\u3002/canary.txt",
    "..\u200b/canary.txt",
    "\u200b../canary.txt",
    "\ufeff../canary.txt",
    "\u00a0../canary.txt",
    ".\u0338./canary.txt",
    "\u2215etc\u2215passwd",
    "\u2044etc\u2044passwd",
    "\uff0fetc\uff0fpasswd",
    "\uff3c..\uff3ccanary.txt",
    "\u202etxt.exe",
    "a\u2066b",
    "a\u200fb",
    "\u061c",
    "\ud800",
    "\udcae\udcae/canary.txt",
    "e\u0301.txt",
    "\u01c5",
    "📁/🔑.txt",
    "مرحبا/ملف.txt",
    "\u2028../canary.txt",
    "\u0130stanbul",
    "\uff21\uff1a\\x",
)
_SENSITIVE_LOOKING = (
    ".env",
    ".env.local",
    ".git/config",
    ".git/hooks/pre-commit",
    ".ssh/id_rsa",
    "id_rsa",
    ".aws/credentials",
    "secrets/token.txt",
    ".netrc",
    "config/secrets.yml",
    ".npmrc",
    "server.pem",
    "private.key",
    ".bashrc",
    "etc/passwd",
    "proc/self/environ",
    ".htaccess",
    "CON",
    "NUL",
    "aux.txt",
    "COM1",
    "LPT1.txt",
    "a.",
    "a ",
    " a",
    "-rf",
    "--help",
    "*",
    "?",
    "[",
    "{a,b}",
    "a*b",
    "**",
    "canary.txt",
    "outside/canary.txt",
)


def _corpus() -> tuple[str, ...]:
    paths = [prefix + target for prefix in _TRAVERSALS for target in _TARGETS]
    for group in (_BARE_TRAVERSALS, _ENCODED, _ABSOLUTE, _CONTROL, _LONG, _UNICODE):
        paths.extend(group)
    paths.extend(_SENSITIVE_LOOKING)
    return tuple(dict.fromkeys(paths))


HOSTILE_PATHS: tuple[str, ...] = _corpus()
"""Traversal (plain, encoded, mixed separators), absolute, drive and UNC paths, NUL and control
characters, overlong names and paths, unicode look-alikes and controls, and sensitive-looking
names: over 200 in all."""


class OutsideProbe(Protocol):
    """A view of the storage around a workspace, for the security suite."""

    secrets: Sequence[bytes]
    """Contents planted outside the workspace; no read may ever return them."""

    async def snapshot(self) -> Any:
        """A comparable picture of everything outside the workspace."""
        ...


class _NothingOutside:
    secrets: Sequence[bytes] = ()

    async def snapshot(self) -> Any:
        return None


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


_Op = Callable[[WorkspaceBackend, str, str], Awaitable[Any]]

PATH_OPERATIONS: dict[str, _Op] = {
    "write": lambda b, p, slot: b.write(p, b"hostile"),
    "read_bytes": lambda b, p, slot: b.read_bytes(p),
    "read_bytes_range": lambda b, p, slot: b.read_bytes(p, start=1, end=64),
    "read_text": lambda b, p, slot: b.read_text(p),
    "info": lambda b, p, slot: b.info(p),
    "exists": lambda b, p, slot: b.exists(p),
    "list": lambda b, p, slot: b.list(p).collect(),
    "glob": lambda b, p, slot: b.list(glob=p).collect(),
    "append": lambda b, p, slot: b.write(p, b"hostile", mode="append"),
    "create": lambda b, p, slot: b.write(p, b"hostile", mode="create"),
    "write_stream": lambda b, p, slot: b.write_stream(p, _chunks(b"host", b"ile")),
    "mkdir": lambda b, p, slot: b.mkdir(p),
    "move_from": lambda b, p, slot: b.move(p, f"moved-{slot}"),
    "move_to": lambda b, p, slot: b.move(f"moved-{slot}", p, overwrite=True),
    "delete": lambda b, p, slot: b.delete(p),
    "delete_recursive": lambda b, p, slot: b.delete(p, recursive=True),
}
"""Every path-taking operation and mode, as ``(backend, path, slot) -> awaitable``, in the
order the security suite runs them: a write first, so the reads find a file; the path moved
away to ``moved-<slot>`` and back; deletes last, so nothing is left behind."""

ONE_PER_METHOD: tuple[str, ...] = tuple(
    name
    for name in PATH_OPERATIONS
    if name not in ("read_bytes_range", "append", "create", "delete_recursive")
)
"""One operation for each path-taking method of the protocol, without the mode variants."""


def _leaks(result: Any, secrets: Sequence[bytes]) -> bool:
    if isinstance(result, str):
        result = result.encode("utf-8", "surrogateescape")
    return isinstance(result, bytes) and any(secret in result for secret in secrets)


class WorkspaceSecurityConformance:
    """Hostile paths against every path-taking operation: zero escapes, only typed errors.

    For each path in :data:`HOSTILE_PATHS`, the operations in ``hostile_operations`` (all of
    :data:`PATH_OPERATIONS` unless a subclass narrows it, say to :data:`ONE_PER_METHOD` for
    slow storage) run in turn in one workspace. Paths the policy rejects must raise
    ``path_escapes_workspace`` from every operation; the rest must succeed or raise a typed
    :class:`~agentcycle.errors.AgentcycleError`, and what a successful write wrote must read
    back. No result may contain a planted secret, the outside must not change (checked after
    every path), and every path the backend lists must be one the policy accepts back as is.
    All problems are reported together.
    """

    hostile_operations: tuple[str, ...] = tuple(PATH_OPERATIONS)

    @pytest.fixture
    def backend(self) -> WorkspaceBackend:
        """A fresh, empty workspace. Subclasses must override this."""
        raise NotImplementedError("subclasses provide a `backend` fixture")

    @pytest.fixture
    def outside(self) -> OutsideProbe:
        """What lies around the workspace; override to let the suite check it."""
        return _NothingOutside()

    async def test_hostile_paths(self, backend: WorkspaceBackend, outside: OutsideProbe) -> None:
        before = await outside.snapshot()
        operations = [(name, PATH_OPERATIONS[name]) for name in self.hostile_operations]
        problems: list[str] = []
        for slot, path in enumerate(HOSTILE_PATHS):
            problems.extend(await _attack(backend, outside, operations, path, str(slot)))
            if await outside.snapshot() != before:
                problems.append(f"{path!r}: something outside the workspace changed")
        listed = [entry.path async for entry in backend.list(glob="**")]
        problems.extend(f"listed unaddressable {p!r}" for p in listed if normalize_path(p) != p)
        assert not problems, "\n".join(problems)


async def _attack(
    backend: WorkspaceBackend,
    outside: OutsideProbe,
    operations: list[tuple[str, _Op]],
    path: str,
    slot: str,
) -> list[str]:
    """Run the operations on one hostile path; return what went wrong."""
    try:
        target: str | None = normalize_path(path)
    except PathEscapesWorkspace:
        target = None
    problems: list[str] = []
    for name, operation in operations:
        try:
            result = await operation(backend, path, slot)
        except PathEscapesWorkspace:
            continue
        except AgentcycleError as error:
            if target is None:
                problems.append(
                    f"{path!r} {name}: expected path_escapes_workspace, got {error.code}"
                )
            continue
        except Exception as error:
            problems.append(f"{path!r} {name}: untyped {type(error).__name__}: {error}")
            continue
        if target is None:
            problems.append(f"{path!r} {name}: accepted a path the policy rejects")
        elif _leaks(result, outside.secrets):
            problems.append(f"{path!r} {name}: returned a planted secret")
        elif name == "write" and target and await backend.read_bytes(path) != b"hostile":
            problems.append(f"{path!r} write: did not read back")
    return problems
