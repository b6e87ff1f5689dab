"""``JsonlRunEventStore``: every event of every run as one JSON object per line, in one file.

One file per store (not per run) keeps stream order across a run and its child runs for free:
replay is one forward read, and concurrent runs interleave whole lines.

Writes: each ``append``/``append_many`` is a single ``write(2)`` of whole lines on a file
opened with ``O_APPEND``, so lines from concurrent writers (threads, processes) never
interleave. Flush policy: the bytes are handed to the operating system before the call returns
(no user-space buffer), so they survive a crash of the process; with ``fsync=True`` every write
is also forced to disk, which survives power loss and costs a disk flush per batch. A process
killed in the middle of a write can leave an incomplete last line; the next append starts a new
line, so only the torn line is lost, and replay reports it. (Blank lines carry no event and are
ignored: that newline can also be written when another process's write was seen in flight.)

Reads: a line that is not a valid event raises ``CorruptEventRecord`` with the file and the
1-based line number; ``on_corrupt="skip"`` skips it instead and logs a warning naming it.
Replay reads the whole file (use ``SQLiteRunEventStore`` for stores with many runs).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO, Any

from agentcycle._json import dumps
from agentcycle.errors import AgentcycleError, CorruptEventRecord, EventStoreError
from agentcycle.events import TERMINAL_EVENT_TYPES, RunEvent, parse_event
from agentcycle.stores.events import OnCorrupt, StoredRun

_log = logging.getLogger(__name__)

_READ_CHUNK_LINES = 2000


class JsonlRunEventStore:
    """A ``RunEventStore`` in one JSON Lines file (created on the first append)."""

    def __init__(
        self, path: str | os.PathLike[str], *, on_corrupt: OnCorrupt = "raise", fsync: bool = False
    ) -> None:
        self.path = Path(path)
        self.on_corrupt: OnCorrupt = on_corrupt
        self.fsync = fsync
        self._fd: int | None = None
        self._lock = threading.Lock()

    async def append(self, event: RunEvent) -> None:
        """Append one event as one line."""
        await self.append_many((event,))

    async def append_many(self, events: Sequence[RunEvent]) -> None:
        """Append events as consecutive lines in one write, off the event loop."""
        if events:
            await asyncio.to_thread(self._write, events)

    def replay(
        self, run_id: str, *, since_seq: int | None = None, include_children: bool = True
    ) -> AsyncIterator[RunEvent]:
        """The run's events in file order (see ``RunEventStore.replay``)."""
        return self._replay(_ReplayFilter(run_id, since_seq, include_children))

    async def runs(self) -> list[StoredRun]:
        """Every run in the file, in the order each first appeared."""
        return await asyncio.to_thread(self._scan_runs)

    async def aclose(self) -> None:
        """Close the append handle (reopened by the next append)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # ------------------------------------------------------------------ writing

    def _write(self, events: Sequence[RunEvent]) -> None:
        data = "".join(dumps(event.to_dict()) + "\n" for event in events).encode()
        try:
            with self._lock:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
                    if _ends_torn(self._fd):  # why the fd is opened for reading too
                        data = b"\n" + data  # the torn line stays alone, reported on replay
                view = memoryview(data)
                while view:
                    written = os.write(self._fd, view)
                    view = view[written:]
                if self.fsync:
                    os.fsync(self._fd)
        except OSError as exc:
            raise EventStoreError(
                f"cannot append to event store {self.path}: {exc}",
                code="event_store_io_error",
                details={"path": str(self.path)},
            ) from exc

    # ------------------------------------------------------------------ reading

    async def _replay(self, selection: _ReplayFilter) -> AsyncIterator[RunEvent]:
        try:
            handle = await asyncio.to_thread(self.path.open, "rb")
        except FileNotFoundError:
            return
        try:
            line_number = 0
            while True:
                events, line_number, done = await asyncio.to_thread(
                    self._read_chunk, handle, line_number, selection
                )
                for event in events:
                    yield event
                if done:
                    return
        finally:
            handle.close()

    def _read_chunk(
        self, handle: IO[bytes], line_number: int, selection: _ReplayFilter
    ) -> tuple[list[RunEvent], int, bool]:
        events: list[RunEvent] = []
        for _ in range(_READ_CHUNK_LINES):
            raw = handle.readline()
            if not raw:
                return events, line_number, True
            line_number += 1
            data = self._decode(raw, line_number)
            if data is None or not selection.accepts(data):
                continue
            try:
                events.append(parse_event(data))
            except (AgentcycleError, ValueError) as exc:
                self._corrupt(f"not a valid event ({_first_line(exc)})", line_number)
        return events, line_number, False

    def _decode(self, raw: bytes, line_number: int) -> dict[str, Any] | None:
        """The line's JSON object, or ``None`` for a corrupt line being skipped."""
        reason: str
        if not raw.endswith(b"\n"):
            reason = "incomplete last line (a torn write)"
        elif not raw.strip():
            return None  # written after a torn line, or seen mid-write by another writer
        else:
            try:
                data = json.loads(raw)
            except ValueError as exc:
                reason = f"not JSON ({exc})"
            else:
                if isinstance(data, dict) and isinstance(data.get("run_id"), str):
                    return data
                reason = "not an event object with a run_id"
        self._corrupt(reason, line_number)
        return None

    def _corrupt(self, reason: str, line_number: int) -> None:
        message = f"{self.path}:{line_number}: corrupt event record: {reason}"
        if self.on_corrupt != "skip":
            raise CorruptEventRecord(message, path=str(self.path), line=line_number)
        _log.warning("skipped %s", message)

    def _scan_runs(self) -> list[StoredRun]:
        runs: dict[str, dict[str, Any]] = {}
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return []
        with handle:
            for line_number, raw in enumerate(handle, start=1):
                data = self._decode(raw, line_number)
                if data is None:
                    continue
                try:
                    _index(runs, data)
                except (KeyError, TypeError) as exc:
                    self._corrupt(f"missing envelope field {exc}", line_number)
        return [StoredRun(**fields) for fields in runs.values()]


class _ReplayFilter:
    """Which lines of the file belong to a replay: the run, its descendants (a child is known
    by its ``parent_run_id`` being in the tree), and the ``since_seq`` cursor of the run."""

    def __init__(self, run_id: str, since_seq: int | None, include_children: bool) -> None:
        self._root = run_id
        self._tree = {run_id}
        self._since = since_seq or 0
        self._children = include_children
        self._root_seq = 0  # seq of the latest event of the run read so far

    def accepts(self, data: dict[str, Any]) -> bool:
        run_id = data["run_id"]
        if run_id == self._root:
            seq = data.get("seq")
            if isinstance(seq, int):
                self._root_seq = seq
            return self._root_seq > self._since
        if not self._children:
            return False
        if run_id not in self._tree:
            if data.get("parent_run_id") not in self._tree:
                return False
            self._tree.add(run_id)
        # A child's event belongs after the cursor once the run's cursor event has been read.
        return self._root_seq >= self._since


def _index(runs: dict[str, dict[str, Any]], data: dict[str, Any]) -> None:
    run_id = data["run_id"]
    seq = int(data["seq"])
    created_at = float(data["created_at"])
    status = data.get("status", "cancelled") if data.get("type") in TERMINAL_EVENT_TYPES else None
    entry = runs.get(run_id)
    if entry is None:
        runs[run_id] = {
            "run_id": run_id,
            "trace_id": data["trace_id"],
            "parent_run_id": data.get("parent_run_id"),
            "agent_name": data.get("agent_name"),
            "event_count": 1,
            "last_seq": seq,
            "started_at": created_at,
            "updated_at": created_at,
            "status": status,
        }
        return
    entry["event_count"] += 1
    entry["last_seq"] = max(entry["last_seq"], seq)
    entry["updated_at"] = created_at
    entry["status"] = status


def _ends_torn(fd: int) -> bool:
    size = os.fstat(fd).st_size
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
