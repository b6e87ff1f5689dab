"""Fixtures for the sandbox tests: a workspace owned by the user under test, and a way to run
the ``bash`` tool as that user (root, or an unprivileged uid through ``setpriv``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentcycle.tools.sandbox import sandbox_support

RUNNER = Path(__file__).with_name("bash_runner.py")
NOBODY = 65534
RUN_LIMIT_SECONDS = 120


def require_sandbox() -> None:
    """Fail on CI (and skip elsewhere) when this host cannot sandbox: the suite is about it."""
    support = sandbox_support()
    if support.available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"no sandbox on this CI host: {support.reason}")
    pytest.skip(f"no sandbox here: {support.reason}")


@dataclass(frozen=True)
class User:
    """Who runs the tool: ``root`` or the unprivileged ``nobody``."""

    name: str
    uid: int

    def prefix(self) -> list[str]:
        """The command prefix that drops to this user (nothing for the current one)."""
        if self.uid == os.geteuid():
            return []
        return [
            shutil.which("setpriv") or "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.uid}",
            "--clear-groups",
        ]


@pytest.fixture(params=["root", "unprivileged"])
def user(request: pytest.FixtureRequest) -> User:
    """Each escape test runs once as root and once as an unprivileged user."""
    require_sandbox()
    if os.geteuid() != 0:
        if request.param == "root":
            pytest.skip("the root case needs the suite to run as root (CI does)")
        return User("unprivileged", os.geteuid())
    if request.param == "root":
        return User("root", 0)
    return User("unprivileged", NOBODY)


@pytest.fixture
def box(user: User) -> Iterator[Path]:
    """A directory the user under test can reach: ``ws`` (the workspace, with a ``.git``,
    owned by that user) and ``outside`` (writable by anyone, so only the sandbox stops a write
    there). Not under pytest's base directory, which only its owner may enter."""
    base = Path(tempfile.mkdtemp(prefix="agentcycle-escape-"))
    base.chmod(0o755)
    workspace, outside = base / "ws", base / "outside"
    workspace.mkdir()
    outside.mkdir()
    outside.chmod(0o777)
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    if user.uid != os.geteuid():
        for path in [workspace, *workspace.rglob("*")]:
            os.lchown(path, user.uid, user.uid)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def give(path: Path, user: User) -> None:
    """Make ``path`` (written by the test) the user under test's."""
    if user.uid != os.geteuid():
        os.lchown(path, user.uid, user.uid)


def interpreter(user: User) -> str:
    """A Python the user under test may execute: this one, or for another user the system's
    of the same version (this one may live in a home directory only its owner can enter)."""
    if user.uid == os.geteuid() or _executable_by(sys.executable, user.uid):
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for directory in ("/usr/local/bin", "/usr/bin"):
        candidate = os.path.join(directory, version)
        if _executable_by(candidate, user.uid):
            return candidate
    pytest.fail(f"no {version} the unprivileged user may run")


def _executable_by(path: str, uid: int) -> bool:
    """Whether ``uid`` (not root, no groups) may run ``path``: every directory on the way is
    searchable by others and the file is executable by others."""
    real = Path(os.path.realpath(path))
    if not real.is_file():
        return False
    return all(p.stat().st_mode & 0o001 for p in [real, *real.parents])


def import_path() -> list[str]:
    """Where the runner finds agentcycle and its dependencies (not this interpreter's own
    standard library: another interpreter may run it)."""
    stdlib = os.path.dirname(os.__file__)
    return [p for p in sys.path if p and not p.startswith(stdlib)]


Run = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def run_bash(box: Path, user: User) -> Run:
    """Run ``bash`` calls as the user under test in a fresh process; the results in order."""

    def run(*calls: dict[str, Any], **policy: Any) -> list[dict[str, Any]]:
        spec = {"workspace": str(box / "ws"), "policy": policy, "calls": list(calls)}
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")}
        if user.uid != os.geteuid():
            env["HOME"] = "/nonexistent"
        done = subprocess.run(
            [*user.prefix(), interpreter(user), str(RUNNER)],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=RUN_LIMIT_SECONDS,
            cwd=box,
            env={**env, "PYTHONPATH": os.pathsep.join(import_path())},
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    return run


def command(text: str, **args: Any) -> dict[str, Any]:
    """A ``bash`` call of ``text``."""
    return {"bash": {"command": text, **args}}


FORK_UNTIL_REFUSED = command(
    "python3 -c 'import os, time\n"
    "n = 0\n"
    "while n < 400:\n"
    "    try:\n"
    "        pid = os.fork()\n"
    "    except OSError:\n"
    "        break\n"
    "    if pid == 0:\n"
    "        time.sleep(30)\n"
    "        os._exit(0)\n"
    "    n += 1\n"
    'print(f"started={n}")\''
)
"""Start sleepers until a fork is refused and print how many started. Python's ``fork`` fails
at once where bash's retries with back-off for about 15 s."""


@pytest.fixture
def tcp_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A server on 127.0.0.1 that greets and records every connection it accepts: its port
    and the accepted connections."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.sendall(b"hello\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    # Closing alone does not wake a thread blocked in accept() on Linux; shutting the
    # listening socket down does (accept fails with EINVAL).
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    thread.join(timeout=5)
    assert not thread.is_alive()
