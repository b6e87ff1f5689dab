"""Conformance suite for :class:`~agentcycle.stores.CheckpointStore` (the durable run log).

Every checkpoint store agentcycle ships passes these tests; run them against your own::

    import pytest
    from agentcycle.testing.checkpoint_conformance import CheckpointStoreConformance

    class TestMyStore(CheckpointStoreConformance):
        @pytest.fixture
        def open_store(self, tmp_path):
            # a factory: every call opens the same, initially empty, storage again
            return lambda: MyStore(tmp_path / "runs")

A store that several processes can share should also pass the cross-process cases: see
:mod:`agentcycle.testing.checkpoint_process_conformance`. Races use barriers, never sleeps; the
only waiting is for the store's clock to pass a short lease's expiry. The numbered sections
follow the 14 cases of the design (``DURABLE.md`` 4.2); the ``list_runs`` cases come from
``agentcycle.testing._checkpoint_listing``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from agentcycle.errors import (
    DuplicateRecordKey,
    Fenced,
    InvalidCheckpointRequest,
    RunLeaseHeld,
    RunNotFound,
    RunTerminated,
    SeqConflict,
)
from agentcycle.stores.checkpoints import CheckpointStore, LogStatus, RunHead
from agentcycle.stores.run_records import NewRecord, RecordKind, record_digest, record_keys
from agentcycle.testing._checkpoint_listing import RunListingCases

__all__ = ["CheckpointStoreConformance", "cycle_records", "event", "expire", "race", "terminal"]

T = TypeVar("T")
LIVE_MS = 60_000
"""A lease TTL no test outlives."""
SHORT_MS = 30
"""A lease TTL the tests wait out (on the store's clock)."""
RACERS = 8
"""Threads or processes in each race."""


def cycle_records(cycle: int, *, tag: str = "") -> list[NewRecord]:
    """One cycle's worth of records: started, model intent and result, one tool call, commit."""
    call = f"call_{cycle}{tag}"
    return [
        NewRecord(RecordKind.CYCLE_STARTED, record_keys.cycle_started(cycle), {"cycle": cycle}),
        NewRecord(RecordKind.MODEL_INTENT, record_keys.model_intent(cycle), {"request": "d"}),
        NewRecord(
            RecordKind.MODEL_RESULT,
            record_keys.model_result(cycle),
            {"text": f"step {cycle}{tag}", "usage": {"input": 10, "output": 3}},
        ),
        NewRecord(
            RecordKind.EFFECT_INTENT,
            record_keys.effect_intent(cycle, call),
            {"tool": "write", "args": {"n": cycle}, "effect_class": "non_idempotent"},
        ),
        NewRecord(
            RecordKind.EFFECT_RESULT,
            record_keys.effect_result(cycle, call),
            {"outcome": "ok", "result": f"wrote {cycle}"},
        ),
        NewRecord(RecordKind.CYCLE_COMMITTED, record_keys.cycle_committed(cycle), {"n": cycle}),
    ]


def event(name: str, **payload: Any) -> NewRecord:
    """A one-off ``event`` record keyed ``event/<name>``."""
    return NewRecord(RecordKind.EVENT, record_keys.event(name), payload)


def terminal(status: str = "completed") -> NewRecord:
    """The ``terminal`` record."""
    return NewRecord(RecordKind.TERMINAL, record_keys.terminal(), {"status": status})


def waiting() -> NewRecord:
    """A ``waiting`` record for cycle 1."""
    return NewRecord(RecordKind.WAITING, record_keys.waiting(1), {"reason": "user"})


def identities(store: CheckpointStore, run_id: str) -> list[tuple[int, int, str, str, str]]:
    """``(seq, epoch, kind, key, digest)`` of every stored record."""
    return [(r.seq, r.epoch, r.kind, r.key, r.digest) for r in store.read(run_id)]


def expire(store: CheckpointStore, run_id: str) -> RunHead:
    """Wait (at most 10 s) until the store's clock passes the run's lease expiry."""
    deadline = time.monotonic() + 10
    while True:
        head = store.head(run_id)
        assert head is not None and head.lease is not None
        if not head.lease_live:
            return head
        assert time.monotonic() < deadline, "the lease did not expire on the store's clock"
        time.sleep(0.005)


def race(
    open_store: Callable[[], CheckpointStore], work: Callable[[CheckpointStore, int], T]
) -> list[T | Exception]:
    """``work(store, i)`` in RACERS threads, each on its own store instance, released together
    by a barrier; each thread's result or error, by index."""
    barrier = threading.Barrier(RACERS)
    results: list[T | Exception] = [RuntimeError("not run")] * RACERS

    def one(index: int) -> None:
        store = open_store()
        store.head("warm-up")  # connect before the race starts
        barrier.wait(timeout=30)
        try:
            results[index] = work(store, index)
        except Exception as exc:
            results[index] = exc
        finally:
            store.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


class CheckpointStoreConformance(RunListingCases):
    """Behaviour every ``CheckpointStore`` must have (with the ``list_runs`` cases of
    ``RunListingCases``). Provide ``open_store``."""

    @pytest.fixture
    def open_store(self) -> Callable[[], CheckpointStore]:
        """A factory opening the test's storage (the same one on every call)."""
        raise NotImplementedError("override the open_store fixture")

    @pytest.fixture
    def store(self, open_store: Callable[[], CheckpointStore]) -> Iterator[CheckpointStore]:
        store = open_store()
        yield store
        store.close()

    @pytest.fixture
    def run_id(self, store: CheckpointStore) -> str:
        """A created run with header ``{"agent": "conformance"}``."""
        run_id = f"run-{uuid.uuid4().hex[:12]}"
        assert store.create_run(run_id, {"agent": "conformance"}) is True
        return run_id

    # 1 --------------------------------------------------------------------------------------

    def test_create_is_insert_if_absent(self, store: CheckpointStore) -> None:
        assert store.head("run-a") is None
        assert store.create_run("run-a", {"agent": "first", "input": "hi"}) is True
        assert store.create_run("run-a", {"agent": "second"}) is False
        (header,) = store.read("run-a")
        assert (header.seq, header.epoch, header.kind, header.key) == (
            1,
            0,
            RecordKind.RUN_CREATED,
            "run",
        )
        assert header.payload == {"agent": "first", "input": "hi"}
        head = store.head("run-a")
        assert head is not None
        assert (head.last_seq, head.epoch, head.status, head.lease) == (
            1,
            0,
            LogStatus.RUNNING,
            None,
        )
        assert head.cancel_reason is None and not head.lease_live

    # 2 --------------------------------------------------------------------------------------

    def test_appends_are_contiguous_and_read_back_in_order(
        self, store: CheckpointStore, run_id: str
    ) -> None:
        first, second = cycle_records(1), cycle_records(2)
        result = store.append(run_id, first, expected_seq=2, epoch=0)
        assert (result.last_seq, result.appended, result.duplicate) == (7, 6, False)
        assert [(r.seq, r.key, r.digest) for r in result.records] == [
            (2 + i, r.key, r.digest) for i, r in enumerate(first)
        ]
        store.append(run_id, second, expected_seq=8, epoch=0)
        records = store.read(run_id)
        assert [r.seq for r in records] == list(range(1, 14))
        assert [r.key for r in records[1:]] == [r.key for r in first + second]
        assert [r.payload for r in records[1:]] == [r.payload for r in first + second]
        assert all(r.run_id == run_id and r.epoch == 0 for r in records)
        assert records[1:7] == list(result.records)
        assert [r.seq for r in store.read(run_id, after_seq=7)] == list(range(8, 14))
        assert [r.seq for r in store.read(run_id, after_seq=3, limit=2)] == [4, 5]
        assert store.read(run_id, after_seq=13) == [] and store.read(run_id, limit=0) == []
        assert store.read(run_id, after_seq=99) == []
        head = store.head(run_id)
        assert head is not None and head.last_seq == 13

    # 3 --------------------------------------------------------------------------------------

    def test_a_wrong_expected_seq_is_a_conflict_and_writes_nothing(
        self, store: CheckpointStore, run_id: str
    ) -> None:
        store.append(run_id, cycle_records(1), expected_seq=2, epoch=0)
        before = identities(store, run_id)
        for wrong in (2, 7, 9, 50):
            with pytest.raises(SeqConflict) as caught:
                store.append(run_id, [event(f"e{wrong}")], expected_seq=wrong, epoch=0)
            assert caught.value.code == "seq_conflict"
            assert caught.value.details["last_seq"] == 7
        assert identities(store, run_id) == before
        assert store.append(run_id, [event("e8")], expected_seq=8, epoch=0).last_seq == 8

    # 4 --------------------------------------------------------------------------------------

    def test_an_identical_reappend_is_a_no_op(self, store: CheckpointStore, run_id: str) -> None:
        batch = cycle_records(1)
        written = store.append(run_id, batch, expected_seq=2, epoch=0)
        store.append(run_id, [event("later")], expected_seq=8, epoch=0)
        retried = store.append(run_id, cycle_records(1), expected_seq=2, epoch=0)
        assert (retried.duplicate, retried.appended, retried.last_seq) == (True, 0, 8)
        assert retried.records == written.records  # the first write's seq, epoch and ts
        assert len(store.read(run_id)) == 8

        changed = NewRecord(RecordKind.CYCLE_STARTED, record_keys.cycle_started(1), {"cycle": 9})
        with pytest.raises(SeqConflict):
            store.append(run_id, [changed], expected_seq=2, epoch=0)
        with pytest.raises(DuplicateRecordKey) as caught:
            store.append(run_id, [changed], expected_seq=9, epoch=0)
        assert caught.value.code == "duplicate_record_key"
        assert caught.value.details["seq"] == 2
        assert len(store.read(run_id)) == 8

    # 5 --------------------------------------------------------------------------------------

    def test_a_batch_is_all_or_nothing(self, store: CheckpointStore, run_id: str) -> None:
        store.append(run_id, [event("taken")], expected_seq=2, epoch=0)
        with pytest.raises(DuplicateRecordKey):
            store.append(run_id, [*cycle_records(1), event("taken")], expected_seq=3, epoch=0)
        with pytest.raises(InvalidCheckpointRequest):
            store.append(run_id, [terminal(), *cycle_records(1)], expected_seq=3, epoch=0)
        with pytest.raises(InvalidCheckpointRequest):
            store.append(run_id, [event("x"), event("x")], expected_seq=3, epoch=0)
        assert [r.key for r in store.read(run_id)] == ["run", "event/taken"]
        assert store.append(run_id, cycle_records(1), expected_seq=3, epoch=0).appended == 6

    # 6 --------------------------------------------------------------------------------------

    def test_the_lease_lifecycle(self, store: CheckpointStore, run_id: str) -> None:
        lease = store.acquire_lease(run_id, "w1", SHORT_MS)
        assert lease is not None and (lease.owner, lease.epoch) == ("w1", 1)
        head = store.head(run_id)
        assert head is not None and head.epoch == 1 and head.lease == lease
        head = expire(store, run_id)
        assert head.lease == lease  # expired, still on record until someone takes it
        renewal = store.renew_lease(run_id, "w1", 1, LIVE_MS)
        assert not renewal.ok and renewal.expires_ms is None  # expired: re-acquire instead

        lease = store.acquire_lease(run_id, "w2", LIVE_MS)
        assert lease is not None and lease.epoch == 2
        assert store.acquire_lease(run_id, "w3", LIVE_MS) is None
        assert store.acquire_lease(run_id, "w2", LIVE_MS) is None  # extend by renewing
        assert not store.renew_lease(run_id, "w1", 2, LIVE_MS).ok  # not the owner
        assert not store.renew_lease(run_id, "w2", 1, LIVE_MS).ok  # stale epoch
        renewal = store.renew_lease(run_id, "w2", 2, LIVE_MS)
        assert renewal.ok and renewal.expires_ms is not None
        assert renewal.expires_ms >= lease.expires_ms
        assert store.release_lease(run_id, "w1", 2) is False
        assert store.release_lease(run_id, "w2", 1) is False
        assert store.release_lease(run_id, "w2", 2) is True
        head = store.head(run_id)
        assert head is not None and head.lease is None and head.epoch == 2
        assert not store.renew_lease(run_id, "w2", 2, LIVE_MS).ok
        lease = store.acquire_lease(run_id, "w3", LIVE_MS)
        assert lease is not None and lease.epoch == 3

    # 7 --------------------------------------------------------------------------------------

    def test_a_stale_epoch_is_fenced(self, store: CheckpointStore, run_id: str) -> None:
        old = store.acquire_lease(run_id, "zombie", SHORT_MS)
        assert old is not None
        store.append(run_id, cycle_records(1), expected_seq=2, epoch=old.epoch)
        expire(store, run_id)
        new = store.acquire_lease(run_id, "heir", LIVE_MS)
        assert new is not None and new.epoch == old.epoch + 1
        for _ in range(2):  # still refused on the second try
            with pytest.raises(Fenced) as caught:
                store.append(run_id, cycle_records(2), expected_seq=8, epoch=old.epoch)
            assert caught.value.code == "fenced"
            assert caught.value.details["current_epoch"] == new.epoch
        assert len(store.read(run_id)) == 7
        mine = store.append(run_id, cycle_records(2, tag="b"), expected_seq=8, epoch=new.epoch)
        with pytest.raises(Fenced):
            store.append(run_id, cycle_records(3), expected_seq=14, epoch=old.epoch)
        assert store.read(run_id, after_seq=7) == list(mine.records)
        assert [r.epoch for r in store.read(run_id)] == [0] + [old.epoch] * 6 + [new.epoch] * 6
        with pytest.raises(Fenced):
            store.append(run_id, [event("from the future")], expected_seq=14, epoch=new.epoch + 1)

    def test_the_epoch_not_the_clock_guards_appends(
        self, store: CheckpointStore, run_id: str
    ) -> None:
        lease = store.acquire_lease(run_id, "slow", SHORT_MS)
        assert lease is not None
        expire(store, run_id)
        # Lapsed but not taken over: nothing was lost, the owner's appends still land ...
        store.append(run_id, cycle_records(1), expected_seq=2, epoch=lease.epoch)
        # ... until another owner takes the run: from then on they are fenced.
        assert store.acquire_lease(run_id, "heir", LIVE_MS) is not None
        with pytest.raises(Fenced):
            store.append(run_id, cycle_records(2), expected_seq=8, epoch=lease.epoch)
        assert len(store.read(run_id)) == 7

    # 8 --------------------------------------------------------------------------------------

    def test_racing_acquirers_across_threads_one_wins(
        self, open_store: Callable[[], CheckpointStore], store: CheckpointStore, run_id: str
    ) -> None:
        results = race(open_store, lambda s, i: s.acquire_lease(run_id, f"w{i}", LIVE_MS))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, results
        head = store.head(run_id)
        assert head is not None and head.lease == winners[0] and head.epoch == 1

    def test_racing_appenders_across_threads_one_wins(
        self, open_store: Callable[[], CheckpointStore], store: CheckpointStore, run_id: str
    ) -> None:
        lease = store.acquire_lease(run_id, "w", LIVE_MS)
        assert lease is not None
        results = race(
            open_store,
            lambda s, i: s.append(
                run_id, cycle_records(1, tag=f"-{i}"), expected_seq=2, epoch=lease.epoch
            ),
        )
        won = [i for i, r in enumerate(results) if not isinstance(r, Exception)]
        assert len(won) == 1, results
        assert all(isinstance(r, SeqConflict) for r in results if isinstance(r, Exception))
        stored = store.read(run_id, after_seq=1)
        winner = cycle_records(1, tag=f"-{won[0]}")
        assert [r.payload for r in stored] == [r.payload for r in winner]

    # 9 --------------------------------------------------------------------------------------

    def test_a_fresh_instance_sees_the_same_state(
        self, open_store: Callable[[], CheckpointStore], store: CheckpointStore, run_id: str
    ) -> None:
        lease = store.acquire_lease(run_id, "w", LIVE_MS)
        assert lease is not None
        store.append(run_id, cycle_records(1), expected_seq=2, epoch=lease.epoch)
        store.request_cancel(run_id, "user asked")
        before, records = store.head(run_id), store.read(run_id)
        store.close()
        fresh = open_store()
        try:
            after = fresh.head(run_id)
            assert after is not None and before is not None
            assert (after.last_seq, after.epoch, after.status, after.lease) == (
                before.last_seq,
                before.epoch,
                before.status,
                before.lease,
            )
            assert after.cancel_reason == "user asked"
            assert fresh.read(run_id) == records
            retried = fresh.append(run_id, cycle_records(1), expected_seq=2, epoch=lease.epoch)
            assert retried.duplicate and fresh.read(run_id) == records
        finally:
            fresh.close()

    # 10 -------------------------------------------------------------------------------------

    def test_runs_are_isolated(self, store: CheckpointStore) -> None:
        for run_id in ("iso-a", "iso-b"):
            store.create_run(run_id, {"run": run_id})
        lease = store.acquire_lease("iso-a", "w", LIVE_MS)
        assert lease is not None
        store.append("iso-a", cycle_records(1), expected_seq=2, epoch=lease.epoch)
        store.request_cancel("iso-a", "stop a")
        head_b = store.head("iso-b")
        assert head_b is not None
        assert (head_b.last_seq, head_b.epoch, head_b.lease, head_b.cancel_reason) == (
            1,
            0,
            None,
            None,
        )
        lease_b = store.acquire_lease("iso-b", "w", LIVE_MS)
        assert lease_b is not None and lease_b.epoch == 1  # a's live lease is a's alone
        # The same keys in another run are no conflict.
        store.append("iso-b", cycle_records(1), expected_seq=2, epoch=1)
        assert [r.run_id for r in store.read("iso-b")] == ["iso-b"] * 7
        assert store.cancel_requested("iso-b") is None
        store.append("iso-b", [terminal()], expected_seq=8, epoch=1)
        store.append("iso-a", [event("a goes on")], expected_seq=8, epoch=lease.epoch)

    # 11 -------------------------------------------------------------------------------------

    def test_cancel_is_seen_by_other_instances_and_by_renewals(
        self, open_store: Callable[[], CheckpointStore], store: CheckpointStore, run_id: str
    ) -> None:
        lease = store.acquire_lease(run_id, "owner", LIVE_MS)
        assert lease is not None
        assert store.renew_lease(run_id, "owner", lease.epoch, LIVE_MS).cancel_reason is None
        other = open_store()
        try:
            assert other.request_cancel(run_id, "stop ✋") is True
            assert other.request_cancel(run_id, "again") is False  # the first reason stays
        finally:
            other.close()
        assert store.cancel_requested(run_id) == "stop ✋"
        renewal = store.renew_lease(run_id, "owner", lease.epoch, LIVE_MS)
        assert renewal.ok and renewal.cancel_requested and renewal.cancel_reason == "stop ✋"
        lost = store.renew_lease(run_id, "intruder", lease.epoch, LIVE_MS)
        assert not lost.ok and lost.cancel_reason == "stop ✋"
        head = store.head(run_id)
        assert head is not None and head.cancel_requested
        # An append answers it too (a writer learns of it without asking again), also for
        # an identical retry.
        batch = cycle_records(1)
        appended = store.append(run_id, batch, expected_seq=2, epoch=lease.epoch)
        assert appended.appended == len(batch) and appended.cancel_reason == "stop ✋"
        retried = store.append(run_id, batch, expected_seq=2, epoch=lease.epoch)
        assert retried.duplicate and retried.cancel_reason == "stop ✋"

    def test_an_append_without_a_cancel_request_says_so(
        self, store: CheckpointStore, run_id: str
    ) -> None:
        assert store.append(run_id, cycle_records(1), expected_seq=2, epoch=0).cancel_reason is None

    # 12 -------------------------------------------------------------------------------------

    def test_unicode_and_large_payloads_round_trip_with_stable_digests(
        self, store: CheckpointStore, run_id: str
    ) -> None:
        text = 'ünïcode ✓ 漢字 \U0001f600 "quotes" \\ back\nslash\ttab \x00 ' * 20_000
        payload = {"text": text, "nested": [1, 2.5, None, True, {"z": [], "a": {}}], "n": -7}
        big = NewRecord(RecordKind.MODEL_RESULT, record_keys.model_result(1), payload)
        odd_key = NewRecord(RecordKind.EFFECT_INTENT, record_keys.effect_intent(1, "a/b ✓"), {})
        store.append(run_id, [big, odd_key], expected_seq=2, epoch=0)
        stored_big, stored_odd = store.read(run_id, after_seq=1)
        assert stored_big.payload == payload and stored_big.digest == big.digest
        assert stored_odd.key == "c1/tool/a%2Fb ✓/intent"
        assert store.append(run_id, [big, odd_key], expected_seq=2, epoch=0).duplicate
        # The digest is canonical: key order does not matter, and it is pinned across releases.
        assert big.digest == record_digest("model_result", "c1/model/result", dict(payload))
        pinned = NewRecord(RecordKind.EVENT, "event/e1", {"b": [1, "ü"], "a": None})
        assert pinned.digest == ("5d99b97f200f40038528ed9f3b8b11f3f2bd5c27a9e2428e3b894e5bf98c5b8c")
        # A writer's own serialisation is kept byte for byte: its digest is over that text.
        text = '{"b":[1,"ü"],"a":null}'
        own = NewRecord.of_json(RecordKind.EVENT, "event/e2", text)
        store.append(run_id, [own], expected_seq=4, epoch=0)
        (stored_own,) = store.read(run_id, after_seq=3)
        assert (stored_own.payload_json, stored_own.digest) == (text, own.digest)
        assert store.append(run_id, [own], expected_seq=4, epoch=0).duplicate

    # 13 -------------------------------------------------------------------------------------

    def test_a_terminal_run_is_immutable(self, store: CheckpointStore, run_id: str) -> None:
        lease = store.acquire_lease(run_id, "w", LIVE_MS)
        assert lease is not None
        done = store.append(run_id, [*cycle_records(1), terminal()], expected_seq=2, epoch=1)
        head = store.head(run_id)
        assert head is not None and head.status is LogStatus.TERMINAL and head.lease is None
        for attempt in (
            lambda: store.append(run_id, [event("after")], expected_seq=9, epoch=1),
            lambda: store.append(run_id, [event("after")], expected_seq=9, epoch=2),
            lambda: store.acquire_lease(run_id, "other", LIVE_MS),
        ):
            with pytest.raises(RunTerminated) as caught:
                attempt()
            assert caught.value.code == "run_terminated"
        retried = store.append(run_id, [*cycle_records(1), terminal()], expected_seq=2, epoch=1)
        assert retried.duplicate and retried.records == done.records
        assert not store.renew_lease(run_id, "w", 1, LIVE_MS).ok
        assert store.request_cancel(run_id, "too late") is False
        assert store.cancel_requested(run_id) is None
        assert len(store.read(run_id)) == 8

    # 14 -------------------------------------------------------------------------------------

    def test_list_recoverable_returns_exactly_the_expired_running_runs(
        self, store: CheckpointStore
    ) -> None:
        def leased(run_id: str, ttl_ms: int, *records: NewRecord) -> int:
            store.create_run(run_id, {})
            lease = store.acquire_lease(run_id, "w", ttl_ms)
            assert lease is not None
            if records:
                store.append(run_id, list(records), expected_seq=2, epoch=lease.epoch)
            return lease.epoch

        leased("expired-1", SHORT_MS, *cycle_records(1))
        leased("expired-2", SHORT_MS)
        leased("live", LIVE_MS)
        store.create_run("never-leased", {})
        store.release_lease("released", "w", leased("released", SHORT_MS))
        leased("waiting", SHORT_MS, waiting())
        leased("terminal", SHORT_MS, terminal())
        epoch = leased("resumed", SHORT_MS, waiting())
        store.append("resumed", cycle_records(2), expected_seq=3, epoch=epoch)  # running again
        leased("taken-over", SHORT_MS)
        for run_id in ("expired-1", "expired-2", "waiting", "taken-over", "resumed"):
            expire(store, run_id)
        assert store.acquire_lease("taken-over", "heir", LIVE_MS) is not None
        recoverable = store.list_recoverable()
        assert sorted(recoverable) == ["expired-1", "expired-2", "resumed"]
        assert recoverable[0] == "expired-1"  # the longest expired comes first
        assert store.list_recoverable(limit=1) == ["expired-1"]

    # -- deletion -------------------------------------------------------------------------

    def test_delete_removes_a_stopped_run_and_nothing_else(
        self, open_store: Callable[[], CheckpointStore], store: CheckpointStore
    ) -> None:
        def stopped(run_id: str, last: NewRecord | None, ttl_ms: int = SHORT_MS) -> None:
            store.create_run(run_id, {"agent": "conformance"})
            lease = store.acquire_lease(run_id, "w", ttl_ms)
            assert lease is not None
            records = [*cycle_records(1), *([last] if last else [])]
            store.append(run_id, records, expected_seq=2, epoch=lease.epoch)
            store.request_cancel(run_id, "stop")

        stopped("done", terminal())
        stopped("paused", waiting())
        stopped("crashed", None)  # running, its owner gone: recoverable
        stopped("live", None, LIVE_MS)
        stopped("kept", terminal())
        kept = identities(store, "kept")
        expire(store, "paused")
        expire(store, "crashed")
        assert "crashed" in store.list_recoverable()

        for run_id in ("done", "paused", "crashed"):
            assert store.delete_run(run_id) is True
            assert store.head(run_id) is None
            with pytest.raises(RunNotFound):
                store.read(run_id)
            assert store.delete_run(run_id) is False
        assert "crashed" not in store.list_recoverable()
        with pytest.raises(RunLeaseHeld) as caught:
            store.delete_run("live")  # its owner may still be writing
        assert caught.value.code == "run_lease_held"
        assert len(store.read("live")) == 7
        assert identities(store, "kept") == kept
        assert store.delete_run("never-created") is False
        other = open_store()
        try:
            assert other.head("done") is None and other.head("kept") is not None
        finally:
            other.close()
        # The id is free again: a new run, from seq 1 and epoch 0.
        assert store.create_run("done", {"agent": "again"}) is True
        (header,) = store.read("done")
        assert (header.seq, header.epoch, header.payload) == (1, 0, {"agent": "again"})
        head = store.head("done")
        assert head is not None and head.cancel_reason is None

    # -- status, unknown runs, bad input -------------------------------------------------

    def test_the_status_follows_the_last_record(self, store: CheckpointStore, run_id: str) -> None:
        def status() -> LogStatus:
            head = store.head(run_id)
            assert head is not None
            return head.status

        store.append(run_id, [waiting()], expected_seq=2, epoch=0)
        assert status() is LogStatus.WAITING
        store.append(run_id, cycle_records(2), expected_seq=3, epoch=0)
        assert status() is LogStatus.RUNNING
        store.append(run_id, [terminal("cancelled")], expected_seq=9, epoch=0)
        assert status() is LogStatus.TERMINAL

    def test_unknown_runs_raise_run_not_found(self, store: CheckpointStore) -> None:
        assert store.head("nope") is None
        for call in (
            lambda: store.append("nope", [event("e")], expected_seq=2, epoch=0),
            lambda: store.read("nope"),
            lambda: store.acquire_lease("nope", "w", LIVE_MS),
            lambda: store.renew_lease("nope", "w", 1, LIVE_MS),
            lambda: store.release_lease("nope", "w", 1),
            lambda: store.request_cancel("nope", "x"),
            lambda: store.cancel_requested("nope"),
        ):
            with pytest.raises(RunNotFound) as caught:
                call()
            assert caught.value.code == "run_not_found"
        assert store.head("nope") is None and store.list_recoverable() == []

    def test_bad_input_is_a_typed_error_and_writes_nothing(
        self, store: CheckpointStore, run_id: str
    ) -> None:
        bad_calls: list[Callable[[], object]] = [
            lambda: store.create_run("", {}),
            lambda: store.create_run("r", {"x": float("nan")}),
            lambda: store.create_run("r", {"x": object()}),
            lambda: store.append(run_id, [], expected_seq=2, epoch=0),
            lambda: store.append(run_id, [event("e")], expected_seq=1, epoch=0),
            lambda: store.append(run_id, [event("e")], expected_seq=2, epoch=-1),
            lambda: store.append(run_id, [{"kind": "event"}], expected_seq=2, epoch=0),  # type: ignore[list-item]
            lambda: store.append(
                run_id, [NewRecord("run_created", "again", {})], expected_seq=2, epoch=0
            ),
            lambda: store.read(run_id, after_seq=-1),
            lambda: store.read(run_id, limit=-1),
            lambda: store.acquire_lease(run_id, "", LIVE_MS),
            lambda: store.acquire_lease(run_id, "w", 0),
            lambda: store.renew_lease(run_id, "w", 1, -5),
            lambda: NewRecord("no_such_kind", "k", {}),
            lambda: NewRecord(RecordKind.EVENT, "", {}),
            lambda: NewRecord(RecordKind.EVENT, "k", ["not", "an", "object"]),  # type: ignore[arg-type]
        ]
        for call in bad_calls:
            with pytest.raises(InvalidCheckpointRequest) as caught:
                call()
            assert caught.value.code == "invalid_checkpoint_request"
        assert store.head("r") is None
        head = store.head(run_id)
        assert head is not None and (head.last_seq, head.epoch, head.lease) == (1, 0, None)
