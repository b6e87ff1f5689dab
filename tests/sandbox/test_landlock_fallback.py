"""The Landlock fallback, forced (``backend="landlock"``), as root and as an unprivileged user:
what it promises (writes only beneath the writable roots, no internet sockets, the process cap,
the tree cleanup) holds; bubblewrap's extras (protected paths, masked files, PID namespace) are
not its promise (see ``tools/builtin/_landlock.py``)."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import pytest

from agentcycle.tools.sandbox import sandbox_support
from tests.sandbox.conftest import FORK_UNTIL_REFUSED, Run, command
from tests.sandbox.test_escapes import failed, marked_processes, out

LANDLOCK = {"backend": "landlock"}


@pytest.fixture(autouse=True)
def landlock_here() -> None:
    if not sandbox_support("landlock").available:
        pytest.fail("this kernel has no Landlock: the fallback cannot be tested here")


def test_workspace_work_runs_and_writes_elsewhere_fail(run_bash: Run, box: Path) -> None:
    outside = box / "outside"
    (box / "ws" / "planted").symlink_to(outside)
    bodies = run_bash(
        command("echo data > file && cat file && python3 -c 'print(6 * 7)'"),
        command("echo t > $TMPDIR/t && cat $TMPDIR/t"),
        command(f"echo x > {outside}/escaped"),
        command("echo x > planted/escaped"),
        command(f"echo x > /proc/self/root{outside}/escaped"),
        command("echo x > /tmp/agentcycle-landlock-escaped"),
        command(f"mount -t tmpfs none {outside} && echo x > {outside}/escaped"),
        **LANDLOCK,
    )
    assert "data" in out(bodies[0]) and "42" in out(bodies[0])
    assert "t" in out(bodies[1])
    assert all(failed(b) for b in bodies[2:]), bodies[2:]
    assert os.listdir(outside) == []
    assert not Path("/tmp/agentcycle-landlock-escaped").exists()


def test_read_only_mode_writes_only_the_temporary_directory(run_bash: Run, box: Path) -> None:
    bodies = run_bash(
        command("echo x > file"),
        command("echo t > $TMPDIR/t && cat $TMPDIR/t"),
        mode="read-only",
        **LANDLOCK,
    )
    assert failed(bodies[0]) and not (box / "ws" / "file").exists()
    assert bodies[1]["ok"] is True


def test_no_internet_sockets_unless_allowed(
    run_bash: Run, tcp_server: tuple[int, list[socket.socket]]
) -> None:
    port, accepted = tcp_server
    connect = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 3)\""
    udp = 'python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"'
    bodies = run_bash(
        command(connect), command(f"exec 3<>/dev/tcp/127.0.0.1/{port}"), command(udp), **LANDLOCK
    )
    assert all(failed(b) for b in bodies), bodies
    assert accepted == []
    allowed = run_bash(command(connect), network=True, **LANDLOCK)
    assert allowed[0]["ok"] is True and len(accepted) == 1


def test_the_process_cap_and_the_timeout_hold(run_bash: Run) -> None:
    mark = "agentcycle-tree-" + secrets.token_hex(6)
    bodies = run_bash(
        FORK_UNTIL_REFUSED,
        command(
            f"setsid bash -c 'exec -a {mark} sleep 300' & wait",
            run_in_background=True,
            timeout=1,
        ),
        {"wait": 1},
        max_processes=64,
        **LANDLOCK,
    )
    assert int(out(bodies[0]).rsplit("started=", 1)[1]) < 64
    assert bodies[2]["status"] == "timeout"
    assert marked_processes(mark) == []
