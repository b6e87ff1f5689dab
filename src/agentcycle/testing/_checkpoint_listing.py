"""The ``list_runs`` cases of the checkpoint store conformance suite (a part of
:class:`~agentcycle.testing.checkpoint_conformance.CheckpointStoreConformance`, which provides
the ``store`` and ``open_store`` fixtures these cases use)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentcycle.errors import InvalidCheckpointRequest
from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.stores.run_records import NewRecord, RecordKind, record_keys

CREATED = ("m-run", "z-run", "a-run", "q-run", "b-run")
"""Run ids in the order the cases create them: neither alphabetical nor its reverse, so a store
that sorts by id instead of by creation fails."""


class RunListingCases:
    """``list_runs``: every run, newest first, at most ``limit``."""

    def test_list_runs_is_newest_first_whatever_the_runs_did_since(
        self, store: CheckpointStore
    ) -> None:
        assert store.list_runs() == []
        for run_id in CREATED:
            assert store.create_run(run_id, {"agent": "conformance"})
        newest_first = list(reversed(CREATED))
        # The oldest run's activity, lease and end do not make it newer.
        lease = store.acquire_lease(CREATED[0], "w", 60_000)
        assert lease is not None
        done = NewRecord(RecordKind.TERMINAL, record_keys.terminal(), {"status": "completed"})
        store.append(CREATED[0], [done], expected_seq=2, epoch=lease.epoch)
        store.request_cancel(CREATED[1], "stop")
        assert store.create_run(CREATED[2], {"agent": "again"}) is False  # not created again
        assert store.list_runs() == newest_first
        assert store.list_runs(limit=2) == newest_first[:2]
        assert store.list_runs(limit=len(CREATED)) == newest_first
        assert store.list_runs(limit=100) == newest_first
        assert store.list_runs(limit=0) == []

    def test_many_runs_are_all_listed_in_order(self, store: CheckpointStore) -> None:
        created = [f"bulk-{(i * 7919) % 1000:03d}" for i in range(300)]  # shuffled ids
        for run_id in created:
            store.create_run(run_id, {})
        assert store.list_runs() == list(reversed(created))
        assert store.list_runs(limit=3) == list(reversed(created[-3:]))

    def test_a_deleted_run_is_not_listed_and_one_created_again_is_new(
        self, store: CheckpointStore
    ) -> None:
        for run_id in CREATED:
            store.create_run(run_id, {})
        assert store.delete_run("z-run") is True
        assert store.delete_run("b-run") is True  # the newest
        assert store.list_runs() == ["q-run", "a-run", "m-run"]
        assert store.create_run("z-run", {"agent": "again"}) is True
        assert store.list_runs() == ["z-run", "q-run", "a-run", "m-run"]
        assert store.list_runs(limit=1) == ["z-run"]

    def test_a_run_created_through_another_instance_is_listed(
        self, open_store: Callable[[], CheckpointStore], store: CheckpointStore
    ) -> None:
        store.create_run("here", {})
        other = open_store()
        try:
            other.create_run("there", {})
            assert other.list_runs() == ["there", "here"]
        finally:
            other.close()
        assert store.list_runs() == ["there", "here"]

    def test_a_bad_limit_is_a_typed_error(self, store: CheckpointStore) -> None:
        store.create_run("kept", {})
        for bad in (-1, 1.5, "3", True, [1]):
            with pytest.raises(InvalidCheckpointRequest) as caught:
                store.list_runs(limit=bad)  # type: ignore[arg-type]
            assert caught.value.code == "invalid_checkpoint_request"
        assert store.list_runs() == ["kept"]
