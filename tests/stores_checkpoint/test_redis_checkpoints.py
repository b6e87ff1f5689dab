"""Redis specifics: the keys and the sweeper index, the server's clock, failures."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from agentcycle.errors import CheckpointStorageError, CorruptRunRecord
from agentcycle.stores import RedisCheckpointStore
from agentcycle.testing.checkpoint_conformance import cycle_records, terminal

from .conftest import REDIS_URL


@pytest.fixture
def store(redis_client: Any, redis_prefix: str) -> RedisCheckpointStore:
    """A store on a client the test owns, with run ``r`` created."""
    store = RedisCheckpointStore(client=redis_client, key_prefix=redis_prefix)
    store.create_run("r", {"agent": "a"})
    return store


def test_a_runs_keys_share_one_hash_tag_under_the_prefix(
    store: RedisCheckpointStore, redis_client: Any, redis_prefix: str
) -> None:
    store.append("r", cycle_records(1), expected_seq=2, epoch=0)
    meta, log, keys = store.keys("r")
    assert (meta, log, keys) == tuple(f"{redis_prefix}{{r}}:{k}" for k in ("meta", "log", "keys"))
    assert redis_client.llen(log) == 7
    assert redis_client.hget(keys, "c1/started").decode().startswith("2 ")
    assert redis_client.hget(meta, "last_seq") == b"7"
    # Beside them, one counter per prefix: the runs created, which numbers each meta.
    counter = f"{redis_prefix}runs_created"
    assert (redis_client.get(counter), redis_client.hget(meta, "created_no")) == (b"1", b"1")
    assert {k.decode() for k in redis_client.scan_iter(match=f"{redis_prefix}*")} == {
        meta,
        log,
        keys,
        counter,
    }


def test_the_sweeper_index_follows_the_lease_and_the_status(
    store: RedisCheckpointStore, redis_client: Any, redis_prefix: str
) -> None:
    running = f"{redis_prefix}running"
    lease = store.acquire_lease("r", "w", 60_000)
    assert lease is not None
    assert redis_client.zscore(running, "r") == lease.expires_ms
    renewal = store.renew_lease("r", "w", lease.epoch, 120_000)
    assert redis_client.zscore(running, "r") == renewal.expires_ms
    store.append("r", [terminal()], expected_seq=2, epoch=lease.epoch)
    assert redis_client.zscore(running, "r") is None


def test_list_runs_matches_the_prefix_literally(redis_client: Any, redis_prefix: str) -> None:
    """Glob characters of a prefix are escaped in ``SCAN``'s pattern: a store under ``x*[ab]?\\``
    does not list the runs of a store whose prefix that pattern would match unescaped."""
    globbing = RedisCheckpointStore(client=redis_client, key_prefix=f"{redis_prefix}x*[ab]?\\:")
    matched = RedisCheckpointStore(client=redis_client, key_prefix=f"{redis_prefix}xyzb!:")
    globbing.create_run("mine", {})
    matched.create_run("theirs", {})
    odd = "a}:meta {b} *?"  # a run id with braces, the key suffix and glob characters
    globbing.create_run(odd, {})
    assert globbing.list_runs() == [odd, "mine"]
    assert matched.list_runs() == ["theirs"]
    assert globbing.head(odd) is not None


def test_list_runs_orders_metas_without_a_creation_number_by_their_time(
    store: RedisCheckpointStore, redis_client: Any
) -> None:
    """Metas written before ``created_no`` existed are ordered by ``created`` (server ms)."""
    store.create_run("s", {})
    store.create_run("t", {})
    for run_id, created in (("r", 3_000), ("s", 1_000), ("t", 2_000)):
        meta = store.keys(run_id)[0]
        redis_client.hdel(meta, "created_no")
        redis_client.hset(meta, "created", created)
    assert store.list_runs() == ["r", "t", "s"]
    store.create_run("u", {})  # numbered, and created now
    assert store.list_runs() == ["u", "r", "t", "s"]


def test_lease_expiry_is_on_the_servers_clock(
    store: RedisCheckpointStore, redis_client: Any
) -> None:
    def server_ms() -> int:
        seconds, micros = redis_client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    before = server_ms()
    lease = store.acquire_lease("r", "w", 60_000)
    after = server_ms()
    assert lease is not None and before + 60_000 <= lease.expires_ms <= after + 60_000
    head = store.head("r")
    assert head is not None and after <= head.now_ms <= server_ms()


def test_a_client_passed_in_stays_open(store: RedisCheckpointStore, redis_client: Any) -> None:
    store.close()
    assert redis_client.ping() is True
    assert store.read("r")[0].payload == {"agent": "a"}


def test_a_corrupt_log_entry_is_reported_with_its_seq(
    store: RedisCheckpointStore, redis_client: Any
) -> None:
    store.append("r", cycle_records(1), expected_seq=2, epoch=0)
    redis_client.lset(store.keys("r")[1], 2, b"not a record")
    with pytest.raises(CorruptRunRecord) as caught:
        store.read("r")
    assert caught.value.details == {"run_id": "r", "seq": 3}
    assert len(store.read("r", after_seq=3)) == 4


def test_an_unreachable_server_is_a_storage_error() -> None:
    store = RedisCheckpointStore("redis://127.0.0.1:1/0")
    with pytest.raises(CheckpointStorageError) as caught:
        store.create_run("r", {})
    assert caught.value.code == "checkpoint_storage_error"
    assert caught.value.details == {"run_id": "r", "key_prefix": "ac:"}
    assert caught.value.message.startswith("checkpoint store in Redis (keys under 'ac:'): ")
    store.close()


def test_the_default_url_is_the_local_server(redis_prefix: str) -> None:
    default, explicit = (
        RedisCheckpointStore(key_prefix=redis_prefix),
        RedisCheckpointStore(REDIS_URL, key_prefix=redis_prefix),
    )
    assert default.create_run("r", {}) is True
    assert explicit.create_run("r", {}) is False
    default.close()
    explicit.close()


def test_a_script_the_server_does_not_know_is_loaded_again(
    store: RedisCheckpointStore, redis_client: Any
) -> None:
    """A restarted Redis has lost its script cache: the store loads the script and goes on.
    (Simulated with an unknown SHA: flushing the server's cache would touch other clients.)"""
    script = store._append
    known = script.sha
    script.sha = "0" * 40
    store.append("r", cycle_records(1), expected_seq=2, epoch=0)
    assert script.sha == known
    assert [r.seq for r in store.read("r")] == list(range(1, 8))


def test_a_connection_broken_mid_call_is_dropped_and_the_next_call_reconnects(
    store: RedisCheckpointStore,
) -> None:
    """The store's calls go out on connections of its own: one that breaks is a storage error
    the writer retries (nothing landed here), and the retry gets a working connection."""
    store.head("r")
    (connection,) = store._idle  # the idle connection the next call takes
    connection._sock.shutdown(socket.SHUT_RDWR)
    with pytest.raises(CheckpointStorageError):
        store.append("r", cycle_records(1), expected_seq=2, epoch=0)
    assert store.append("r", cycle_records(1), expected_seq=2, epoch=0).appended == 6
    assert store.cancel_requested("r") is None
    idle = list(store._idle)
    store.close()  # closes the store's own connections (not the client it was given)
    assert idle and all(c._sock is None for c in idle)
