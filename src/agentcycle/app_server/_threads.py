"""The handlers of the thread methods: ``thread/start``, ``thread/resume``, ``thread/read``,
``thread/list``, ``thread/archive``, ``thread/unsubscribe`` and ext ``thread/events/list``."""

from __future__ import annotations

import json
from typing import Any

from agentcycle.app_server import _cursors as cursors
from agentcycle.app_server import _jsonrpc as rpc
from agentcycle.app_server import protocol as p
from agentcycle.app_server._connection import Connection
from agentcycle.app_server._jsonrpc import Reply
from agentcycle.app_server._projection import EXT_ITEM_TYPES
from agentcycle.app_server._store import Store, ThreadRow, now
from agentcycle.app_server._turn_runs import TurnRuns


def require_thread(store: Store, thread_id: str) -> ThreadRow:
    """The thread's row; ``-32020`` when the store has no such thread."""
    row = store.thread(thread_id)
    if row is None:
        raise rpc.thread_not_found()
    return row


def _item_type(body: str) -> str:
    """A stored item's ``type``, read from its JSON text without parsing it all (``type``
    comes before ``payload``, and a quote inside an id is escaped)."""
    start = body.find('"type":"') + 8
    return body[start : body.find('"', start)]


class ThreadService:
    """The thread methods (see the module docstring)."""

    def __init__(self, store: Store, runs: TurnRuns) -> None:
        self._store = store
        self._runs = runs
        self._delivery = runs.delivery
        self._fanout = runs.delivery.fanout

    def _thread(self, thread_id: str) -> ThreadRow:
        return require_thread(self._store, thread_id)

    async def thread_start(self, conn: Connection, params: p.ThreadStartParams) -> Reply:
        """``thread/start``."""
        row = self._store.create_thread(
            params.agent_key or "default", params.cwd, params.metadata or {}, now()
        )
        self._fanout.subscribe(conn, row.thread_id)
        result = {
            "threadId": row.thread_id,
            "agentKey": row.agent_key,
            "cwd": row.cwd,
            "status": row.status,
        }
        return result, lambda: self._fanout.publish(row.thread_id, "thread/started", dict(result))

    async def thread_resume(self, conn: Connection, params: p.ThreadResumeParams) -> Reply:
        """``thread/resume``: subscribe (unless ``subscribe: false``), reopen a closed
        thread, return the snapshot, then (ext ``afterCursor``) replay the notifications
        after the cursor, then re-send pending approvals to the caller. The handler does not
        yield between subscribing and replaying, so live notifications follow with no gap and
        no duplicate."""
        row = self._thread(params.thread_id)
        after = getattr(params, "after_cursor", None)
        replay_from = None
        if after is not None:
            last = self._store.last_seq(row.thread_id)
            replay_from = cursors.decode(after, self._store.epoch, row.thread_id, last)
        if params.subscribe is not False:
            self._fanout.subscribe(conn, row.thread_id)
        if row.status == "closed":
            status = "running" if row.thread_id in self._runs.live else "idle"
            self._store.set_thread_status(row.thread_id, status, now())
        snapshot = self._snapshot(row.thread_id, None, conn.experimental)
        turn = self._runs.live.get(row.thread_id)

        def catch_up() -> None:
            if replay_from is not None:
                for seq, method, params_json in self._store.events(row.thread_id, replay_from):
                    cursor = cursors.encode(self._store.epoch, row.thread_id, seq)
                    line = rpc.notification_line(
                        method, rpc.with_fields(params_json, {"cursor": cursor})
                    )
                    conn.notify(method, line)
            if turn is not None and params.subscribe is not False:
                turn.owner = conn
                for approval in list(turn.open_approvals.values()):
                    self._delivery.ask_owner(turn, approval.params)

        return snapshot, catch_up

    async def thread_events_list(self, conn: Connection, params: p.ThreadEventsListParams) -> Reply:
        """ext ``thread/events/list``: a page of the thread's logged notifications."""
        row = self._thread(params.thread_id)
        last = self._store.last_seq(row.thread_id)
        start = 0
        if params.after_cursor is not None:
            start = cursors.decode(params.after_cursor, self._store.epoch, row.thread_id, last)
        page = self._store.events(row.thread_id, start, params.limit or 100)
        events = [
            {
                "cursor": cursors.encode(self._store.epoch, row.thread_id, seq),
                "method": method,
                "params": json.loads(params_json),
            }
            for seq, method, params_json in page
        ]
        at_end = not page or page[-1][0] >= last
        next_cursor = None if at_end else events[-1]["cursor"]
        return {"events": events, "nextCursor": next_cursor, "truncated": False}, None

    async def thread_read(self, conn: Connection, params: p.ThreadReadParams) -> Reply:
        """``thread/read``: the snapshot, without subscribing."""
        self._thread(params.thread_id)
        snapshot = self._snapshot(params.thread_id, params.after_item_id, conn.experimental)
        return snapshot, None

    def _snapshot(
        self, thread_id: str, after_item_id: str | None, experimental: bool
    ) -> dict[str, Any]:
        row = self._thread(thread_id)
        items = self._store.items_json(thread_id, after_item_id)
        if not experimental:
            items = [body for body in items if _item_type(body) not in EXT_ITEM_TYPES]
        return {
            "thread": row.wire(),
            "turns": self._store.turns(thread_id),
            "items": rpc.RawJsonArray(items),
        }

    async def thread_list(self, conn: Connection, params: p.ThreadListParams) -> Reply:
        """``thread/list``: creation order; ``archived`` filters exactly, otherwise
        archived threads show only with ``includeArchived``."""
        archived = params.archived
        if archived is None and not params.include_archived:
            archived = False
        rows = self._store.threads(archived, params.offset or 0, params.limit)
        return {"threads": [row.wire() for row in rows]}, None

    async def thread_archive(self, conn: Connection, params: p.ThreadArchiveParams) -> Reply:
        """``thread/archive``: notifications go to the caller only."""
        row = self._thread(params.thread_id)
        thread_id = row.thread_id
        self._store.set_thread_status(thread_id, "archived", now(), archived=True)

        def announce() -> None:
            self._fanout.publish(
                thread_id, "thread/archived", {"threadId": thread_id, "archived": True}, only=conn
            )
            self._fanout.publish(
                thread_id,
                "thread/status/changed",
                {"threadId": thread_id, "status": "archived"},
                only=conn,
            )

        return {"threadId": thread_id, "archived": True}, announce

    async def thread_unsubscribe(
        self, conn: Connection, params: p.ThreadUnsubscribeParams
    ) -> Reply:
        """``thread/unsubscribe``: the owner leaving times its approvals out; a thread with
        no subscriber and no turn closes."""
        row = self._thread(params.thread_id)
        thread_id = row.thread_id
        nobody = self._fanout.unsubscribe(conn, thread_id)
        turn = self._runs.live.get(thread_id)
        if turn is not None and turn.owner is conn:
            self._delivery.time_out_approvals(turn, "owner unsubscribed")
        closed = nobody and turn is None and row.archived_at is None
        if not closed:
            return {"threadId": thread_id, "subscribed": False, "closed": False}, None
        self._store.set_thread_status(thread_id, "closed", now())

        def announce() -> None:
            self._fanout.publish(thread_id, "thread/closed", {"threadId": thread_id}, only=conn)
            self._fanout.publish(
                thread_id,
                "thread/status/changed",
                {"threadId": thread_id, "status": "closed"},
                only=conn,
            )

        return {"threadId": thread_id, "subscribed": False, "closed": True}, announce

    def disconnect(self, conn: Connection) -> None:
        """Forget a connection's subscriptions."""
        self._fanout.disconnect(conn)
