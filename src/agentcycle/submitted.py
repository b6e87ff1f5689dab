"""``SubmittedRun``: a run handed to Celery workers (``Runner.submit``), followed through its
checkpoint store from any process.

The run executes elsewhere, so everything observable comes from its log: the durable event
stream (gap-free, each event once, in ``seq`` order), its status, and the cancel flag the
workers see before every model and tool call. Every method is synchronous and blocks on the
store: call it from a worker thread in async code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from agentcycle.errors import RunNotFound
from agentcycle.events import RunEvent, parse_event
from agentcycle.runtime.durable import run_status
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import CheckpointStore, LogStatus

__all__ = ["SubmittedRun"]

_POLL = 0.05


class SubmittedRun:
    """A durable run submitted to Celery workers; it owns a connection to the run's store
    (``close`` it, or use it as a context manager)."""

    def __init__(
        self, run_id: str, store: str | CheckpointStore, *, owns_store: bool = False
    ) -> None:
        """Follow run ``run_id`` in ``store`` (a URL is opened here and closed by ``close``;
        an open store is closed too with ``owns_store``)."""
        self.run_id = run_id
        self._store = open_checkpoint_store(store) if isinstance(store, str) else store
        self._owns_store = owns_store or isinstance(store, str)

    def __enter__(self) -> SubmittedRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the store connection opened for this handle."""
        if self._owns_store:
            self._owns_store = False
            self._store.close()

    def status(self) -> dict[str, Any]:
        """The run's status as JSON-ready data (see ``agentcycle.runtime.durable.run_status``).
        Raises ``RunNotFound`` if the store has no such run."""
        status = run_status(self._store, self.run_id)
        if status is None:
            raise RunNotFound(f"no run {self.run_id!r} in the checkpoint store")
        return status

    def events(self, since_seq: int = 0, *, timeout: float | None = None) -> Iterator[RunEvent]:
        """The run's durable events with ``seq > since_seq``, as the workers append them,
        until the run stops (terminal, or waiting for its host). Raises ``TimeoutError`` after
        ``timeout`` seconds without the run stopping."""
        deadline = None if timeout is None else time.monotonic() + timeout
        cursor = 0  # the last record read
        while True:
            head = self._store.head(self.run_id)
            if head is None:
                raise RunNotFound(f"no run {self.run_id!r} in the checkpoint store")
            for record in self._store.read(self.run_id, after_seq=cursor):
                cursor = record.seq
                for data in record.payload.get("events", ()):
                    if data["run_id"] != self.run_id or data["seq"] > since_seq:
                        if data["run_id"] == self.run_id:
                            since_seq = data["seq"]
                        yield parse_event(data)
            if head.status is not LogStatus.RUNNING and cursor >= head.last_seq:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {self.run_id} still running after {timeout} s")
            time.sleep(_POLL)  # a store has no push: poll its tail

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Wait until the run stops (terminal, or waiting for its host) and return its
        ``status``. Raises ``TimeoutError`` after ``timeout`` seconds."""
        for _ in self.events(timeout=timeout):
            pass
        return self.status()

    def cancel(self, reason: str = "cancelled by the host") -> bool:
        """Ask the run to stop, wherever it runs: its worker sees the request before its next
        model or tool call (or at its next heartbeat) and ends it as cancelled. True if this
        call set the request."""
        return self._store.request_cancel(self.run_id, reason)
