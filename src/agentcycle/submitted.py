"""``SubmittedRun``: a run handed to Celery workers (``Runner.submit``), followed through its
checkpoint store from any process.

The run executes elsewhere, so everything observable comes from its log: the durable event
stream (gap-free, each event once, in ``seq`` order), its status, and the cancel flag the
workers see before every model and tool call. A run that stops to wait for its host (the
user's answer, approvals, a reconciliation) is answered with ``resume``, which hands it back to
the workers. Every method is synchronous and blocks on the store: call it from a worker thread
in async code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from agentcycle.errors import ConfigurationError, RunNotFound
from agentcycle.events import RunEvent, parse_event
from agentcycle.messages import ToolResult
from agentcycle.runtime._durable_fold import logged_events
from agentcycle.runtime.approvals import ApprovalDecision, as_decision
from agentcycle.runtime.durable import run_status
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import CheckpointStore, LogStatus

__all__ = ["SubmittedRun"]

_POLL = 0.05


class SubmittedRun:
    """A durable run submitted to Celery workers; it owns a connection to the run's store
    (``close`` it, or use it as a context manager)."""

    def __init__(
        self,
        run_id: str,
        store: str | CheckpointStore,
        *,
        owns_store: bool = False,
        broker: str | None = None,
    ) -> None:
        """Follow run ``run_id`` in ``store`` (a URL is opened here and closed by ``close``;
        an open store is closed too with ``owns_store``). ``broker``: where ``resume`` sends
        the run back to the workers (default: ``AGENTCYCLE_BROKER_URL``, else the local
        Redis)."""
        self.run_id = run_id
        self._store = open_checkpoint_store(store) if isinstance(store, str) else store
        self._owns_store = owns_store or isinstance(store, str)
        self._broker = broker
        self._answered: int | None = None  # the last record of the wait this handle answered

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
        until the run stops (terminal, or waiting for its host: a wait this handle answered
        with ``resume`` is not a stop). Raises ``TimeoutError`` after ``timeout`` seconds
        without the run stopping."""
        deadline = None if timeout is None else time.monotonic() + timeout
        cursor = 0  # the last record read
        while True:
            head = self._store.head(self.run_id)
            if head is None:
                raise RunNotFound(f"no run {self.run_id!r} in the checkpoint store")
            for record in self._store.read(self.run_id, after_seq=cursor):
                cursor = record.seq
                for data in logged_events(record.payload):
                    if data["run_id"] != self.run_id or data["seq"] > since_seq:
                        if data["run_id"] == self.run_id:
                            since_seq = data["seq"]
                        yield parse_event(data)
            answered = head.status is LogStatus.WAITING and head.last_seq == self._answered
            if head.status is not LogStatus.RUNNING and cursor >= head.last_seq and not answered:
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

    def resume(
        self,
        input: str | None = None,
        *,
        approvals: Mapping[str, ApprovalDecision | str] | None = None,
        resolutions: Mapping[str, ToolResult | str] | None = None,
    ) -> None:
        """Answer the run's wait and hand it back to the workers: ``input`` for a run waiting
        for the user (its answer), ``approvals`` for one waiting for approvals (by request id
        or tool call id), ``resolutions`` for one waiting for a reconciliation (by tool call
        id: the ``ToolResult`` the call had, or ``"retry"``). Returns once the segment is
        queued; follow the run with ``events`` or ``wait``. Raises ``ConfigurationError`` when
        the run is not waiting, or waits for the user and ``input`` is missing."""
        from agentcycle.assembly._celery import HostAnswer, broker_url, send_segment

        head = self._store.head(self.run_id)
        if head is None:
            raise RunNotFound(f"no run {self.run_id!r} in the checkpoint store")
        if head.status is not LogStatus.WAITING:
            raise ConfigurationError(
                f"run {self.run_id} is {head.status.value}, not waiting: nothing to resume",
                details={"run_id": self.run_id, "log_status": head.status.value},
            )
        if input is None and self.status()["waiting_for"] == "user":
            raise ConfigurationError(
                f"run {self.run_id} is waiting for the user: pass input=...",
                details={"run_id": self.run_id},
            )
        answer = HostAnswer(
            after_seq=head.last_seq,
            input=input,
            approvals={key: as_decision(value) for key, value in (approvals or {}).items()},
            resolutions=dict(resolutions or {}),
        )
        send_segment(broker_url(self._broker), self.run_id, answer)
        self._answered = head.last_seq  # ``events`` and ``wait`` go on past this wait

    def cancel(self, reason: str = "cancelled by the host") -> bool:
        """Ask the run to stop, wherever it runs: its worker sees the request before its next
        model or tool call (or at its next heartbeat) and ends it as cancelled. True if this
        call set the request."""
        return self._store.request_cancel(self.run_id, reason)
