"""``MemoryCheckpointStore``: run logs in a dict, for tests and single-process runs.

One lock guards every run, so the store is safe to share between threads; its state lives and
dies with the instance (share the instance to share the store). The clock is the local one.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentcycle.stores import _checkpoint_rules as rules
from agentcycle.stores.checkpoints import AppendResult, Lease, RenewResult, RunHead
from agentcycle.stores.run_records import NewRecord, RunRecord


@dataclass(slots=True)
class _Run:
    meta: rules.RunMeta
    records: list[RunRecord]
    seq_of_key: dict[str, int] = field(default_factory=dict)


class MemoryCheckpointStore:
    """A ``CheckpointStore`` in this process's memory."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()

    def create_run(self, run_id: str, header: Mapping[str, Any]) -> bool:
        """Create the run with ``header`` at seq 1 unless it exists."""
        rules.check_run_id(run_id)
        first = rules.header_record(header)
        with self._lock:
            if run_id in self._runs:
                return False
            record = RunRecord.stamped(run_id, 1, 0, rules.now_ms(), first)
            self._runs[run_id] = _Run(rules.new_meta(), [record], {first.key: 1})
            return True

    def append(
        self, run_id: str, records: Sequence[NewRecord], *, expected_seq: int, epoch: int
    ) -> AppendResult:
        """Append the batch at ``expected_seq`` (see ``CheckpointStore.append``)."""
        rules.check_run_id(run_id)
        rules.check_batch(records, expected_seq, epoch)
        with self._lock:
            run = self._run(run_id)
            meta, log = run.meta, run.records

            def stored(first: int, last: int) -> dict[int, tuple[str, str]]:
                return {r.seq: (r.key, r.digest) for r in log[first - 1 : last]}

            if rules.is_retry(meta, records, expected_seq, stored):
                batch = tuple(log[expected_seq - 1 : expected_seq - 1 + len(records)])
                return AppendResult(meta.last_seq, 0, batch, meta.cancel_reason)
            rules.check_writable(run_id, meta, expected_seq, epoch)
            for record in records:
                if record.key in run.seq_of_key:
                    raise rules.key_taken(run_id, record.key, run.seq_of_key[record.key])
            now = rules.now_ms()
            written = tuple(
                RunRecord.stamped(run_id, expected_seq + i, epoch, now, record)
                for i, record in enumerate(records)
            )
            log.extend(written)
            run.seq_of_key.update((r.key, r.seq) for r in written)
            rules.apply_append(meta, records)
            return AppendResult(meta.last_seq, len(written), written, meta.cancel_reason)

    def read(self, run_id: str, after_seq: int = 0, limit: int | None = None) -> list[RunRecord]:
        """Records after ``after_seq``, at most ``limit``."""
        rules.check_run_id(run_id)
        rules.check_read(after_seq, limit)
        with self._lock:
            log = self._run(run_id).records
            end = len(log) if limit is None else after_seq + limit
            return log[after_seq:end]

    def head(self, run_id: str) -> RunHead | None:
        """The run's state, or ``None``."""
        rules.check_run_id(run_id)
        with self._lock:
            run = self._runs.get(run_id)
            return None if run is None else rules.head_of(run_id, run.meta, rules.now_ms())

    def acquire_lease(self, run_id: str, owner: str, ttl_ms: int) -> Lease | None:
        """A new epoch for ``owner`` unless the lease is live."""
        rules.check_run_id(run_id)
        rules.check_lease_args(owner, ttl_ms)
        with self._lock:
            return rules.acquire(run_id, self._run(run_id).meta, owner, ttl_ms, rules.now_ms())

    def renew_lease(self, run_id: str, owner: str, epoch: int, ttl_ms: int) -> RenewResult:
        """Extend ``owner``'s live lease; carries the cancel flag."""
        rules.check_run_id(run_id)
        rules.check_lease_args(owner, ttl_ms, epoch)
        with self._lock:
            return rules.renew(self._run(run_id).meta, owner, epoch, ttl_ms, rules.now_ms())

    def release_lease(self, run_id: str, owner: str, epoch: int) -> bool:
        """Give the run up."""
        rules.check_run_id(run_id)
        rules.check_lease_args(owner, epoch=epoch)
        with self._lock:
            return rules.release(self._run(run_id).meta, owner, epoch)

    def request_cancel(self, run_id: str, reason: str) -> bool:
        """Ask the run to stop."""
        rules.check_run_id(run_id)
        rules.check_reason(reason)
        with self._lock:
            return rules.cancel(self._run(run_id).meta, reason)

    def cancel_requested(self, run_id: str) -> str | None:
        """The pending cancel reason, or ``None``."""
        rules.check_run_id(run_id)
        with self._lock:
            return self._run(run_id).meta.cancel_reason

    def list_recoverable(self, limit: int | None = None) -> list[str]:
        """Running runs whose lease expired, longest expired first."""
        rules.check_read(0, limit)
        with self._lock:
            now = rules.now_ms()
            expired = [
                (run.meta.expires_ms or 0, run_id)
                for run_id, run in self._runs.items()
                if rules.recoverable(run.meta, now)
            ]
        return [run_id for _, run_id in sorted(expired)[:limit]]

    def list_runs(self, *, limit: int | None = None) -> list[str]:
        """Run ids, newest first: the dict keeps the order the runs were created in."""
        rules.check_read(0, limit)
        with self._lock:
            newest_first = list(reversed(self._runs))
        return newest_first[:limit]

    def delete_run(self, run_id: str) -> bool:
        """Delete the run unless its lease is live."""
        rules.check_run_id(run_id)
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return False
            rules.check_deletable(run_id, run.meta, rules.now_ms())
            del self._runs[run_id]
            return True

    def close(self) -> None:
        """Nothing to release: the data lives as long as the instance."""

    def _run(self, run_id: str) -> _Run:
        return rules.found(run_id, self._runs.get(run_id))
