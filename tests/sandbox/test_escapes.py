"""The escape suite: each way out of the sandbox fails, as root and as an unprivileged user,
while ordinary workspace work (build, test, git) still works."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.conftest import FORK_UNTIL_REFUSED, Run, User, command, give


def failed(body: dict[str, Any]) -> bool:
    """Whether the command ran and failed (not refused before running)."""
    return body.get("ok") is False and body.get("error_code") == "command_failed"


def out(body: dict[str, Any]) -> str:
    """A command's output, from a success or a ``command_failed`` result."""
    output: str = body["output"] if "output" in body else body["details"]["output"]
    return output


def test_workspace_work_still_works(run_bash: Run, box: Path, user: User) -> None:
    ws = box / "ws"
    (ws / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (ws / "test_calc.py").write_text(
        "import unittest\nfrom calc import add\n\n"
        "class T(unittest.TestCase):\n"
        "    def test_add(self):\n"
        "        self.assertEqual(add(2, 3), 5)\n"
    )
    (ws / "hello.c").write_text('#include <stdio.h>\nint main(void){puts("built");return 0;}\n')
    for name in ("calc.py", "test_calc.py", "hello.c"):
        give(ws / name, user)
    scratch = f"/tmp/agentcycle-scratch-{secrets.token_hex(6)}"
    build = "cc -o hello hello.c && ./hello" if shutil.which("cc") else "echo built"
    bodies = run_bash(
        command("python3 -m unittest -q test_calc 2>&1 | tail -1"),
        command(build),
        command("mkdir -p out && echo data > out/file && cat out/file"),
        command("git status --short"),
        command(f"echo scratch > {scratch} && cat {scratch}"),
        command("cat .env", stdin=""),
    )
    assert "OK" in out(bodies[0]), bodies
    assert "built" in out(bodies[1])
    assert "data" in out(bodies[2]) and (ws / "out" / "file").read_text() == "data\n"
    assert bodies[3]["ok"] is True and "calc.py" in out(bodies[3])
    assert "scratch" in out(bodies[4]) and not Path(scratch).exists()  # the sandbox's own /tmp


def test_writes_outside_the_workspace_fail(run_bash: Run, box: Path) -> None:
    outside = box / "outside"
    target = outside / "escaped"
    (box / "ws" / "planted").symlink_to(outside)  # a link the host made, into the outside
    bodies = run_bash(
        command(f"echo x > {target}"),
        command(f"ln -s {outside} link && echo x > link/escaped"),
        command("echo x > planted/escaped"),
        command(f"echo x > /proc/self/root{target}"),
        command(f"echo x > /proc/1/root{target}"),
        command("cd /proc/self/cwd/.. && echo x > outside/escaped"),
        command("echo x > /etc/agentcycle-escaped"),
        command(f"cp /bin/true {outside}/escaped"),
    )
    assert all(failed(b) for b in bodies), bodies
    assert os.listdir(outside) == []
    assert not Path("/etc/agentcycle-escaped").exists()


def test_protected_paths_stay_read_only(run_bash: Run, box: Path) -> None:
    git = box / "ws" / ".git"
    head = (git / "HEAD").read_text()
    (box / "ws" / ".agentcycle").mkdir()
    bodies = run_bash(
        command("echo 'ref: refs/heads/evil' > .git/HEAD"),
        command("echo '#!/bin/sh' > .git/hooks/pre-commit"),
        command("rm -rf .git"),
        command("mv .git gone"),
        command("echo x > .agentcycle/state"),
        command("git config user.name intruder"),
    )
    assert all(failed(b) for b in bodies), bodies
    assert (git / "HEAD").read_text() == head
    assert not (git / "hooks" / "pre-commit").exists()
    assert not (box / "ws" / ".agentcycle" / "state").exists()


def test_remounting_writable_fails(run_bash: Run, box: Path) -> None:
    bodies = run_bash(
        command("mount -o remount,rw / && echo x > /etc/agentcycle-escaped"),
        command("mount -o remount,rw,bind .git && echo x > .git/pwned"),
        command("umount .git && echo x > .git/pwned"),
        command(f"mount --bind {box / 'outside'} /mnt && echo x > /mnt/escaped"),
        command("unshare -rm sh -c 'mount -o remount,rw / && echo x > /etc/agentcycle-escaped'"),
    )
    assert all(failed(b) for b in bodies), bodies
    assert not Path("/etc/agentcycle-escaped").exists()
    assert not (box / "ws" / ".git" / "pwned").exists()
    assert os.listdir(box / "outside") == []


def test_credential_files_read_empty(run_bash: Run, box: Path) -> None:
    key = "sk_live_" + secrets.token_hex(8)
    (box / "ws" / ".env").write_text(f"STRIPE_KEY={key}\n")
    (box / "ws" / ".env").chmod(0o644)
    bodies = run_bash(
        command("cat .env; wc -c < .env"),
        command("echo more >> .env"),
        command("rm .env"),
    )
    assert key not in out(bodies[0]) and out(bodies[0]).strip().endswith("0")
    assert failed(bodies[1]) and failed(bodies[2])
    assert (box / "ws" / ".env").read_text() == f"STRIPE_KEY={key}\n"


@pytest.fixture
def secret_process() -> Iterator[tuple[int, str]]:
    """A host process with a secret in its environment."""
    mark = "MARK_" + secrets.token_hex(8)
    proc = subprocess.Popen(["sleep", "300"], env={"PATH": os.environ["PATH"], "SECRET": mark})
    yield proc.pid, mark
    proc.kill()
    proc.wait()


def test_other_processes_environment_is_out_of_reach(
    run_bash: Run, secret_process: tuple[int, str]
) -> None:
    pid, mark = secret_process
    bodies = run_bash(
        command(f"cat /proc/{pid}/environ"),
        command("cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; true"),
        command(f"ls /proc | grep -qx {pid}"),
    )
    assert failed(bodies[0]) and mark not in out(bodies[0])
    assert mark not in out(bodies[1])
    assert failed(bodies[2])  # the host pid does not even exist in the sandbox


def test_no_network_unless_allowed(
    run_bash: Run, tcp_server: tuple[int, list[socket.socket]]
) -> None:
    port, accepted = tcp_server
    connect = (
        "python3 -c \"import socket; s = socket.create_connection(('127.0.0.1', "
        f'{port}), 3); print(s.recv(10))"'
    )
    bodies = run_bash(command(connect), command(f"exec 3<>/dev/tcp/127.0.0.1/{port}"))
    assert all(failed(b) for b in bodies), bodies
    assert accepted == []
    # The same connect works when the policy allows the network: the test can tell.
    allowed = run_bash(command(connect), network=True)
    assert "hello" in out(allowed[0]) and len(accepted) == 1


def marked_processes(mark: str) -> list[int]:
    """Host pids whose command line holds ``mark``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if mark.encode() in cmdline:
                found.append(int(name))
    return found


def test_a_fork_bomb_is_capped(run_bash: Run) -> None:
    bodies = run_bash(
        FORK_UNTIL_REFUSED,
        command("bomb() { bomb | bomb & }; bomb", timeout=1),
        max_processes=64,
    )
    started = int(out(bodies[0]).rsplit("started=", 1)[1])
    assert started < 64
    assert bodies[1]["status"] in ("running", "completed")  # the bomb fizzled or was capped


def test_a_timeout_kills_the_whole_tree(run_bash: Run) -> None:
    mark = "agentcycle-tree-" + secrets.token_hex(6)
    script = f"setsid bash -c 'exec -a {mark} sleep 300' & (exec -a {mark} sleep 300 &); wait"
    bodies = run_bash(
        command(script, run_in_background=True, timeout=1),
        {"wait": 0},
    )
    assert bodies[1]["status"] == "timeout"
    assert marked_processes(mark) == []
