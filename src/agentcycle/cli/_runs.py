"""``agentcycle runs list`` and ``agentcycle runs cancel``: the runs a store holds, and a stop
asked from the terminal (``cli/_durable.py`` parses their flags; its ``runs status`` opens the
store through ``for_run`` too).

A listing reads each run's head, header and last record (``run_summary``), never a whole log,
so it costs the same however long the runs are.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

if TYPE_CHECKING:
    from agentcycle.stores.checkpoints import CheckpointStore

T = TypeVar("T")

DEFAULT_LIMIT = 20
"""Runs ``runs list`` shows without ``--limit``."""
DEFAULT_REASON = "cancelled from the terminal"
"""The reason of a cancel asked without ``--reason``."""
INPUT_CHARS = 50
"""Characters of a run's input a listing line shows."""


def list_runs(url: str, limit: int, as_json: bool, out: TextIO) -> int:
    """Print the ``limit`` newest runs of the store at ``url``, one line each (or a JSON array
    of their summaries); say so on stderr when there are more, or none."""
    from agentcycle.errors import AgentcycleError
    from agentcycle.runtime.durable import run_summary
    from agentcycle.stores.checkpoint_urls import open_checkpoint_store, shown_url

    try:
        store = open_checkpoint_store(url)
        try:
            run_ids = store.list_runs(limit=limit + 1)  # one more: are there others?
            # A run deleted since the listing has no summary: it is left out.
            summaries = [s for s in (run_summary(store, r) for r in run_ids[:limit]) if s]
        finally:
            store.close()
    except AgentcycleError as exc:
        print(f"agentcycle: {exc.message}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(summaries, ensure_ascii=False), file=out)
    else:
        for line in _lines(summaries):
            print(line, file=out)
    if not summaries:
        print(f"agentcycle: no runs in {shown_url(url)}", file=sys.stderr)
    elif len(run_ids) > limit:
        print("agentcycle: the store holds older runs too; --limit N shows more", file=sys.stderr)
    return 0


def _lines(summaries: list[dict[str, Any]]) -> list[str]:
    """One line per run, its columns aligned: id, state, created (local time), cycles
    committed, agent, the start of its input."""
    rows = [
        (
            s["run_id"],
            s["state"],
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["created_ms"] / 1000)),
            f"{s['cycles_committed']} cycle{'' if s['cycles_committed'] == 1 else 's'}",
            s["agent"] or "-",
            _preview(s["input"]),
        )
        for s in summaries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)] if rows else []
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[5]])
        for row in rows
    ]


def _preview(text: str | None) -> str:
    """The input on one line, quoted, cut at ``INPUT_CHARS`` characters with an ellipsis
    (``(messages)`` for a run started with messages instead of a text)."""
    if text is None:
        return "(messages)"
    line = " ".join(text.split())
    if len(line) > INPUT_CHARS:
        line = line[: INPUT_CHARS - 1].rstrip() + "…"
    return f'"{line}"'


def for_run(url: str, run_id: str, read: Callable[[CheckpointStore], T | None]) -> T | None:
    """``read(store)`` on the store at ``url``, closed afterwards. ``None``, the error said on
    stderr, when the store fails or ``read`` finds no run ``run_id`` (it answered ``None``)."""
    from agentcycle.errors import AgentcycleError
    from agentcycle.stores.checkpoint_urls import open_checkpoint_store, shown_url

    try:
        store = open_checkpoint_store(url)
        try:
            found = read(store)
        finally:
            store.close()
    except AgentcycleError as exc:
        print(f"agentcycle: {exc.message}", file=sys.stderr)
        return None
    if found is None:
        print(f"agentcycle: no run {run_id!r} in {shown_url(url)}", file=sys.stderr)
    return found


def cancel_run(run_id: str, url: str, reason: str) -> int:
    """Ask the run to stop (``request_cancel``) and say when it will: a run a live process
    holds stops at its next model or tool call or heartbeat; a run nobody runs stops when it
    is resumed. An unknown run, or one that ended, is an error (exit 1)."""
    from agentcycle.stores.checkpoint_urls import shown_url

    outcome = for_run(url, run_id, lambda store: _cancel(store, run_id, reason))
    if outcome is None:
        return 1
    summary, asked = outcome
    if summary["log_status"] == "terminal":
        print(
            f"agentcycle: run {run_id!r} already ended ({summary['run_status']}): there is "
            "nothing to cancel",
            file=sys.stderr,
        )
        return 1
    what = (
        f"cancel requested for run {run_id}"
        if asked
        else f"a cancel was already requested for run {run_id} ({summary['cancel_requested']})"
    )
    print(f"agentcycle: {what}; {_when(summary, run_id, shown_url(url))}", file=sys.stderr)
    return 0


def _cancel(store: CheckpointStore, run_id: str, reason: str) -> tuple[dict[str, Any], bool] | None:
    """Request the cancel unless the run ended; the run's summary afterwards and whether this
    call set the request (``None`` for an unknown run)."""
    from agentcycle.runtime.durable import run_summary

    before = run_summary(store, run_id)
    if before is None or before["log_status"] == "terminal":
        return None if before is None else (before, False)
    asked = store.request_cancel(run_id, reason)
    # Read again: the run may have ended meanwhile (the request was then refused).
    after = run_summary(store, run_id)
    return None if after is None else (after, asked)


_WAITING_FOR = {"user": "the user", "approval": "approval", "reconciliation": "a reconciliation"}
"""What a waiting run waits for, in ``runs cancel``'s words."""


def _when(summary: dict[str, Any], run_id: str, shown: str) -> str:
    """When the run will stop, from what holds it now."""
    resume = f"agentcycle resume {run_id} --store {shown}"
    waiting_for = summary["waiting_for"]
    if waiting_for is not None:
        what = _WAITING_FOR.get(waiting_for, waiting_for)
        return (
            f"it is waiting for {what} and nothing runs it: it ends as cancelled when it is "
            f"resumed ({resume}), before anything else"
        )
    lease = summary["lease"]
    if lease is not None and lease["live"]:
        return (
            "it stops at its next model or tool call, or heartbeat (agentcycle runs watch "
            f"{run_id} --store {shown} follows it)"
        )
    nobody = "its process is gone" if lease is not None else "no process holds it now"
    return (
        f"{nobody}: it ends as cancelled when it is resumed ({resume}, or by a worker), before "
        "its next model or tool call"
    )
