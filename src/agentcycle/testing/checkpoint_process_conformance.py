"""Cross-process conformance for :class:`~agentcycle.stores.CheckpointStore`.

A store that several processes share passes every case of
:class:`~agentcycle.testing.checkpoint_conformance.CheckpointStoreConformance` plus these:
races between processes (released together once every process has opened the store) and a
restart in a new process::

    import pytest
    from agentcycle.testing.checkpoint_process_conformance import (
        CrossProcessCheckpointConformance,
    )

    class TestMyStore(CrossProcessCheckpointConformance):
        @pytest.fixture
        def store_url(self, tmp_path):
            return f"mystore:///{tmp_path}/runs"

        @pytest.fixture
        def store_opener(self):
            return "mypackage.stores:open_store"  # called with the URL in every process
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.testing._checkpoint_processes import in_processes, opener
from agentcycle.testing.checkpoint_conformance import (
    LIVE_MS,
    RACERS,
    CheckpointStoreConformance,
    cycle_records,
)

__all__ = ["CrossProcessCheckpointConformance"]


class CrossProcessCheckpointConformance(CheckpointStoreConformance):
    """The cases above, plus races between processes and a restart in a new process. Provide
    ``store_url``; ``open_store`` opens it with ``open_checkpoint_store`` unless you override
    ``store_opener`` (``module:function`` taking the URL, importable by a child process)."""

    @pytest.fixture
    def store_url(self) -> str:
        """A URL of the test's storage (the same on every call, initially empty)."""
        raise NotImplementedError("override the store_url fixture")

    @pytest.fixture
    def store_opener(self) -> str:
        """``module:function`` that opens ``store_url`` in a child process."""
        return "agentcycle.stores.checkpoint_urls:open_checkpoint_store"

    @pytest.fixture
    def open_store(self, store_url: str, store_opener: str) -> Callable[[], CheckpointStore]:
        function = opener(store_opener)
        return lambda: function(store_url)

    def test_racing_acquirers_across_processes_one_wins(
        self, store: CheckpointStore, run_id: str, store_url: str, store_opener: str
    ) -> None:
        calls = [
            [["acquire_lease", {"run_id": run_id, "owner": f"p{i}", "ttl_ms": LIVE_MS}]]
            for i in range(RACERS)
        ]
        results = [r[0] for r in in_processes(store_opener, store_url, calls)]
        winners = [r for r in results if r is not None]
        assert len(winners) == 1 and winners[0]["epoch"] == 1, results
        head = store.head(run_id)
        assert head is not None and head.lease is not None
        assert head.lease.owner == winners[0]["owner"]

    def test_racing_appenders_across_processes_one_wins(
        self, store: CheckpointStore, run_id: str, store_url: str, store_opener: str
    ) -> None:
        def batch(i: int) -> list[list[Any]]:
            return [[r.kind.value, r.key, r.payload] for r in cycle_records(1, tag=f"-p{i}")]

        calls = [
            [
                [
                    "append",
                    {"run_id": run_id, "records": batch(i), "expected_seq": 2, "epoch": 0},
                ]
            ]
            for i in range(RACERS)
        ]
        results = [r[0] for r in in_processes(store_opener, store_url, calls)]
        won = [i for i, r in enumerate(results) if "error" not in r]
        assert len(won) == 1, results
        assert sorted(r["error"] for r in results if "error" in r) == ["seq_conflict"] * 7
        stored = store.read(run_id, after_seq=1)
        assert [r.key for r in stored] == [r[1] for r in batch(won[0])]
        assert [r.payload for r in stored] == [r[2] for r in batch(won[0])]

    def test_a_new_process_sees_the_same_state(
        self, store: CheckpointStore, run_id: str, store_url: str, store_opener: str
    ) -> None:
        lease = store.acquire_lease(run_id, "w", LIVE_MS)
        assert lease is not None
        batch = cycle_records(1)
        store.append(run_id, batch, expected_seq=2, epoch=lease.epoch)
        store.request_cancel(run_id, "from the parent")
        wire = [[r.kind.value, r.key, r.payload] for r in batch]
        calls = [
            ["head", {"run_id": run_id}],
            ["read", {"run_id": run_id}],
            ["append", {"run_id": run_id, "records": wire, "expected_seq": 2, "epoch": 1}],
            ["renew_lease", {"run_id": run_id, "owner": "w", "epoch": 1, "ttl_ms": LIVE_MS}],
            ["request_cancel", {"run_id": run_id, "reason": "from the child"}],
        ]
        ((head, records, retried, renewal, cancelled),) = in_processes(
            store_opener, store_url, [calls]
        )
        mine = store.head(run_id)
        assert mine is not None
        assert (head["last_seq"], head["epoch"], head["status"]) == (7, 1, "running")
        assert head["lease"]["owner"] == "w" and head["cancel_reason"] == "from the parent"
        assert [(r["seq"], r["key"], r["digest"], r["ts"]) for r in records] == [
            (r.seq, r.key, r.digest, r.ts) for r in store.read(run_id)
        ]
        assert retried["appended"] == 0 and len(store.read(run_id)) == 7
        assert renewal["ok"] and renewal["cancel_reason"] == "from the parent"
        assert cancelled is False
        assert mine.lease is not None and mine.lease.expires_ms == renewal["expires_ms"]

    def test_a_run_created_in_another_process_is_listed(
        self, store: CheckpointStore, store_url: str, store_opener: str
    ) -> None:
        store.create_run("parent", {})
        calls = [["create_run", {"run_id": "child", "header": {}}], ["list_runs", {}]]
        ((created, listed),) = in_processes(store_opener, store_url, [calls])
        assert created is True and listed == ["child", "parent"]
        assert store.list_runs() == ["child", "parent"]
        assert store.list_runs(limit=1) == ["child"]
