"""JSONL store specifics: corrupt lines reported by line number, torn writes, concurrent
writers on one file."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path

import pytest

from agentcycle.errors import CorruptEventRecord, EventStoreError
from agentcycle.stores import JsonlRunEventStore
from agentcycle.testing.event_store_conformance import cycle, dicts, finish, replayed, start_run


async def stored_run(path: Path) -> list[dict]:
    bus = start_run("run_a")
    cycle(bus, 1)
    finish(bus)
    store = JsonlRunEventStore(path)
    await store.append_many(bus.backlog)
    await store.aclose()
    return dicts(bus.backlog)


async def test_one_json_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    expected = await stored_run(path)
    assert [json.loads(line) for line in path.read_text().splitlines()] == expected


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("{not json}\n", "not JSON"),
        ('{"run_id": "run_a", "type": "no_such_type", "version": 1}\n', "not a valid event"),
        ("[1, 2]\n", "not an event object"),
        ('{"run_id": "run_a"}\n', "not a valid event"),
    ],
)
async def test_a_corrupt_line_is_reported_with_its_line_number(
    tmp_path: Path, damage: str, reason: str
) -> None:
    path = tmp_path / "events.jsonl"
    await stored_run(path)
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(3, damage)  # becomes line 4
    path.write_text("".join(lines))

    store = JsonlRunEventStore(path)
    with pytest.raises(CorruptEventRecord) as caught:
        await replayed(store, "run_a")
    assert caught.value.line == 4 and caught.value.path == str(path)
    assert caught.value.code == "corrupt_event_record"
    assert f"{path}:4:" in str(caught.value) and reason in str(caught.value)
    with pytest.raises(CorruptEventRecord, match=":4:"):
        await store.runs()


async def test_skipping_corrupt_lines_is_explicit_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "events.jsonl"
    expected = await stored_run(path)
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(2, "garbage\n")
    path.write_text("".join(lines))

    store = JsonlRunEventStore(path, on_corrupt="skip")
    with caplog.at_level(logging.WARNING, logger="agentcycle.stores.jsonl_events"):
        assert dicts(await replayed(store, "run_a")) == expected
    assert any(":3: corrupt event record" in r.getMessage() for r in caplog.records)


async def test_blank_lines_carry_no_event_and_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    expected = await stored_run(path)
    lines = path.read_text().splitlines(keepends=True)
    lines.insert(2, "\n")
    path.write_text("".join(lines))
    assert dicts(await replayed(JsonlRunEventStore(path), "run_a")) == expected


async def test_a_torn_last_line_is_reported_and_later_appends_stay_readable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    await stored_run(path)
    whole = len(path.read_text().splitlines())
    with path.open("a") as f:
        f.write('{"run_id": "run_a", "seq": 99, "ty')  # a writer killed mid-line

    store = JsonlRunEventStore(path)
    with pytest.raises(CorruptEventRecord, match="incomplete last line") as caught:
        await replayed(store, "run_a")
    assert caught.value.line == whole + 1

    other = start_run("run_b")
    await store.append_many(other.backlog)
    await store.aclose()
    assert dicts(await replayed(JsonlRunEventStore(path, on_corrupt="skip"), "run_b")) == dicts(
        other.backlog
    )
    with pytest.raises(CorruptEventRecord, match="not JSON") as caught:
        await replayed(store, "run_b")
    assert caught.value.line == whole + 1  # only the torn line is lost


async def test_writers_on_separate_handles_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    buses = [start_run(f"run_{n}", input="x" * 20_000) for n in range(6)]
    for bus in buses:
        for index in range(1, 30):
            cycle(bus, index)
    barrier = threading.Barrier(len(buses))

    def write(bus) -> None:
        store = JsonlRunEventStore(path)  # its own file descriptor, like another process

        async def append_in_batches() -> None:
            barrier.wait()
            for start in range(0, len(bus.backlog), 7):
                await store.append_many(bus.backlog[start : start + 7])
            await store.aclose()

        asyncio.run(append_in_batches())

    threads = [threading.Thread(target=write, args=(bus,)) for bus in buses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store = JsonlRunEventStore(path)
    for bus in buses:
        assert dicts(await replayed(store, bus.run_id)) == dicts(bus.backlog)


async def test_fsync_mode_writes_the_same_lines(tmp_path: Path) -> None:
    bus = start_run("run_a")
    store = JsonlRunEventStore(tmp_path / "events.jsonl", fsync=True)
    await store.append_many(bus.backlog)
    assert dicts(await replayed(store, "run_a")) == dicts(bus.backlog)
    await store.aclose()


async def test_an_unwritable_path_raises_a_typed_error(tmp_path: Path) -> None:
    store = JsonlRunEventStore(tmp_path / "missing-dir" / "events.jsonl")
    with pytest.raises(EventStoreError) as caught:
        await store.append_many(start_run("run_a").backlog)
    assert caught.value.code == "event_store_io_error"


async def test_a_missing_file_replays_nothing(tmp_path: Path) -> None:
    store = JsonlRunEventStore(tmp_path / "absent.jsonl")
    assert await replayed(store, "run_a") == []
    assert await store.runs() == []
