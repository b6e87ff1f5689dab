"""Telling a cancel of the run from a ``CancelledError`` that code below the run raised."""

from __future__ import annotations

import asyncio


def stray_cancel() -> bool:
    """Whether the ``CancelledError`` being handled was raised by code below us (a model
    adapter, a tool, a library under them) rather than by a cancel of the current task, which
    ``Task.cancelling`` counts. A stray one is a failure of that call, not the run's end."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() == 0
