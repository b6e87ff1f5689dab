"""``open_checkpoint_store``: the URL forms of the CLI and workers, and typed refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcycle.errors import CheckpointStorageError, ConfigurationError, InvalidStoreUrl
from agentcycle.stores import (
    MemoryCheckpointStore,
    RedisCheckpointStore,
    SQLiteCheckpointStore,
    open_checkpoint_store,
)

from .conftest import REDIS_URL


def test_memory_opens_a_new_empty_store_each_time() -> None:
    first, second = open_checkpoint_store("memory:"), open_checkpoint_store("memory:")
    assert isinstance(first, MemoryCheckpointStore) and first is not second
    first.create_run("r", {})
    assert second.head("r") is None


def test_sqlite_paths_are_relative_with_three_slashes_and_absolute_with_four(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_checkpoint_store("sqlite:///runs/rel.db")
    absolute = open_checkpoint_store(f"sqlite:///{tmp_path}/abs.db")
    assert isinstance(relative, SQLiteCheckpointStore)
    assert isinstance(absolute, SQLiteCheckpointStore)
    assert relative.path == Path("runs/rel.db") and absolute.path == tmp_path / "abs.db"
    (tmp_path / "runs").mkdir()
    relative.create_run("r", {})
    absolute.create_run("r", {})
    assert (tmp_path / "runs" / "rel.db").exists() and (tmp_path / "abs.db").exists()
    relative.close()
    absolute.close()


def test_a_sqlite_file_in_a_missing_folder_is_named_when_first_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_checkpoint_store("sqlite:///runs/x.db")  # the folder may still be made
    with pytest.raises(CheckpointStorageError) as caught:
        store.create_run("r", {})
    assert f"the folder {tmp_path / 'runs'} is missing" in caught.value.message
    (tmp_path / "runs").mkdir()
    store.create_run("r", {})  # nothing was left broken
    store.close()


def test_redis_takes_its_key_prefix_from_the_query(redis_prefix: str) -> None:
    store = open_checkpoint_store(f"{REDIS_URL}?key_prefix={redis_prefix}")
    assert isinstance(store, RedisCheckpointStore) and store.key_prefix == redis_prefix
    assert store.create_run("r", {}) is True
    assert store.keys("r")[0] == f"{redis_prefix}{{r}}:meta"
    store.close()
    default = open_checkpoint_store(REDIS_URL)
    assert isinstance(default, RedisCheckpointStore) and default.key_prefix == "ac:"
    default.close()


@pytest.mark.parametrize(
    "url",
    [
        "",
        "memory",
        "memory://x",
        "sqlite://relative.db",
        "sqlite:///",
        "sqlite:///runs.db?mode=ro",
        "postgres://localhost/db",
        "redis://127.0.0.1:6379/0?key_prefix=",
        "redis://127.0.0.1:6379/0?key_prefix=a&key_prefix=b",
        "redis://127.0.0.1:6379/abc",  # redis-py alone would quietly use database 0
        "redis://127.0.0.1:6379/9x",
        "redis://127.0.0.1:63x9/0",
        "sqlite:runs.db",
        "/tmp/runs.db",
    ],
)
def test_anything_else_is_a_typed_configuration_error(url: str) -> None:
    with pytest.raises(InvalidStoreUrl) as caught:
        open_checkpoint_store(url)
    assert isinstance(caught.value, ConfigurationError)
    assert caught.value.code == "invalid_store_url"
    assert "memory:, sqlite:///relative/path" in caught.value.message


def test_a_refused_url_never_shows_its_password() -> None:
    with pytest.raises(InvalidStoreUrl) as caught:
        open_checkpoint_store("redis://user:s3cret@127.0.0.1:6379/0?key_prefix=")
    assert "s3cret" not in str(caught.value) and "s3cret" not in str(caught.value.details)
    assert "user:***@127.0.0.1" in caught.value.message
