"""The rules of a checkpoint store, written once for the stores that run them in Python.

The memory and SQLite stores load a run's :class:`RunMeta`, apply one of these functions under
their lock or transaction, and write the meta back; the Redis store runs the same rules in its
Lua scripts (``_checkpoint_redis_scripts.py``), which the shared conformance suite holds to the
same behaviour. Argument checks (``check_*``) run before any storage is touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from agentcycle.errors import (
    DuplicateRecordKey,
    Fenced,
    InvalidCheckpointRequest,
    RunLeaseHeld,
    RunNotFound,
    RunTerminated,
    SeqConflict,
)
from agentcycle.stores.checkpoints import Lease, LogStatus, RenewResult, RunHead
from agentcycle.stores.run_records import NewRecord, RecordKind, record_keys

T = TypeVar("T")


def now_ms() -> int:
    """The local clock, ms since the Unix epoch: the store's clock for memory and SQLite."""
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class RunMeta:
    """A run's mutable state beside its log (one row, one hash)."""

    last_seq: int
    epoch: int
    status: LogStatus
    owner: str | None
    expires_ms: int | None
    cancel_reason: str | None


def new_meta() -> RunMeta:
    """The meta of a run just created: its header at seq 1, epoch 0, nobody holding it."""
    return RunMeta(1, 0, LogStatus.RUNNING, None, None, None)


# -- argument checks -------------------------------------------------------------------------


def check_run_id(run_id: str) -> None:
    """A run id is a non-empty string."""
    if not isinstance(run_id, str) or not run_id:
        raise InvalidCheckpointRequest(f"a run id must be a non-empty string, not {run_id!r}")


def header_record(header: Mapping[str, Any]) -> NewRecord:
    """The ``run_created`` record holding ``header``."""
    return NewRecord(RecordKind.RUN_CREATED, record_keys.run_created(), header)


def check_batch(records: Sequence[NewRecord], expected_seq: int, epoch: int) -> None:
    """A batch that can be appended: one or more ``NewRecord``s with distinct keys, no
    ``run_created`` (``create_run`` writes it), ``terminal`` only last, ``expected_seq`` of 2
    or more (seq 1 is the header), a non-negative ``epoch``."""
    if not records:
        raise InvalidCheckpointRequest("an append needs at least one record")
    if not _is_int(expected_seq) or expected_seq < 2:
        raise InvalidCheckpointRequest(
            f"expected_seq must be an int of 2 or more (seq 1 is the run's header), "
            f"not {expected_seq!r}"
        )
    if not _is_int(epoch) or epoch < 0:
        raise InvalidCheckpointRequest(f"epoch must be a non-negative int, not {epoch!r}")
    keys: set[str] = set()
    for index, record in enumerate(records):
        if not isinstance(record, NewRecord):
            raise InvalidCheckpointRequest(
                f"records[{index}] is a {type(record).__name__}, not a NewRecord"
            )
        if record.kind is RecordKind.RUN_CREATED:
            raise InvalidCheckpointRequest("run_created is written by create_run, not appended")
        if record.kind is RecordKind.TERMINAL and index != len(records) - 1:
            raise InvalidCheckpointRequest("a terminal record must be the last of its batch")
        if record.key in keys:
            raise InvalidCheckpointRequest(f"the key {record.key!r} appears twice in the batch")
        keys.add(record.key)


def check_lease_args(owner: str, ttl_ms: int | None = None, epoch: int | None = None) -> None:
    """An owner is a non-empty string, a TTL a positive int, an epoch a non-negative int."""
    if not isinstance(owner, str) or not owner:
        raise InvalidCheckpointRequest(f"a lease owner must be a non-empty string, not {owner!r}")
    if ttl_ms is not None and (not _is_int(ttl_ms) or ttl_ms <= 0):
        raise InvalidCheckpointRequest(f"ttl_ms must be a positive int, not {ttl_ms!r}")
    if epoch is not None and (not _is_int(epoch) or epoch < 0):
        raise InvalidCheckpointRequest(f"epoch must be a non-negative int, not {epoch!r}")


def check_read(after_seq: int, limit: int | None) -> None:
    """``after_seq`` is a non-negative int, ``limit`` ``None`` or a non-negative int."""
    if not _is_int(after_seq) or after_seq < 0:
        raise InvalidCheckpointRequest(f"after_seq must be a non-negative int, not {after_seq!r}")
    if limit is not None and (not _is_int(limit) or limit < 0):
        raise InvalidCheckpointRequest(f"limit must be None or a non-negative int, not {limit!r}")


def check_reason(reason: str) -> None:
    """A cancel reason is a string."""
    if not isinstance(reason, str):
        raise InvalidCheckpointRequest(f"a cancel reason must be a string, not {reason!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- the rules -------------------------------------------------------------------------------


def found(run_id: str, value: T | None) -> T:
    """``value`` (what a store holds for the run), or ``RunNotFound`` when it is ``None``."""
    if value is None:
        raise RunNotFound(f"no run {run_id!r} in the checkpoint store", details={"run_id": run_id})
    return value


def is_retry(
    meta: RunMeta,
    records: Sequence[NewRecord],
    expected_seq: int,
    stored: Callable[[int, int], Mapping[int, tuple[str, str]]],
) -> bool:
    """Whether the batch is already stored at its seqs (same key and digest each).
    ``stored(first, last)`` gives ``seq -> (key, digest)`` for that range; it is only called
    when the log reaches that far."""
    last = expected_seq + len(records) - 1
    if meta.last_seq < last:
        return False
    identities = stored(expected_seq, last)
    return all(
        identities.get(expected_seq + i) == (record.key, record.digest)
        for i, record in enumerate(records)
    )


def check_writable(run_id: str, meta: RunMeta, expected_seq: int, epoch: int) -> None:
    """Refuse an append to a finished run, from a stale epoch, or off the tail."""
    if meta.status is LogStatus.TERMINAL:
        raise terminated(run_id)
    if epoch != meta.epoch:
        raise fenced(run_id, epoch, meta.epoch)
    if meta.last_seq != expected_seq - 1:
        raise off_tail(run_id, expected_seq, meta.last_seq)


def terminated(run_id: str) -> RunTerminated:
    """The error for any write to a run whose log ended."""
    return RunTerminated(
        f"run {run_id!r} is terminal: it takes no more records and no lease",
        details={"run_id": run_id},
    )


def fenced(run_id: str, epoch: int, current_epoch: int) -> Fenced:
    """The error for an append from an epoch that is not the run's."""
    return Fenced(
        f"run {run_id!r} is at epoch {current_epoch}; an append from epoch {epoch} is refused",
        details={"run_id": run_id, "epoch": epoch, "current_epoch": current_epoch},
    )


def off_tail(run_id: str, expected_seq: int, last_seq: int) -> SeqConflict:
    """The error for an append that does not continue the log's tail."""
    return SeqConflict(
        f"run {run_id!r} ends at seq {last_seq}; an append expecting seq {expected_seq} is refused",
        details={"run_id": run_id, "expected_seq": expected_seq, "last_seq": last_seq},
    )


def key_taken(run_id: str, key: str, seq: int) -> DuplicateRecordKey:
    """The error for a record whose key is already stored at ``seq``."""
    return DuplicateRecordKey(
        f"run {run_id!r}: the key {key!r} is already stored at seq {seq}",
        details={"run_id": run_id, "key": key, "seq": seq},
    )


def apply_append(meta: RunMeta, records: Sequence[NewRecord]) -> None:
    """Move the meta past an appended batch: the status follows the last record's kind, and
    a terminal run keeps no lease."""
    meta.last_seq += len(records)
    meta.status = status_after(records)
    if meta.status is LogStatus.TERMINAL:
        meta.owner = meta.expires_ms = None


def status_after(records: Sequence[NewRecord]) -> LogStatus:
    """The run's status once ``records`` are its last records."""
    kind = records[-1].kind
    if kind is RecordKind.TERMINAL:
        return LogStatus.TERMINAL
    if kind is RecordKind.WAITING:
        return LogStatus.WAITING
    return LogStatus.RUNNING


def acquire(run_id: str, meta: RunMeta, owner: str, ttl_ms: int, now: int) -> Lease | None:
    """Grant a new epoch unless the lease is live; a terminal run raises ``RunTerminated``."""
    if meta.status is LogStatus.TERMINAL:
        raise terminated(run_id)
    if meta.owner is not None and meta.expires_ms is not None and meta.expires_ms > now:
        return None
    meta.epoch += 1
    meta.owner, meta.expires_ms = owner, now + ttl_ms
    return Lease(owner, meta.epoch, meta.expires_ms)


def renew(meta: RunMeta, owner: str, epoch: int, ttl_ms: int, now: int) -> RenewResult:
    """Extend a live lease held by ``owner`` at ``epoch``."""
    holds = meta.owner == owner and meta.epoch == epoch
    if not holds or meta.expires_ms is None or meta.expires_ms <= now:
        return RenewResult(False, None, meta.cancel_reason)
    meta.expires_ms = now + ttl_ms
    return RenewResult(True, meta.expires_ms, meta.cancel_reason)


def release(meta: RunMeta, owner: str, epoch: int) -> bool:
    """Drop the lease if ``owner`` holds it at ``epoch`` (expired or not)."""
    if meta.owner != owner or meta.epoch != epoch:
        return False
    meta.owner = meta.expires_ms = None
    return True


def cancel(meta: RunMeta, reason: str) -> bool:
    """Record a cancel request unless one is pending or the run is terminal."""
    if meta.status is LogStatus.TERMINAL or meta.cancel_reason is not None:
        return False
    meta.cancel_reason = reason
    return True


def check_deletable(run_id: str, meta: RunMeta, now: int) -> None:
    """A run may be deleted unless someone holds a live lease on it."""
    if meta.owner is not None and meta.expires_ms is not None and meta.expires_ms > now:
        raise lease_held(run_id, meta.owner)


def lease_held(run_id: str, owner: str) -> RunLeaseHeld:
    """``RunLeaseHeld``: a live owner keeps the run (it is not deleted)."""
    return RunLeaseHeld(
        f"run {run_id} is owned by a live lease ({owner}): it cannot be deleted",
        details={"run_id": run_id, "owner": owner},
    )


def recoverable(meta: RunMeta, now: int) -> bool:
    """A running run whose lease expired."""
    return (
        meta.status is LogStatus.RUNNING
        and meta.owner is not None
        and meta.expires_ms is not None
        and meta.expires_ms <= now
    )


def head_of(run_id: str, meta: RunMeta, now: int) -> RunHead:
    """The public view of ``meta`` at ``now``."""
    lease = None
    if meta.owner is not None and meta.expires_ms is not None:
        lease = Lease(meta.owner, meta.epoch, meta.expires_ms)
    return RunHead(run_id, meta.last_seq, meta.epoch, meta.status, lease, meta.cancel_reason, now)
