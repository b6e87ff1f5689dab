"""The ``pids`` cgroup a sandboxed command joins (root's fork-bomb cap): joining it is the cheap
single-thread move, and the command and everything it starts afterwards are inside."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agentcycle.tools.builtin._confine import PidsCgroup, _pids_hierarchy

# The child joins exactly as the reaper helper's child does, then starts a grandchild.
JOIN_AND_REPORT = """
import subprocess, sys
with open(sys.argv[1], "w") as handle:
    handle.write("0")
print(open("/proc/self/cgroup").read())
print(subprocess.run(["cat", "/proc/self/cgroup"], capture_output=True, text=True).stdout)
"""


@pytest.fixture
def cgroup() -> PidsCgroup:
    if _pids_hierarchy() is None:
        if os.environ.get("CI") == "true" and os.geteuid() == 0:
            pytest.fail("root on CI must be able to create a pids cgroup")
        pytest.skip("no writable pids cgroup hierarchy for this user (root has one on CI)")
    created = PidsCgroup.create(16)
    assert created is not None
    return created


def test_the_join_file_is_the_single_thread_move_on_v1(cgroup: PidsCgroup) -> None:
    # cgroup.procs would take the kernel's global threadgroup lock (an RCU grace period).
    expected = "tasks" if cgroup.v1 else "cgroup.procs"
    try:
        assert os.path.basename(cgroup.join_file) == expected
        assert os.path.exists(cgroup.join_file)
    finally:
        assert cgroup.remove()


def test_a_joined_process_and_its_children_are_inside_and_capped(cgroup: PidsCgroup) -> None:
    name = os.path.basename(cgroup.path)
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", JOIN_AND_REPORT, cgroup.join_file],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        own, child = done.stdout.split("\n\n", 1)
        assert name in own
        assert name in child
        with open(os.path.join(cgroup.path, "pids.max"), encoding="ascii") as handle:
            assert handle.read().strip() == "16"
    finally:
        assert cgroup.remove()
