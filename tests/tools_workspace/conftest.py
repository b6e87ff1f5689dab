"""Fixtures for the workspace tools: the same tests on local, memory and S3 workspaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcycle.workspace import (
    LocalWorkspaceBackend,
    MemoryWorkspaceBackend,
    S3WorkspaceBackend,
    WorkspaceBackend,
)
from tests.conftest import S3_CREDENTIALS, S3_REGION


@pytest.fixture(params=["local", "memory", "s3"])
def workspace(request: pytest.FixtureRequest, tmp_path: Path) -> WorkspaceBackend:
    """An empty workspace of each kind; the S3 one talks to moto's server on loopback."""
    if request.param == "local":
        root = tmp_path / "ws"
        root.mkdir()
        return LocalWorkspaceBackend(root)
    if request.param == "memory":
        return MemoryWorkspaceBackend()
    bucket: str = request.getfixturevalue("s3_bucket")
    return S3WorkspaceBackend(
        bucket,
        prefix="ws",
        endpoint_url=request.getfixturevalue("s3_endpoint"),
        region=S3_REGION,
        credentials=S3_CREDENTIALS,
    )
