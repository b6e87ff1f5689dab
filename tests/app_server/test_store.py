"""The durable store: history survives a kill -9, restart rules, one server per store, and
a store of an unknown version is refused untouched."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from agentcycle.app_server._store import Store, seconds
from tests.app_server.conftest import Spawn, ready, write_script

ENTRY = "import sys; from agentcycle.cli import main; sys.exit(main(sys.argv[1:]))"


async def test_history_survives_a_kill_during_a_turn(spawn: Spawn, tmp_path: Path) -> None:
    store = str(tmp_path / "state" / "app.sqlite")
    first = await ready(spawn, None, store=store)
    await first.thread_start()
    await first.turn_start("thread_1", "hi")
    await first.wait_for("approval/request")  # mid-turn: the run waits for a decision
    first.process.send_signal(signal.SIGKILL)
    assert await first.process.wait() == -signal.SIGKILL

    second = await ready(spawn, None, store=store)
    snapshot = await second.thread_read("thread_1")
    assert snapshot.thread.status == "idle"
    (turn,) = snapshot.turns
    assert turn.status == "failed" and turn.completed_at is not None
    assert turn.result == {"completionReason": "cancelled", "error": "app server restarted"}
    kinds = [item.type for item in snapshot.items]
    assert kinds[0] == "userMessage" and "approval" in kinds
    assert (await second.thread_start()).thread_id == "thread_2"  # ids are never reused
    await second.close()

    with Store(store) as reopened:
        log = [(method, json.loads(params)) for _seq, method, params in reopened.events("thread_1")]
    methods = [method for method, _ in log]
    tail = methods[-3:]
    assert tail == ["approval/resolved", "thread/status/changed", "turn/completed"]
    resolved = log[-3][1]
    assert (resolved["decision"], resolved["reason"]) == ("timeout", "app server restarted")
    assert log[-1][1]["status"] == "failed" and log[-1][1]["completionReason"] == "cancelled"


async def test_a_restarted_thread_takes_new_turns(spawn: Spawn, tmp_path: Path) -> None:
    store = str(tmp_path / "app.sqlite")
    finish = {
        "content": "",
        "tool_calls": [{"id": "c", "name": "task_finish", "arguments": {"message": "one"}}],
    }
    first = await ready(spawn, [finish], store=store)
    await first.thread_start()
    await first.turn_start("thread_1", "hi")
    await first.wait_for("turn/completed")
    assert await first.close() == 0
    second = await ready(
        spawn,
        [{**finish, "tool_calls": [{**finish["tool_calls"][0], "arguments": {"message": "two"}}]}],
        store=store,
    )
    resumed = await second.thread_resume("thread_1")
    assert [t.status for t in resumed.turns] == ["completed"]
    started = await second.turn_start("thread_1", "again")
    assert started.turn_id == "turn_2"
    completed = await second.wait_for("turn/completed")
    assert completed.params["finalOutput"] == "two"


def _serve(store: Path, script: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            ENTRY,
            "app-server",
            "--scripted-model",
            str(script),
            "--store",
            str(store),
        ],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_one_server_per_store(spawn: Spawn, tmp_path: Path) -> None:
    store = tmp_path / "app.sqlite"
    running = await ready(spawn, None, store=str(store))
    second = _serve(store, write_script(tmp_path, []))
    assert second.returncode == 2
    assert "in use" in second.stderr
    assert second.stdout == ""
    assert (await running.model_list()).models


def test_a_store_of_an_unknown_version_is_refused_untouched(tmp_path: Path) -> None:
    store = tmp_path / "app.sqlite"
    with Store(store):
        pass
    conn = sqlite3.connect(store)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    result = _serve(store, write_script(tmp_path, []))
    assert result.returncode == 2
    assert "schema version 99" in result.stderr
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before


def test_a_version_1_store_is_migrated_on_open(tmp_path: Path) -> None:
    store = tmp_path / "app.sqlite"
    with Store(store) as first:
        thread_id = first.create_thread("default", None, {}, 1.0).thread_id
        turn_id = first.create_turn(thread_id, [], 1.0)
    conn = sqlite3.connect(store)
    conn.execute("ALTER TABLE turns DROP COLUMN checkpoint")  # the version 1 layout
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with Store(store) as migrated:
        assert migrated.kept_checkpoint(turn_id) is None
        migrated.keep_checkpoint(turn_id, {"key": "run_1"})
        assert [t["turnId"] for t in migrated.turns(thread_id)] == [turn_id]
    with Store(store) as reopened:
        assert reopened.kept_checkpoint(turn_id) == {"key": "run_1"}
    conn = sqlite3.connect(store)
    (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert version == "2"


def test_the_default_store_lives_in_the_state_dir(tmp_path: Path) -> None:
    script = write_script(tmp_path, [])
    result = subprocess.run(
        [sys.executable, "-c", ENTRY, "app-server", "--scripted-model", str(script)],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "state" / "agentcycle" / "app_server.sqlite").is_file()


def test_bad_flags_exit_2(tmp_path: Path) -> None:
    script = write_script(tmp_path, [])
    for flags in (
        ["--listen", "tcp://x"],
        ["--approval-timeout-seconds", "0"],
        ["--lease-ttl-seconds", "0"],
        ["--scripted-model", str(tmp_path / "missing.json")],
        ["--scripted-model", str(script), "--model", "gpt"],
        ["--no-such-flag"],
    ):
        args = flags if "--scripted-model" in flags else ["--scripted-model", str(script), *flags]
        result = subprocess.run(
            [sys.executable, "-c", ENTRY, "app-server", "--store", ":memory:", *args],
            input="",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (flags, result.stderr)
        assert result.stdout == ""


def test_stored_milliseconds_read_as_seconds() -> None:
    assert seconds(1720000000123.0) == 1720000000.123
    assert seconds(1720000000.5) == 1720000000.5
