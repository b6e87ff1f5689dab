"""The tools a run with a workspace gets, in the stable order runs offer them (TOOLS.md)."""

from __future__ import annotations

import functools

from agentcycle.tools.builtin._secrets import DEFAULT_SECRET_FILES, SecretFiles, guard_secrets
from agentcycle.tools.builtin._tool import BuiltinTool
from agentcycle.tools.builtin.discovery import find_files_tool
from agentcycle.tools.builtin.files import (
    edit_file_tool,
    file_info_tool,
    read_file_tool,
    read_image_tool,
    write_file_tool,
)
from agentcycle.tools.builtin.search import search_files_tool


@functools.cache
def workspace_tools(secrets: SecretFiles = DEFAULT_SECRET_FILES) -> tuple[BuiltinTool, ...]:
    """``find_files``, ``file_info``, ``read_file``, ``write_file``, ``edit_file``,
    ``search_files``: built once per process and ``secrets`` policy (no per-run state).

    ``read_file`` and ``edit_file`` refuse the files ``secrets`` protects; ``search_files``
    refuses ``include_sensitive`` unless ``secrets.allow``; the output of both is scrubbed of
    known secret values (``tools.builtin._secrets``)."""
    return (
        find_files_tool(),
        file_info_tool(),
        guard_secrets(read_file_tool(), secrets, reads_path=True),
        write_file_tool(),
        guard_secrets(edit_file_tool(), secrets, reads_path=True),
        guard_secrets(search_files_tool(), secrets, reads_path=False),
    )


@functools.cache
def image_tool() -> BuiltinTool:
    """``read_image``, offered when the model takes images."""
    return read_image_tool()
