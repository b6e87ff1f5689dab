"""The ``CheckpointStore`` protocol: a durable, append-only log per run, a lease, a cancel flag.

A run's checkpoint is its log (see :mod:`agentcycle.stores.run_records`): resuming folds the
records, and the same records are the run's event stream, so the two cannot diverge. The store
guarantees, whatever the backend (memory, SQLite, Redis) and however many threads and
processes share it:

- **Contiguous appends.** ``append(run_id, records, expected_seq=n, epoch=e)`` writes the batch
  at ``n, n+1, ...`` only if the run's last ``seq`` is ``n - 1``; all or nothing.
- **Idempotent retries.** Re-appending records already stored (same ``seq``, ``key`` and
  ``digest``) succeeds without writing, so a writer that timed out simply retries. Different
  content at a stored ``seq`` is a ``SeqConflict``; a ``key`` stored at another ``seq`` is a
  ``DuplicateRecordKey``.
- **Fencing.** Each lease acquisition increments the run's ``epoch``; an append with any other
  epoch is ``Fenced`` and not written, so a worker that lost its lease (paused, partitioned)
  cannot write after the new owner took over.
- **Terminal immutability.** After a ``terminal`` record the run accepts no record and no lease
  (``RunTerminated``); it can only be deleted (``delete_run``), which no live lease allows.
- **The store's clock.** Lease expiry is decided by the store's clock (Redis ``TIME`` in the
  script, the local clock for SQLite and memory), never the caller's.

The status a store keeps for a run follows the kind of its last record: ``waiting`` after a
``waiting`` record, ``terminal`` after ``terminal``, otherwise ``running``. A ``running`` run
whose lease expired is *recoverable*: its owner died, and a sweeper hands it to another worker.

Every method is synchronous and may block on I/O: call it from a worker thread in async code.
Open a store from a URL with :func:`agentcycle.stores.open_checkpoint_store`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from agentcycle.stores.run_records import NewRecord, RunRecord

__all__ = [
    "AppendResult",
    "CheckpointStore",
    "Lease",
    "LogStatus",
    "RenewResult",
    "RunHead",
]


class LogStatus(enum.StrEnum):
    """Where a run's log stands, from the kind of its last record."""

    RUNNING = "running"
    WAITING = "waiting"
    TERMINAL = "terminal"


@dataclass(frozen=True, slots=True)
class Lease:
    """Who owns a run and until when (store clock, ms since the Unix epoch)."""

    owner: str
    epoch: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class RunHead:
    """A run's state in the store, read atomically. ``lease`` is the last lease granted and not
    released (possibly expired: compare with ``now_ms``, the store's clock at the read)."""

    run_id: str
    last_seq: int
    epoch: int
    status: LogStatus
    lease: Lease | None
    cancel_reason: str | None
    now_ms: int

    @property
    def lease_live(self) -> bool:
        """Whether someone holds an unexpired lease on the run."""
        return self.lease is not None and self.lease.expires_ms > self.now_ms

    @property
    def cancel_requested(self) -> bool:
        """Whether someone asked the run to stop."""
        return self.cancel_reason is not None


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did. ``records`` are the batch as stored (for an identical retry, the
    records written the first time, with their original ``epoch`` and ``ts``); ``appended`` is
    how many this call wrote (0 for a retry); ``last_seq`` the run's last ``seq`` after it.
    ``cancel_reason`` is the run's pending cancel request as the append found it, so a writer
    learns of a cancel without asking again right after its write."""

    last_seq: int
    appended: int
    records: tuple[RunRecord, ...]
    cancel_reason: str | None = None

    @property
    def duplicate(self) -> bool:
        """Whether the batch was already stored (an idempotent retry)."""
        return self.appended == 0


@dataclass(frozen=True, slots=True)
class RenewResult:
    """The answer to a heartbeat. ``ok`` is false when the caller no longer owns the run (its
    lease expired, was released, or another owner took it): it must stop writing at once.
    ``cancel_reason`` carries a pending cancel request either way."""

    ok: bool
    expires_ms: int | None
    cancel_reason: str | None

    @property
    def cancel_requested(self) -> bool:
        """Whether someone asked the run to stop."""
        return self.cancel_reason is not None


@runtime_checkable
class CheckpointStore(Protocol):
    """A durable log per run with a lease and a cancel flag (see the module docstring for the
    guarantees). Implementations are safe to share between threads; any number of instances
    on the same storage, in any number of processes, see one consistent state."""

    def create_run(self, run_id: str, header: Mapping[str, Any]) -> bool:
        """Create the run with ``header`` as its first record (seq 1, ``run_created``, key
        ``run``, epoch 0) if it does not exist. True if this call created it; an existing run
        is left exactly as it is."""
        ...

    def append(
        self, run_id: str, records: Sequence[NewRecord], *, expected_seq: int, epoch: int
    ) -> AppendResult:
        """Append ``records`` atomically at ``expected_seq, expected_seq + 1, ...``.

        Raises ``RunNotFound``, ``RunTerminated``, ``Fenced`` (``epoch`` is not the run's),
        ``SeqConflict`` (the run's last seq is not ``expected_seq - 1``), ``DuplicateRecordKey``
        or ``InvalidCheckpointRequest``; in each case nothing is written. A batch identical to
        the stored records at those seqs succeeds without writing, checked before any of
        those errors (so a retry after an ambiguous failure always learns the truth). The
        result carries the run's pending cancel request, read in the same step."""
        ...

    def read(self, run_id: str, after_seq: int = 0, limit: int | None = None) -> list[RunRecord]:
        """The run's records with ``seq > after_seq`` in order, at most ``limit`` of them.
        Raises ``RunNotFound`` for an unknown run."""
        ...

    def head(self, run_id: str) -> RunHead | None:
        """The run's state, or ``None`` if there is no such run."""
        ...

    def acquire_lease(self, run_id: str, owner: str, ttl_ms: int) -> Lease | None:
        """Take the run for ``ttl_ms`` (store clock) if nobody holds an unexpired lease, under
        a new epoch (the previous one plus 1). ``None`` if the lease is live, also when
        ``owner`` holds it (extend with ``renew_lease``). Raises ``RunTerminated`` for a
        finished run and ``RunNotFound``."""
        ...

    def renew_lease(self, run_id: str, owner: str, epoch: int, ttl_ms: int) -> RenewResult:
        """Extend the lease to ``now + ttl_ms`` if ``owner`` holds it at ``epoch`` and it has
        not expired; the reply carries the cancel flag. Raises ``RunNotFound``."""
        ...

    def release_lease(self, run_id: str, owner: str, epoch: int) -> bool:
        """Give the run up (the epoch stays). True if ``owner`` held it at ``epoch``. Raises
        ``RunNotFound``."""
        ...

    def request_cancel(self, run_id: str, reason: str) -> bool:
        """Ask the run to stop, from any process. True if this call set the request; False if
        one was already pending or the run is terminal. Raises ``RunNotFound``."""
        ...

    def cancel_requested(self, run_id: str) -> str | None:
        """The pending cancel request's reason, or ``None``. Raises ``RunNotFound``."""
        ...

    def list_recoverable(self, limit: int | None = None) -> list[str]:
        """Runs whose status is ``running`` and whose lease has expired (store clock), longest
        expired first: their owner is gone. Runs never leased, released, waiting or terminal
        are not listed."""
        ...

    def list_runs(self, *, limit: int | None = None) -> list[str]:
        """The ids of the runs in the store, newest first (in the order they were created,
        latest first, whatever happened to them since), at most ``limit`` of them. A deleted
        run is not listed; one created again after its deletion is new. A bad ``limit`` (not
        ``None`` or a non-negative int) is ``InvalidCheckpointRequest``."""
        ...

    def delete_run(self, run_id: str) -> bool:
        """Delete the run: its records, lease and cancel flag (a host prunes a run once it
        keeps the outcome elsewhere). True if this call deleted it, False if there is no such
        run. A run whose lease is live is refused with ``RunLeaseHeld`` and left untouched:
        its owner may still be writing. The id may be created again afterwards, as new."""
        ...

    def close(self) -> None:
        """Release connections; the store's data stays for the next instance."""
        ...
