"""Workspaces: the only way tools touch files.

A :class:`WorkspaceBackend` stores files under workspace-relative POSIX paths; every backend
applies the same path policy (:func:`normalize_path`), so ``..`` escapes, absolute paths,
NUL bytes and (locally) symlinks out of the root fail with ``path_escapes_workspace``.

    from agentcycle.workspace import LocalWorkspaceBackend

    workspace = LocalWorkspaceBackend("./ws")
    await workspace.write("notes/todo.md", "- ship it\\n")
    async for entry in workspace.list(glob="**/*.md"):
        print(entry.path, entry.size)

Backends: :class:`LocalWorkspaceBackend` (a directory), :class:`MemoryWorkspaceBackend`
(a dict), :class:`S3WorkspaceBackend` (a bucket; needs the ``s3`` extra, imported lazily).
Check your own backend with :mod:`agentcycle.testing.workspace_conformance`.
"""

from __future__ import annotations

from agentcycle.workspace._s3_client import S3Credentials
from agentcycle.workspace.base import (
    Listing,
    StreamWriteMode,
    WorkspaceBackend,
    WorkspaceEntry,
    WriteMode,
)
from agentcycle.workspace.local import LocalWorkspaceBackend
from agentcycle.workspace.memory import MemoryWorkspaceBackend
from agentcycle.workspace.paths import normalize_path
from agentcycle.workspace.s3 import S3WorkspaceBackend

__all__ = [
    "Listing",
    "LocalWorkspaceBackend",
    "MemoryWorkspaceBackend",
    "S3Credentials",
    "S3WorkspaceBackend",
    "StreamWriteMode",
    "WorkspaceBackend",
    "WorkspaceEntry",
    "WriteMode",
    "normalize_path",
]
