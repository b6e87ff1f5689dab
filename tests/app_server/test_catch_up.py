"""ext catch-up (APP_SERVER.md §11.2): cursors on notifications, thread/events/list paging,
thread/resume {afterCursor} replaying with no gap and no duplicate, -32026 for bad cursors,
and the experimental gate."""

from __future__ import annotations

import base64
import signal
from pathlib import Path
from typing import Any

import pytest

from agentcycle.app_server.client import AppServerClient, AppServerError
from tests.app_server.conftest import Spawn, ready


async def _ext(spawn: Spawn, *args: Any, **kwargs: Any) -> AppServerClient:
    client = await spawn(*args, **kwargs)
    await client.initialize("tests", experimental_api=True)
    return client


async def _error(client: AppServerClient, method: str, params: Any) -> AppServerError:
    with pytest.raises(AppServerError) as caught:
        await client.request_raw(method, params)
    return caught.value


def _live(client: AppServerClient, thread_id: str) -> list[dict[str, Any]]:
    """Thread-scoped notifications the client received, in order (without ``expiresAt``, an
    ext field of live approvals that the log does not keep)."""
    return [
        {k: v for k, v in m["params"].items() if k != "expiresAt"}
        for m in client.received
        if "method" in m
        and "id" not in m
        and m["params"].get("threadId", thread_id) == thread_id
        and "cursor" in m["params"]
    ]


async def test_ext_needs_the_experimental_api(spawn: Spawn) -> None:
    client = await ready(spawn)
    await client.thread_start()
    listing = await _error(client, "thread/events/list", {"threadId": "thread_1"})
    assert (listing.code, listing.message, listing.data) == (
        -32012,
        "Experimental API required",
        {"method": "thread/events/list"},
    )
    resume = await _error(client, "thread/resume", {"threadId": "thread_1", "afterCursor": "c1.x"})
    assert (resume.code, resume.data) == (
        -32012,
        {"method": "thread/resume", "field": "afterCursor"},
    )
    assert "cursor" not in (await client.wait_for("thread/started")).params


async def test_events_list_pages_through_what_was_sent(spawn: Spawn) -> None:
    client = await _ext(spawn, None, "--approval-timeout-seconds", "1")
    await client.thread_start()
    await client.turn_start("thread_1", "hi")
    await client.wait_for("turn/completed")
    live = _live(client, "thread_1")
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        params: dict[str, Any] = {"threadId": "thread_1", "limit": 7}
        if after is not None:
            params["afterCursor"] = after
        page = await client.request_raw("thread/events/list", params)
        assert page["truncated"] is False and len(page["events"]) <= 7
        pages.extend(page["events"])
        after = page["nextCursor"]
        if after is None:
            break
    assert [e["cursor"] for e in pages] == [n["cursor"] for n in live]
    assert [{**e["params"], "cursor": e["cursor"]} for e in pages] == live


async def test_bad_cursors(spawn: Spawn) -> None:
    client = await _ext(spawn)
    await client.thread_start()
    await client.thread_start()
    cursor = (await client.wait_for("thread/started")).params["cursor"]
    other = await _ext(spawn)
    await other.thread_start()
    foreign = (await other.wait_for("thread/started")).params["cursor"]
    body = cursor.removeprefix("c1.")
    epoch, thread, _seq = (
        base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().split("\n")
    )
    beyond = "c1." + base64.urlsafe_b64encode(f"{epoch}\n{thread}\n99".encode()).decode().rstrip(
        "="
    )
    for bad, reason, thread_id in [
        ("zzz", "malformed", "thread_1"),
        ("c1.!!!", "malformed", "thread_1"),
        (cursor, "thread_mismatch", "thread_2"),
        (foreign, "epoch_mismatch", "thread_1"),
        (beyond, "unknown", "thread_1"),
    ]:
        for method in ("thread/events/list", "thread/resume"):
            error = await _error(client, method, {"threadId": thread_id, "afterCursor": bad})
            assert (error.code, error.message, error.data) == (
                -32026,
                "Invalid cursor",
                {"reason": reason},
            )


async def test_resume_after_a_crash_replays_without_gap_or_duplicate(
    spawn: Spawn, tmp_path: Path
) -> None:
    store = str(tmp_path / "app.sqlite")
    first = await _ext(spawn, None, store=store)
    await first.thread_start()
    await first.turn_start("thread_1", "hi")
    await first.wait_for("approval/request")
    seen = _live(first, "thread_1")
    resume_after = seen[3]["cursor"]  # the client saw (and handled) only the first four
    first.process.send_signal(signal.SIGKILL)
    await first.process.wait()

    second = await _ext(spawn, None, store=store)
    before = len(second.received)
    await second.request_raw("thread/resume", {"threadId": "thread_1", "afterCursor": resume_after})
    replayed = _live(second, "thread_1")
    response_at = next(i for i, m in enumerate(second.received[before:]) if "result" in m)
    assert response_at == 0  # the response comes first, then the missed notifications
    assert replayed[: len(seen) - 4] == seen[4:]
    restart = [n.get("decision") or n.get("status") for n in replayed[len(seen) - 4 :]]
    assert restart == ["timeout", "idle", "failed"]
    cursors = [n["cursor"] for n in seen[:4] + replayed]
    assert len(cursors) == len(set(cursors))
    await second.thread_start()  # live notifications go on after the replay, with cursors
    assert "cursor" in (await second.wait_for("thread/started")).params


async def test_experimental_approvals_say_when_they_expire(spawn: Spawn) -> None:
    client = await _ext(spawn, None, "--approval-timeout-seconds", "20")
    await client.thread_start()
    await client.turn_start("thread_1", "hi")
    request = await client.wait_for("approval/request")
    (started,) = [
        m["params"]
        for m in client.received
        if m.get("method") == "item/started" and m["params"]["type"] == "approval"
    ]
    (requested,) = [m["params"] for m in client.received if m.get("method") == "approval/requested"]
    assert requested["expiresAt"] == request.params["expiresAt"]
    assert 19 < requested["expiresAt"] - started["createdAt"] < 21
    await client.turn_interrupt("thread_1")
    await client.wait_for("turn/completed")
