"""Threads and turns: the handlers of the thread, turn and approval methods and the live
turns.

A turn is one run started through ``TurnLauncher``; its notifications are projected from the
run's event stream (``_projection``), persisted, then sent (``_fanout``). Approvals are
answered into ``RunHandle.approve``; whatever happens, every approval ends with
``approval/resolved``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentcycle.app_server import _cursors as cursors
from agentcycle.app_server import _jsonrpc as rpc
from agentcycle.app_server import protocol as p
from agentcycle.app_server._approvals import OpenApproval, SessionApprovals, read_answer, timed_out
from agentcycle.app_server._artifacts import ArtifactDirectory
from agentcycle.app_server._connection import Connection
from agentcycle.app_server._fanout import Fanout
from agentcycle.app_server._projection import (
    EXT_ITEM_TYPES,
    ApprovalNote,
    Emission,
    TurnEnd,
    TurnProjector,
)
from agentcycle.app_server._resume import checkpoint_summary, replay
from agentcycle.app_server._runtime import TurnLauncher
from agentcycle.app_server._store import Store, ThreadRow, now
from agentcycle.errors import CrashLoop, RunLeaseHeld
from agentcycle.runtime.approval_rules import ApprovalRule, ApprovalRules

if TYPE_CHECKING:
    from agentcycle.events import RunEvent
    from agentcycle.handle import RunHandle

Reply = tuple[Any, Callable[[], None] | None]
"""A handler's result and what to do once the response is written (notifications that must
follow it)."""

MAX_CHECKPOINT_KEY_BYTES = 512

_PUMP_SLICE = 64
"""Events a turn projects before it lets other tasks run."""


@dataclass(eq=False, slots=True)
class _Turn:
    """A running turn."""

    thread_id: str
    turn_id: str
    owner: Connection
    handle: RunHandle
    projector: TurnProjector
    approvals: SessionApprovals
    open_approvals: dict[str, OpenApproval] = field(default_factory=dict)
    """By protocol request id, from ``approval/requested`` until ``approval/resolved``."""
    answered: set[str] = field(default_factory=set)
    """Open requests the server already answered into the run (a second answer is refused)."""
    notes: dict[str, ApprovalNote] = field(default_factory=dict)
    """The reason and metadata of each answer, for the ``approval/resolved`` that follows."""
    follow_ups: list[list[dict[str, Any]]] = field(default_factory=list)
    backlog: list[RunEvent] = field(default_factory=list)
    """A resumed turn's events logged before the resume: projected first, so the items a
    killed server never stored are stored and sent once (``_catch_up``)."""
    task: asyncio.Task[None] | None = None
    cancelling: asyncio.Task[None] | None = None


def _item_type(body: str) -> str:
    """A stored item's ``type``, read from its JSON text without parsing it all (``type``
    comes before ``payload``, and a quote inside an id is escaped)."""
    start = body.find('"type":"') + 8
    return body[start : body.find('"', start)]


def input_text(items: list[dict[str, Any]]) -> str:
    """The run input of a turn: the ``text`` of its text items joined by newlines."""
    return "\n".join(
        item["text"]
        for item in items
        if item.get("type") == "text" and isinstance(item.get("text"), str)
    )


class ThreadService:
    """The thread, turn and approval methods (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        launcher: TurnLauncher,
        artifacts: ArtifactDirectory,
        approval_timeout: float,
    ) -> None:
        self._store = store
        self._approval_timeout = approval_timeout
        self._launcher = launcher
        self._fanout = Fanout(store, artifacts)
        self._turns: dict[str, _Turn] = {}
        self._launching: set[str] = set()
        self._pumped = 0
        self._session_rules: dict[str, ApprovalRules] = {}
        """Per thread: a rule for each tool its owner allowed with ``allow_session``."""

    # ------------------------------------------------------------------ delivery

    def _deliver(self, turn: _Turn, emission: Emission) -> None:
        if self._approved_for_session(turn, emission):
            return  # the thread skips approval for this tool: nothing to show or answer
        if emission.server_request:
            self._ask_owner(turn, emission.params)
            return
        params = emission.params
        item = emission.item
        if (
            item is not None
            and item["type"] == "approval"
            and item["status"] == "completed"
            and item["payload"]["requestId"] not in turn.open_approvals
        ):
            return  # the server resolved it already (interrupt, shutdown)
        ext = None
        if emission.method == "approval/requested":
            request_id = params["requestId"]
            run_request_id = turn.projector.run_request_id(request_id) or request_id
            expires_at = now() + self._approval_timeout
            turn.open_approvals[request_id] = OpenApproval(run_request_id, params, expires_at)
            self._store.add_approval(request_id, turn.thread_id, turn.turn_id, now())
            ext = {"expiresAt": expires_at}
        elif emission.method == "approval/resolved":
            request_id = params["requestId"]
            if request_id not in turn.open_approvals:
                return  # the server resolved it already (interrupt, shutdown)
            del turn.open_approvals[request_id]
            turn.answered.discard(request_id)
            self._store.resolve_approval(
                request_id, params["decision"], params.get("reason", ""), now()
            )
        self._fanout.publish(
            turn.thread_id, emission.method, params, emission.item, ext=ext, ext_only=emission.ext
        )

    @staticmethod
    def _approved_for_session(turn: _Turn, emission: Emission) -> bool:
        if not turn.approvals.decided:
            return False
        item = emission.item
        if item is not None:
            request_id = item["payload"].get("requestId") if item["type"] == "approval" else None
        else:
            request_id = emission.params.get("requestId")
        if request_id is None:
            return False
        return turn.projector.run_request_id(request_id) in turn.approvals.decided

    def _ask_owner(self, turn: _Turn, params: dict[str, Any]) -> None:
        request_id = params["requestId"]
        if request_id not in turn.open_approvals or request_id in turn.answered:
            return
        owner = turn.owner
        if owner.closed or not self._fanout.is_subscribed(owner, turn.thread_id):
            return  # nobody to ask: the run's approval timeout decides

        def on_answer(message: rpc.Response | None) -> None:
            if request_id not in turn.open_approvals or request_id in turn.answered:
                if message is not None:
                    print(
                        f"agentcycle app-server: late answer to {request_id} ignored",
                        file=sys.stderr,
                    )
                return
            decision, reason, metadata = read_answer(message)
            self._decide(turn, request_id, decision, reason, metadata)

        if owner.experimental:
            params = {**params, "expiresAt": turn.open_approvals[request_id].expires_at}
        owner.request(request_id, "approval/request", params, on_answer)

    def _decide(
        self,
        turn: _Turn,
        request_id: str,
        decision: str,
        reason: str,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Answer an open approval into the run."""
        from agentcycle.runtime.approvals import ApprovalAction, ApprovalDecision

        turn.answered.add(request_id)
        turn.notes[request_id] = ApprovalNote(reason, metadata or {})
        if decision == "allow_session":
            tool = turn.open_approvals[request_id].params["toolName"]
            self._rules(turn.thread_id).add(ApprovalRule(tool, "allow_session"))
        # KeyError: the run stopped waiting (its own timeout, or it ended); its events say how.
        with contextlib.suppress(KeyError):
            turn.handle.approve(
                turn.open_approvals[request_id].run_request_id,
                ApprovalDecision(ApprovalAction(decision), reason or None),
            )

    def _rules(self, thread_id: str) -> ApprovalRules:
        rules = self._session_rules.get(thread_id)
        if rules is None:
            rules = self._session_rules[thread_id] = ApprovalRules([])
        return rules

    # ------------------------------------------------------------------ thread methods

    def _thread(self, thread_id: str) -> ThreadRow:
        row = self._store.thread(thread_id)
        if row is None:
            raise rpc.thread_not_found()
        return row

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
            status = "running" if row.thread_id in self._turns else "idle"
            self._store.set_thread_status(row.thread_id, status, now())
        snapshot = self._snapshot(row.thread_id, None, conn.experimental)
        turn = self._turns.get(row.thread_id)

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
                    self._ask_owner(turn, approval.params)

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
        turn = self._turns.get(thread_id)
        if turn is not None and turn.owner is conn:
            self._time_out_approvals(turn, "owner unsubscribed")
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

    # ------------------------------------------------------------------ turn methods

    def _active(self, thread_id: str, expected_turn_id: str | None) -> _Turn:
        row = self._thread(thread_id)
        if row.archived_at is not None:
            raise rpc.RpcError(rpc.THREAD_ARCHIVED, "Thread archived")
        turn = self._turns.get(thread_id)
        if turn is None:
            raise rpc.RpcError(rpc.ACTIVE_TURN_NOT_FOUND, "Active turn not found")
        if expected_turn_id is not None and expected_turn_id != turn.turn_id:
            raise rpc.RpcError(rpc.TURN_ID_MISMATCH, "Turn id mismatch")
        return turn

    async def turn_start(self, conn: Connection, params: p.TurnStartParams) -> Reply:
        """``turn/start``: returns once the run is launched."""
        row = self._thread(params.thread_id)
        if row.archived_at is not None:
            raise rpc.RpcError(rpc.THREAD_ARCHIVED, "Thread archived")
        turn = await self._launch(conn, row, params.input or [])
        result = {"threadId": row.thread_id, "turnId": turn.turn_id, "status": "running"}
        return result, lambda: self._announce(turn)

    async def _launch(
        self, owner: Connection, row: ThreadRow, items: list[dict[str, Any]]
    ) -> _Turn:
        """Start a turn's run. The thread counts as busy from here on (``_launching``), so a
        follow-up and a ``turn/start`` racing for it cannot both start one."""
        thread_id = row.thread_id
        if thread_id in self._turns or thread_id in self._launching:
            raise rpc.invalid_params("Thread already has an active turn")
        self._launching.add(thread_id)
        turn_id = self._store.create_turn(thread_id, items, now())
        try:
            approvals = SessionApprovals(self._rules(thread_id))
            handle = await self._launcher.launch(thread_id, row.cwd, input_text(items), approvals)
        except Exception as exc:
            self._store.delete_turn(turn_id)
            self._store.set_thread_status(thread_id, row.status, now())
            raise rpc.RpcError(rpc.INTERNAL_ERROR, f"Could not start the turn: {exc}") from exc
        finally:
            self._launching.discard(thread_id)
        self._store.set_turn_run(turn_id, handle.run_id)
        notes: dict[str, ApprovalNote] = {}
        projector = TurnProjector(row.thread_id, turn_id, notes.get)
        turn = _Turn(row.thread_id, turn_id, owner, handle, projector, approvals, notes=notes)
        self._turns[row.thread_id] = turn
        return turn

    def _announce(self, turn: _Turn) -> None:
        thread_id = turn.thread_id
        self._fanout.publish(
            thread_id, "thread/status/changed", {"threadId": thread_id, "status": "running"}
        )
        started = {
            "threadId": thread_id,
            "turnId": turn.turn_id,
            "runId": turn.handle.run_id,
            "status": "running",
        }
        self._fanout.publish(thread_id, "turn/started", started)
        turn.task = asyncio.get_running_loop().create_task(self._pump(turn))

    def _catch_up(self, turn: _Turn) -> None:
        """Project a resumed turn's logged events: their token usage counts, and the items
        the thread lacks are stored and sent. Approvals are left out: the restart resolved
        the ones that were pending, and their run ids no longer reach a live run."""
        for event in turn.backlog:
            emissions, _end = turn.projector.project(event)
            for emission in emissions:
                item = emission.item
                if (
                    item is None
                    or item["type"] == "approval"
                    or self._store.has_item(turn.thread_id, item["itemId"])
                ):
                    continue
                self._fanout.publish(turn.thread_id, emission.method, emission.params, item)
        turn.backlog.clear()

    async def _pump(self, turn: _Turn) -> None:
        end: TurnEnd | None = None
        self._catch_up(turn)
        try:
            async for event in turn.handle.events():
                emissions, finished = turn.projector.project(event)
                for emission in emissions:
                    self._deliver(turn, emission)
                if finished is not None:
                    end = finished
                self._pumped += 1
                if self._pumped % _PUMP_SLICE == 0:
                    # A burst of buffered events never suspends this loop by itself: let
                    # the WebSocket writers drain their bounded queues in between.
                    await asyncio.sleep(0)
        except Exception as exc:  # the stream broke: the turn still ends, and says why
            print(
                f"agentcycle app-server: event stream of {turn.turn_id} failed: {exc!r}",
                file=sys.stderr,
            )
        if end is None:
            message = "Turn failed: the run's event stream ended without a terminal event"
            self._fanout.publish(
                turn.thread_id, "error/warning", {"message": message, "code": "event_stream"}
            )
            end = TurnEnd("failed", {"completionReason": "failed", "error": message})
        await self._finish(turn, end)

    async def _finish(self, turn: _Turn, end: TurnEnd) -> None:
        thread_id = turn.thread_id
        self._resolve_leftovers(turn, "turn ended")
        result = {key: value for key, value in end.fields.items() if key != "runId"}
        self._store.finish_turn(turn.turn_id, end.status, result, now())
        del self._turns[thread_id]
        row = self._store.thread(thread_id)
        if row is not None and row.status == "running":
            self._store.set_thread_status(thread_id, "idle", now())
            self._fanout.publish(
                thread_id, "thread/status/changed", {"threadId": thread_id, "status": "idle"}
            )
        completed = {"threadId": thread_id, "turnId": turn.turn_id, "status": end.status}
        completed.update(end.fields)
        self._fanout.publish(thread_id, "turn/completed", completed)
        try:
            await turn.handle.release_model_clients()
        except Exception as exc:  # closing an HTTP client must not hide the turn's end
            print(f"agentcycle app-server: closing model clients failed: {exc!r}", file=sys.stderr)
        self._follow_up(turn, end, row)

    def _follow_up(self, turn: _Turn, end: TurnEnd, row: ThreadRow | None) -> None:
        if not turn.follow_ups:
            return
        if end.status != "completed" or row is None or row.archived_at is not None:
            for _ in turn.follow_ups:
                self._fanout.publish(
                    turn.thread_id,
                    "error/warning",
                    {
                        "message": f"Follow-up dropped: {turn.turn_id} ended {end.status}",
                        "code": "follow_up",
                    },
                )
            return
        first, *rest = turn.follow_ups

        async def start_next() -> None:
            latest = self._store.thread(turn.thread_id)
            if latest is None:
                return
            try:
                successor = await self._launch(turn.owner, latest, first)
            except rpc.RpcError as exc:
                self._fanout.publish(
                    turn.thread_id, "error/warning", {"message": exc.message, "code": "follow_up"}
                )
                return
            successor.follow_ups.extend(rest)
            self._announce(successor)

        asyncio.get_running_loop().create_task(start_next())

    def _resolve_leftovers(self, turn: _Turn, reason: str) -> None:
        """End the approvals the run leaves open with ``timeout`` (§9.2): every
        ``approval/requested`` gets its ``item/completed`` and ``approval/resolved``."""
        for request_id, approval in list(turn.open_approvals.items()):
            note = turn.notes.get(request_id) or ApprovalNote(reason)
            for emission in timed_out(approval.params, note, now()):
                self._deliver(turn, emission)

    def _time_out_approvals(self, turn: _Turn, reason: str) -> None:
        for request_id in list(turn.open_approvals):
            if request_id not in turn.answered:
                self._decide(turn, request_id, "timeout", reason)

    async def turn_steer(self, conn: Connection, params: p.TurnSteerParams) -> Reply:
        """``turn/steer``: the text reaches the model before its next call."""
        turn = self._active(params.thread_id, params.expected_turn_id)
        text = input_text(params.input or [])
        if not text.strip():
            raise rpc.invalid_params("turn/steer needs text input")
        turn.handle.steer(text)
        return {"threadId": turn.thread_id, "turnId": turn.turn_id, "queued": True}, None

    async def turn_follow_up(self, conn: Connection, params: p.TurnFollowUpParams) -> Reply:
        """``turn/followUp``: a new turn once this one completes."""
        turn = self._active(params.thread_id, params.expected_turn_id)
        turn.follow_ups.append(list(params.input or []))
        return {"threadId": turn.thread_id, "turnId": turn.turn_id, "queued": True}, None

    async def turn_interrupt(self, conn: Connection, params: p.TurnInterruptParams) -> Reply:
        """``turn/interrupt``: pending approvals time out, the run is cancelled; the turn
        ends later with ``turn/completed``."""
        turn = self._active(params.thread_id, params.expected_turn_id)
        self._cancel(turn, params.reason or "Turn cancelled")
        result = {"threadId": turn.thread_id, "turnId": turn.turn_id, "cancelled": True}
        return result, lambda: self._resolve_leftovers(turn, "turn interrupted")

    def _cancel(self, turn: _Turn, reason: str) -> None:
        """Cancel the turn's run. Its open approvals must then be timed out by the server:
        a run cancelled while it waits reports no decision for them."""
        if turn.cancelling is None:
            # Scheduled before anything wakes the run, so the run cannot take another step.
            turn.cancelling = asyncio.get_running_loop().create_task(turn.handle.cancel(reason))

    async def turn_resume(self, conn: Connection, params: p.TurnResumeParams) -> Reply:
        """``turn/resume``: continue a turn's durable run from its checkpoint (the key is the
        turn's ``runId``). Started: the run goes on here and the turn is announced again;
        existing owner (this server runs it, or a live process holds its lease): its run id
        and checkpoint, no notification; terminal replay: the run's stored end, no
        notification."""
        for name in ("thread_id", "turn_id", "checkpoint_key"):
            if not getattr(params, name):
                raise rpc.invalid_params(f"turn/resume: {name} must not be empty")
        if len(params.checkpoint_key.encode()) > MAX_CHECKPOINT_KEY_BYTES:
            raise rpc.invalid_params("turn/resume: checkpointKey is longer than 512 bytes")
        row = self._thread(params.thread_id)
        turn_id = params.turn_id
        stored = next((t for t in self._store.turns(row.thread_id) if t["turnId"] == turn_id), None)
        if stored is None:
            raise rpc.invalid_params(f"turn/resume: unknown turn {turn_id!r}")
        run_id = stored["runId"]
        status = self._launcher.checkpoint(run_id) if run_id == params.checkpoint_key else None
        if status is None:
            raise rpc.invalid_params(f"turn/resume: unknown checkpoint {params.checkpoint_key!r}")
        scope = {"threadId": row.thread_id, "turnId": turn_id, "runId": run_id}
        active = self._turns.get(row.thread_id)
        if active is not None and active.turn_id == turn_id:
            return {**scope, "status": "running", "checkpoint": checkpoint_summary(status)}, None
        if status["log_status"] == "terminal":
            return replay(self._store, self._launcher, row.thread_id, stored, status), None
        if status["log_status"] == "waiting":
            raise rpc.invalid_params(
                f"turn/resume: {turn_id} is not resumable: its run waits for "
                f"{status['waiting_for'] or 'the user'}"
            )
        if row.archived_at is not None:
            raise rpc.RpcError(rpc.THREAD_ARCHIVED, "Thread archived")
        try:
            turn = await self._resume(conn, row, turn_id, run_id)
        except RunLeaseHeld:
            status = self._launcher.checkpoint(run_id) or status
            return {**scope, "status": "running", "checkpoint": checkpoint_summary(status)}, None
        except CrashLoop:  # the run failed instead of being taken over once more
            return replay(
                self._store,
                self._launcher,
                row.thread_id,
                stored,
                self._launcher.checkpoint(run_id),
            ), None
        # The caller owns the resumed turn (its approvals are asked of it): it hears it.
        self._fanout.subscribe(conn, row.thread_id)
        status = self._launcher.checkpoint(run_id) or status
        result = {**scope, "status": "running", "checkpoint": checkpoint_summary(status)}
        return result, lambda: self._announce(turn)

    async def _resume(self, owner: Connection, row: ThreadRow, turn_id: str, run_id: str) -> _Turn:
        """Continue ``run_id`` (waiting out a dead server's lease) as turn ``turn_id``, which
        runs again."""
        thread_id = row.thread_id
        if thread_id in self._turns or thread_id in self._launching:
            raise rpc.invalid_params("Thread already has an active turn")
        self._launching.add(thread_id)
        try:
            backlog = list(self._launcher.run_events(run_id))
            approvals = SessionApprovals(self._rules(thread_id))
            handle = await self._launcher.resume(thread_id, row.cwd, run_id, approvals)
        except (RunLeaseHeld, CrashLoop):
            raise
        except Exception as exc:
            raise rpc.RpcError(rpc.INTERNAL_ERROR, f"Could not resume the turn: {exc}") from exc
        finally:
            self._launching.discard(thread_id)
        self._store.reopen_turn(turn_id, thread_id, now())
        notes: dict[str, ApprovalNote] = {}
        projector = TurnProjector(thread_id, turn_id, notes.get)
        turn = _Turn(thread_id, turn_id, owner, handle, projector, approvals, notes=notes)
        turn.backlog = backlog
        self._turns[thread_id] = turn
        return turn

    async def approval_resolve(self, conn: Connection, params: p.ApprovalResolveParams) -> Reply:
        """``approval/resolve``: the request-style answer to ``approval/request``."""
        self._thread(params.thread_id)
        turn = self._turns.get(params.thread_id)
        request_id = params.request_id
        if (
            turn is None
            or turn.turn_id != params.turn_id
            or request_id not in turn.open_approvals
            or request_id in turn.answered
        ):
            raise rpc.invalid_params("Unknown approval request")
        self._decide(turn, request_id, params.decision, params.reason or "", params.metadata)
        return {}, None

    # ------------------------------------------------------------------ lifecycle

    def disconnect(self, conn: Connection) -> None:
        """Forget a connection's subscriptions."""
        self._fanout.disconnect(conn)

    async def shutdown(self) -> None:
        """Cancel every turn (approvals time out with ``server shutdown``) and wait for the
        turns to end."""
        for turn in list(self._turns.values()):
            self._cancel(turn, "server shutdown")
            self._resolve_leftovers(turn, "server shutdown")
        while self._turns:
            tasks = [t.task for t in self._turns.values() if t.task is not None]
            if not tasks:
                break
            await asyncio.wait(tasks)
