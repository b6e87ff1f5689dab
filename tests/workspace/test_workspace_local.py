"""The local backend: shared suites with a canary-watching probe, plus what only a real
file system has (atomic replace, file modes, special files, unlistable names, lazy walks)."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from workspace_probes import SiblingProbe

from agentcycle.errors import AgentcycleError
from agentcycle.testing.workspace_conformance import (
    WorkspaceBackendConformance,
    WorkspaceSecurityConformance,
    expect_error,
)
from agentcycle.workspace import LocalWorkspaceBackend, WorkspaceBackend


class TestLocalBackend(WorkspaceBackendConformance, WorkspaceSecurityConformance):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> WorkspaceBackend:
        return LocalWorkspaceBackend(tmp_path / "ws")

    @pytest.fixture
    def outside(self, tmp_path: Path) -> SiblingProbe:
        return SiblingProbe(tmp_path)


# -- construction -------------------------------------------------------------------------


def test_root_is_created_and_resolved(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    backend = LocalWorkspaceBackend(tmp_path / "alias" / "nested")
    assert backend.local_root == (tmp_path / "real" / "nested").resolve()
    assert backend.local_root.is_dir()


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with expect_error("not_a_directory"):
        LocalWorkspaceBackend(tmp_path / "file")
    with expect_error("file_not_found"):
        LocalWorkspaceBackend(tmp_path / "missing", create=False)


# -- writes -------------------------------------------------------------------------------


async def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    backend = LocalWorkspaceBackend(tmp_path)
    await backend.write("a.txt", "one")
    await backend.write("a.txt", "two")
    await backend.write("b.txt", "x", mode="create")
    await backend.write_stream("c.bin", _chunks(b"1", b"2"))
    with expect_error("file_exists"):
        await backend.write("b.txt", "y", mode="create")
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "b.txt", "c.bin"]


async def test_overwrite_is_an_atomic_replace(tmp_path: Path) -> None:
    backend = LocalWorkspaceBackend(tmp_path)
    await backend.write("f.txt", "old")
    reader = os.open(tmp_path / "f.txt", os.O_RDONLY)  # a reader holding the old version
    try:
        await backend.write("f.txt", "new")
        assert os.read(reader, 100) == b"old"
    finally:
        os.close(reader)
    assert (tmp_path / "f.txt").read_text() == "new"


async def test_overwrite_keeps_the_file_mode(tmp_path: Path) -> None:
    backend = LocalWorkspaceBackend(tmp_path)
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o750)
    await backend.write("run.sh", "#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o750


async def test_create_without_hard_links_falls_back_to_reservation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(1, "Operation not permitted")  # EPERM: what FAT and friends say

    monkeypatch.setattr(os, "link", no_links)
    backend = LocalWorkspaceBackend(tmp_path)
    await backend.write("once.txt", "first", mode="create")
    with expect_error("file_exists"):
        await backend.write("once.txt", "second", mode="create")
    assert (tmp_path / "once.txt").read_text() == "first"
    assert os.listdir(tmp_path) == ["once.txt"]


async def test_large_reads_and_writes(tmp_path: Path) -> None:
    backend = LocalWorkspaceBackend(tmp_path)
    payload = os.urandom(3 * 1024 * 1024)
    await backend.write("big.bin", payload)
    assert await backend.read_bytes("big.bin") == payload
    assert (
        await backend.read_bytes("big.bin", start=1024, end=1024 * 1024)
        == payload[1024 : 1024 * 1024]
    )


# -- special files and names --------------------------------------------------------------


async def test_fifos_are_not_files(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    backend = LocalWorkspaceBackend(tmp_path)
    with expect_error("not_a_file"):
        await asyncio.wait_for(backend.read_bytes("pipe"), timeout=5)
    with expect_error("not_a_file"):
        await backend.info("pipe")
    with expect_error("not_a_file"):
        await backend.write("pipe", "x", mode="append")
    assert await backend.list().collect() == []
    await backend.delete("pipe")
    assert not (tmp_path / "pipe").exists()


async def test_unaddressable_names_are_not_listed(tmp_path: Path) -> None:
    for name in ("back\\slash", "new\nline", "C:drive", "bidi\u202eexe"):
        (tmp_path / name).write_text("x")
    os.mkdir(tmp_path / "d")
    (tmp_path / "d" / "C:fine").write_text("x")  # a drive-like name is only a problem on top
    (tmp_path.joinpath(os.fsdecode(b"bad\xff"))).write_text("x")  # not UTF-8
    backend = LocalWorkspaceBackend(tmp_path)
    assert [e.path for e in await backend.list(glob="**").collect()] == ["d", "d/C:fine"]
    assert await backend.read_text("d/C:fine") == "x"


async def test_permission_errors_are_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CI runs as root, which file modes cannot stop, so the refusal comes from os.open itself.
    backend = LocalWorkspaceBackend(tmp_path)
    await backend.write("locked.txt", "x")
    real_open = os.open

    def refusing_open(path: str, flags: int, *args: int, **kwargs: int) -> int:
        if os.fspath(path).endswith("locked.txt"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(AgentcycleError) as caught:
        await backend.read_bytes("locked.txt")
    assert caught.value.code == "storage_error"
    assert caught.value.details["reason"] == "permission_denied"
    assert "locked.txt" in str(caught.value)


# -- listing stays lazy -------------------------------------------------------------------


@pytest.fixture
def counted_scandir(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every directory the backend reads (it reads them by descriptor)."""
    reads: list[str] = []
    original = os.scandir

    def scandir(path: Any) -> Any:
        reads.append(os.readlink(f"/proc/self/fd/{path}") if isinstance(path, int) else path)
        return original(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return reads


async def test_listing_stops_without_walking_everything(
    tmp_path: Path, counted_scandir: list[str]
) -> None:
    for group in range(200):
        directory = tmp_path / f"g{group:03d}"
        directory.mkdir()
        for index in range(5):
            (directory / f"f{index}.txt").write_text("")
    backend = LocalWorkspaceBackend(tmp_path)
    first = await backend.list(glob="**/*.txt", limit=10).collect()
    assert [e.path for e in first][:2] == ["g000/f0.txt", "g000/f1.txt"]
    assert len(counted_scandir) < 10
    counted_scandir.clear()
    scan = backend.list(glob="**", scan_limit=12)
    await scan.collect()
    assert scan.truncated and len(counted_scandir) < 10


async def test_glob_prunes_directories_that_cannot_match(
    tmp_path: Path, counted_scandir: list[str]
) -> None:
    for top in ("src", "docs", "node_modules"):
        for sub in range(20):
            (tmp_path / top / f"m{sub}").mkdir(parents=True)
            (tmp_path / top / f"m{sub}" / "x.py").write_text("")
    backend = LocalWorkspaceBackend(tmp_path)
    found = await backend.list(glob="src/*/x.py").collect()
    assert len(found) == 20
    assert all(path.startswith(str(tmp_path / "src")) for path in counted_scandir)


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
