"""The memory backend: the shared conformance and security suites, plus its seeding option."""

from __future__ import annotations

import pytest

from agentcycle.testing.workspace_conformance import (
    WorkspaceBackendConformance,
    WorkspaceSecurityConformance,
    expect_error,
)
from agentcycle.workspace import MemoryWorkspaceBackend, WorkspaceBackend


class TestMemoryBackend(WorkspaceBackendConformance, WorkspaceSecurityConformance):
    @pytest.fixture
    def backend(self) -> WorkspaceBackend:
        return MemoryWorkspaceBackend()


async def test_seeded_files_are_normalised_and_listed() -> None:
    backend = MemoryWorkspaceBackend({"./docs\\intro.md": "# Intro", "data/raw.bin": b"\x00\x01"})
    assert await backend.read_text("docs/intro.md") == "# Intro"
    assert await backend.read_bytes("data/raw.bin") == b"\x00\x01"
    assert [e.path for e in await backend.list(glob="**").collect()] == [
        "data",
        "data/raw.bin",
        "docs",
        "docs/intro.md",
    ]
    assert backend.local_root is None


def test_seeding_applies_the_path_policy() -> None:
    with expect_error("path_escapes_workspace"):
        MemoryWorkspaceBackend({"../escape.txt": "x"})
