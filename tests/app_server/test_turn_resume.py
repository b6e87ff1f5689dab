"""``turn/resume`` on the durable run log: a turn whose server was killed mid-run continues
after a restart on the same store, with no event twice and one coherent history; a turn the
server runs, or whose run ended, answers without a notification; bad requests get -32602."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from agentcycle.app_server import protocol as p
from agentcycle.app_server.client import ApprovalAnswer, AppServerClient, AppServerError
from agentcycle.runtime.durable import durable_events
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from tests.app_server.conftest import BASH_THEN_FINISH, Spawn, ready

LEASE = ("--lease-ttl-seconds", "0.5")
"""A killed server's runs become resumable half a second after its last heartbeat."""

ROOT = Path(__file__).resolve().parents[2]


async def _allow(_request: p.ApprovalRequestParams) -> ApprovalAnswer:
    return {"decision": "allow"}


async def _killed_after_cycle_one(spawn: Spawn, store: str) -> None:
    """Run a turn on a server that kills itself (SIGKILL, ``AGENTCYCLE_CRASHPOINT``) right
    after cycle 1 (``bash``, allowed) commits."""
    crash = {"AGENTCYCLE_CRASHPOINT": "after_commit:1"}
    first = await spawn(None, *LEASE, store=store, env=crash, on_approval=_allow)
    await first.initialize("tests")
    await first.thread_start()
    started = await first.turn_start("thread_1", "say hi")
    assert started.turn_id == "turn_1"
    assert await first.process.wait() == -signal.SIGKILL


async def _error(client: AppServerClient, params: dict[str, Any]) -> AppServerError:
    with pytest.raises(AppServerError) as caught:
        await client.request_raw("turn/resume", params)
    return caught.value


async def test_a_killed_turn_resumes_after_a_restart(spawn: Spawn, tmp_path: Path) -> None:
    store = str(tmp_path / "app.sqlite")
    await _killed_after_cycle_one(spawn, store)

    # The restarted server's model answers from cycle 2 on (cycle 1's answer is durable).
    second = await ready(spawn, BASH_THEN_FINISH[1:], *LEASE, store=store)
    before = await second.thread_read("thread_1")
    (cancelled,) = before.turns
    assert cancelled.status == "failed" and cancelled.run_id is not None
    run_id = cancelled.run_id
    resumed = await second.turn_resume("thread_1", "turn_1", run_id)
    assert (resumed.status, resumed.run_id) == ("running", run_id)
    assert resumed.checkpoint is not None
    assert resumed.checkpoint.key == run_id and resumed.checkpoint.cycle_index == 1
    assert resumed.checkpoint.resume_attempt == 1
    methods: list[str] = []
    async for message in second.notifications():
        methods.append(message.method)
        if message.method == "turn/started":
            assert message.params == {
                "threadId": "thread_1",
                "turnId": "turn_1",
                "runId": run_id,
                "status": "running",
            }
        if message.method == "turn/completed":
            assert message.params["status"] == "completed"
            assert message.params["finalOutput"] == "done"
            break
    assert methods[:2] == ["thread/status/changed", "turn/started"]
    assert methods[-2:] == ["thread/status/changed", "turn/completed"]

    after = await second.thread_read("thread_1")
    assert after.thread.status == "idle"
    (turn,) = after.turns
    assert (turn.status, turn.run_id, turn.result["finalOutput"]) == ("completed", run_id, "done")
    ids = [item.item_id for item in after.items]
    assert len(ids) == len(set(ids)), "an item was delivered twice"
    kinds = [item.type for item in after.items]
    assert kinds.count("userMessage") == 1
    # bash ran once, before the kill; its result reached the thread after the resume.
    runs = [
        item
        for item in after.items
        if item.type == "toolCall"
        and item.status == "completed"
        and item.payload["toolName"] == "bash"
    ]
    assert len(runs) == 1 and "hi" in str(runs[0].payload)
    assert kinds[-1] == "agentMessage"

    # Again: the run ended, so the answer is its stored end, and nothing is announced.
    notified = len(second.received)
    replay = await second.turn_resume("thread_1", "turn_1", run_id)
    assert (replay.status, replay.final_output, replay.completion_reason) == (
        "completed",
        "done",
        "tool_finish",
    )
    checkpoint = replay.checkpoint
    assert checkpoint is not None and checkpoint.terminal_acknowledged
    assert (checkpoint.key, checkpoint.status) == (run_id, "completed")
    assert (checkpoint.resume_attempt, checkpoint.cycle_index) == (1, 2)
    assert [m for m in second.received[notified:] if "method" in m] == []
    assert await second.close() == 0
    # The run ended and its turn holds the end: its log is pruned (a server that stops
    # finishes that first).
    assert _run_log(store, run_id) is None

    # A restart does not bring the pruned run back: history and replay come from the store.
    third = await ready(spawn, [], *LEASE, store=store)
    snapshot = await third.thread_read("thread_1")
    assert snapshot.thread.status == "idle"
    assert [(t.status, t.result["finalOutput"]) for t in snapshot.turns] == [("completed", "done")]
    assert [item.item_id for item in snapshot.items] == ids
    assert await third.turn_resume("thread_1", "turn_1", run_id) == replay
    assert _run_log(store, run_id) is None


def _run_log(store: str, run_id: str) -> list[int] | None:
    """The seqs of the run's durable events in the server's run log (``None``: no such run),
    after checking that no process holds or could recover it."""
    checkpoints = open_checkpoint_store(f"sqlite:///{store}.runs.sqlite")
    try:
        if checkpoints.head(run_id) is None:
            assert run_id not in checkpoints.list_recoverable()
            return None
        return [event.seq for event in durable_events(checkpoints, run_id)]
    finally:
        checkpoints.close()


async def test_a_finished_turn_keeps_its_end_and_its_run_log_goes(
    spawn: Spawn, tmp_path: Path
) -> None:
    """Run logs are bounded: once a turn's end is in the store its run's log is deleted, and
    ``thread/read`` and the terminal replay of ``turn/resume`` answer from the store, also
    after a restart."""
    store = str(tmp_path / "app.sqlite")
    first = await ready(spawn, None, store=store, on_approval=_allow)
    await first.thread_start()
    await first.turn_start("thread_1", "say hi")
    run_id = (await first.wait_for("turn/completed")).params["runId"]
    expected = {
        "threadId": "thread_1",
        "turnId": "turn_1",
        "runId": run_id,
        "status": "completed",
        "finalOutput": "done",
        "completionReason": "tool_finish",
        "completionToolName": "task_finish",
        "checkpoint": {
            "key": run_id,
            "resumeAttempt": 0,
            "cycleIndex": 2,
            "status": "completed",
            "terminalAcknowledged": True,
        },
    }
    replay = await first.turn_resume("thread_1", "turn_1", run_id)
    assert replay.model_dump(by_alias=True, exclude_none=True) == expected
    assert await first.close() == 0  # the server finishes pruning before it exits
    assert _run_log(store, run_id) is None

    second = await ready(spawn, [], store=store)
    (turn,) = (await second.thread_read("thread_1")).turns
    assert (turn.status, turn.result["finalOutput"]) == ("completed", "done")
    notified = len(second.received)
    again = await second.turn_resume("thread_1", "turn_1", run_id)
    assert again.model_dump(by_alias=True, exclude_none=True) == expected
    assert [m for m in second.received[notified:] if "method" in m] == []
    assert _run_log(store, run_id) is None


async def test_a_turn_the_server_runs_answers_with_its_owner(spawn: Spawn) -> None:
    client = await ready(spawn)  # bash asks for approval: the turn waits
    await client.thread_start()
    await client.turn_start("thread_1", "hi")
    run_id = (await client.wait_for("turn/started")).params["runId"]
    await client.wait_for("approval/request")
    owner = await client.turn_resume("thread_1", "turn_1", run_id)
    assert (owner.status, owner.run_id) == ("running", run_id)
    assert owner.checkpoint is not None and owner.checkpoint.key == run_id
    assert not owner.checkpoint.terminal_acknowledged


async def test_a_run_another_live_process_owns_answers_with_its_owner(
    spawn: Spawn, tmp_path: Path
) -> None:
    """A second process (``lease_holder``) took the killed turn's run and keeps its lease
    alive: ``turn/resume`` answers with the run, ``running``, and its checkpoint, and the
    server announces nothing. Once the holder gives the run up, the turn resumes here."""
    store = str(tmp_path / "app.sqlite")
    await _killed_after_cycle_one(spawn, store)
    second = await ready(spawn, BASH_THEN_FINISH[1:], *LEASE, store=store)
    run_id = (await second.thread_read("thread_1")).turns[0].run_id
    assert run_id is not None
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.app_server.lease_holder",
        f"sqlite:///{store}.runs.sqlite",
        run_id,
        "3000",  # renewed every 0.75 s: it never lapses while the holder lives
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert (await holder.stdout.readline()).decode() == "HELD 2\n"
        notified = len(second.received)
        owned = await second.turn_resume("thread_1", "turn_1", run_id)
        assert owned.model_dump(by_alias=True, exclude_none=True) == {
            "threadId": "thread_1",
            "turnId": "turn_1",
            "runId": run_id,
            "status": "running",
            "checkpoint": {
                "key": run_id,
                "resumeAttempt": 1,
                "cycleIndex": 1,
                "status": "running",
                "terminalAcknowledged": False,
            },
        }
        snapshot = await second.thread_read("thread_1")  # after anything the resume sent
        assert [m for m in second.received[notified:] if "method" in m] == []
        assert [t.status for t in snapshot.turns] == ["failed"]
        assert snapshot.thread.status == "idle"
    finally:
        holder.stdin.close()
        assert await holder.wait() == 0
    assert await holder.stdout.read() == b"", "the holder lost its lease"

    resumed = await second.turn_resume("thread_1", "turn_1", run_id)
    assert resumed.status == "running"
    completed = await second.wait_for("turn/completed")
    assert (completed.params["status"], completed.params["finalOutput"]) == ("completed", "done")


async def test_turn_resume_refuses_what_it_cannot_resume(spawn: Spawn) -> None:
    ask = {
        "content": "",
        "tool_calls": [{"id": "q", "name": "ask_user", "arguments": {"question": "Which?"}}],
    }
    client = await ready(spawn, [ask])
    await client.thread_start()
    await client.turn_start("thread_1", "hi")
    completed = await client.wait_for("turn/completed")
    assert completed.params["status"] == "interrupted"
    run_id = completed.params["runId"]
    scope = {"threadId": "thread_1", "turnId": "turn_1"}
    waiting = await _error(client, {**scope, "checkpointKey": run_id})
    assert waiting.code == -32602 and "not resumable" in waiting.message
    unknown_turn = await _error(client, {**scope, "turnId": "turn_7", "checkpointKey": run_id})
    assert unknown_turn.code == -32602 and "unknown turn" in unknown_turn.message
    wrong_key = await _error(client, {**scope, "checkpointKey": "run_other"})
    assert wrong_key.code == -32602 and "unknown checkpoint" in wrong_key.message
    missing_thread = await _error(client, {**scope, "threadId": "thread_9", "checkpointKey": "k"})
    assert missing_thread.code == -32020


async def test_a_turn_killed_during_an_approval_asks_again(spawn: Spawn, tmp_path: Path) -> None:
    """``kill -9`` while ``bash`` waits for approval: the resumed run asks the resuming
    client, runs the command once allowed, and finishes."""
    store = str(tmp_path / "app.sqlite")
    first = await ready(spawn, None, *LEASE, store=store)
    await first.thread_start()
    await first.turn_start("thread_1", "say hi")
    run_id = (await first.wait_for("turn/started")).params["runId"]
    await first.wait_for("approval/request")
    first.process.send_signal(signal.SIGKILL)
    assert await first.process.wait() == -signal.SIGKILL

    second = await ready(spawn, BASH_THEN_FINISH[1:], *LEASE, store=store, on_approval=_allow)
    resumed = await second.turn_resume("thread_1", "turn_1", run_id)
    assert resumed.status == "running"
    completed = await second.wait_for("turn/completed")
    assert (completed.params["status"], completed.params["finalOutput"]) == ("completed", "done")
    snapshot = await second.thread_read("thread_1")
    ran = [
        item
        for item in snapshot.items
        if item.type == "toolCall"
        and item.status == "completed"
        and item.payload["toolName"] == "bash"
    ]
    assert len(ran) == 1
    assert [t.status for t in snapshot.turns] == ["completed"]


APPEND_THEN_FINISH = [
    {
        "content": "",
        "tool_calls": [
            {"id": "call_1", "name": "bash", "arguments": {"command": "echo ran >> ran.txt"}}
        ],
    },
    BASH_THEN_FINISH[1],
]
"""A turn whose ``bash`` call leaves a trace: one line in ``ran.txt`` per execution."""


async def _killed_mid_tool(spawn: Spawn, store: str) -> None:
    """A server on ``store`` starts ``APPEND_THEN_FINISH`` in ``thread_1`` and is killed
    (SIGKILL) inside its ``bash`` call, after the call ran."""
    crash = {"AGENTCYCLE_CRASHPOINT": "mid_tool:1"}
    first = await spawn(APPEND_THEN_FINISH, *LEASE, store=store, env=crash, on_approval=_allow)
    await first.initialize("tests")
    await first.thread_start()
    await first.turn_start("thread_1", "append a line")
    assert await first.process.wait() == -signal.SIGKILL


async def test_a_turn_killed_mid_tool_ends_interrupted_with_its_interruption(
    spawn: Spawn, tmp_path: Path
) -> None:
    """``kill -9`` after ``bash`` (non-idempotent) ran but before its result was durable:
    the resumed run cannot know whether it acted, so it does not run it again; the turn
    completes ``interrupted`` with the call as its ``interruption``, and says so again on
    every later ``turn/resume``, on ``thread/read`` and after a restart."""
    store = str(tmp_path / "app.sqlite")
    await _killed_mid_tool(spawn, store)
    assert (tmp_path / "ran.txt").read_text() == "ran\n"

    second = await ready(spawn, [], *LEASE, store=store, on_approval=_allow)
    run_id = (await second.thread_read("thread_1")).turns[0].run_id
    assert run_id is not None
    started = await second.turn_resume("thread_1", "turn_1", run_id)
    assert (started.status, started.interruption) == ("running", None)
    completed = (await second.wait_for("turn/completed")).params
    checkpoint = {
        "key": run_id,
        "resumeAttempt": 1,
        "cycleIndex": 0,
        "status": "reconciliation_required",
        "terminalAcknowledged": False,
    }
    interruption = {
        "reason": "bash may have run before the run was interrupted; its outcome is unknown",
        "operationId": "call_1",
        "operationKind": "tool",
        "cycleIndex": 1,
        "risk": "duplicate_side_effect",
        "idempotencySupport": "unsupported",
    }
    # No completionReason, no error, no tokenUsage or budget fields (§7).
    assert completed == {
        "threadId": "thread_1",
        "turnId": "turn_1",
        "status": "interrupted",
        "runId": run_id,
        "checkpoint": checkpoint,
        "interruption": interruption,
    }
    assert (tmp_path / "ran.txt").read_text() == "ran\n", "bash ran again"
    # The run can still be settled (through the SDK): its log stays, one event stream
    # across both servers, every seq once and in order.
    seqs = _run_log(store, run_id)
    assert seqs is not None and seqs == list(range(1, len(seqs) + 1))
    kinds = [m["method"] for m in second.received if m.get("method")]
    assert "error/warning" not in kinds

    snapshot = await second.thread_read("thread_1")
    assert snapshot.thread.status == "idle"
    (turn,) = snapshot.turns
    assert turn.status == "interrupted" and turn.completed_at is not None
    assert turn.result == {"checkpoint": checkpoint, "interruption": interruption}

    async def replayed(client: AppServerClient) -> None:
        notified = len(client.received)
        again = await client.turn_resume("thread_1", "turn_1", run_id)
        assert again.model_dump(by_alias=True, exclude_none=True) == {
            "threadId": "thread_1",
            "turnId": "turn_1",
            "runId": run_id,
            "status": "interrupted",
            "checkpoint": checkpoint,
            "interruption": interruption,
        }
        assert [m for m in client.received[notified:] if "method" in m] == []

    await replayed(second)
    assert await second.close() == 0
    third = await ready(spawn, [], *LEASE, store=store)
    assert [t.status for t in (await third.thread_read("thread_1")).turns] == ["interrupted"]
    await replayed(third)
    assert (tmp_path / "ran.txt").read_text() == "ran\n"


def _tool_calls(snapshot: p.ThreadReadResponse) -> list[tuple[str, str, str | None]]:
    """The thread's ``toolCall`` items that start or end a call: ``(itemId, status, the
    payload's status)`` (argument deltas left out)."""
    return [
        (item.item_id, item.status, item.payload.get("status"))
        for item in snapshot.items
        if item.type == "toolCall" and item.status != "inProgress"
    ]


async def test_a_tool_call_cut_by_a_kill_reads_interrupted_not_running(
    spawn: Spawn, tmp_path: Path
) -> None:
    """``kill -9`` while ``bash`` runs: the restart ends the turn and, with it, the call's
    ``toolCall`` item (``failed``, payload status ``interrupted``); the resumed run's own
    start of the call is closed the same way when the run stops for a reconciliation. No
    call reads as running once its turn has ended, and none is closed twice."""
    store = str(tmp_path / "app.sqlite")
    await _killed_mid_tool(spawn, store)

    second = await spawn([], *LEASE, store=store, on_approval=_allow)
    await second.initialize("tests", experimental_api=True)
    restarted = await second.thread_read("thread_1")
    started = _tool_calls(restarted)[0][0]
    closed = {item.item_id: item for item in restarted.items}[f"{started}_interrupted"]
    assert (closed.type, closed.status, closed.turn_id) == ("toolCall", "failed", "turn_1")
    assert closed.payload == {
        "toolCallId": "call_1",
        "toolName": "bash",
        "status": "interrupted",
        "directive": None,
        "errorCode": "tool_call_interrupted",
        "executionStarted": True,
        "durationMs": None,
        "resultPreview": None,
    }
    assert _tool_calls(restarted) == [
        (started, "started", None),
        (closed.item_id, "failed", "interrupted"),
    ]
    # The close is in the event log too, before the turn's end, for a client catching up.
    events = await second.request_raw("thread/events/list", {"threadId": "thread_1", "limit": 256})
    assert events["nextCursor"] is None
    methods = [(e["method"], e["params"].get("itemId")) for e in events["events"]]
    assert methods.index(("item/completed", closed.item_id)) < methods.index(
        ("turn/completed", None)
    )

    run_id = restarted.turns[0].run_id
    assert run_id is not None
    await second.turn_resume("thread_1", "turn_1", run_id)
    assert (await second.wait_for("turn/completed")).params["status"] == "interrupted"
    after = _tool_calls(await second.thread_read("thread_1"))
    assert after[:2] == _tool_calls(restarted)
    again = after[2][0]
    assert after[2:] == [
        (again, "started", None),
        (f"{again}_interrupted", "failed", "interrupted"),
    ]
    assert await second.close() == 0

    # A later restart finds nothing left open: the items stay as they were.
    third = await ready(spawn, [], *LEASE, store=store)
    assert _tool_calls(await third.thread_read("thread_1")) == after
