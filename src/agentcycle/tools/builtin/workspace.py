"""The tools a run with a workspace gets, in the stable order runs offer them (TOOLS.md)."""

from __future__ import annotations

import functools

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
def workspace_tools() -> tuple[BuiltinTool, ...]:
    """``find_files``, ``file_info``, ``read_file``, ``write_file``, ``edit_file``,
    ``search_files``: built once per process (they hold no per-run state)."""
    return (
        find_files_tool(),
        file_info_tool(),
        read_file_tool(),
        write_file_tool(),
        edit_file_tool(),
        search_files_tool(),
    )


@functools.cache
def image_tool() -> BuiltinTool:
    """``read_image``, offered when the model takes images."""
    return read_image_tool()
