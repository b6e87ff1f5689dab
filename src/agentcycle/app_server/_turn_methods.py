"""The handlers of the turn and approval methods: ``turn/start``, ``turn/steer``,
``turn/followUp``, ``turn/interrupt``, ``turn/resume`` and ``approval/resolve``."""

from __future__ import annotations

from typing import Any

from agentcycle.app_server import _jsonrpc as rpc
from agentcycle.app_server import protocol as p
from agentcycle.app_server._connection import Connection
from agentcycle.app_server._jsonrpc import Reply
from agentcycle.app_server._live_turn import LiveTurn, input_text
from agentcycle.app_server._resume import checkpoint_summary, replay, replay_pruned
from agentcycle.app_server._runtime import TurnLauncher
from agentcycle.app_server._store import Store
from agentcycle.app_server._threads import require_thread
from agentcycle.app_server._turn_runs import TurnRuns
from agentcycle.errors import CrashLoop, RunLeaseHeld, RunNotFound

MAX_CHECKPOINT_KEY_BYTES = 512


class TurnService:
    """The turn and approval methods (see the module docstring)."""

    def __init__(self, store: Store, launcher: TurnLauncher, runs: TurnRuns) -> None:
        self._store = store
        self._launcher = launcher
        self._runs = runs
        self._delivery = runs.delivery

    def _active(self, thread_id: str, expected_turn_id: str | None) -> LiveTurn:
        row = require_thread(self._store, thread_id)
        if row.archived_at is not None:
            raise rpc.RpcError(rpc.THREAD_ARCHIVED, "Thread archived")
        turn = self._runs.live.get(thread_id)
        if turn is None:
            raise rpc.RpcError(rpc.ACTIVE_TURN_NOT_FOUND, "Active turn not found")
        if expected_turn_id is not None and expected_turn_id != turn.turn_id:
            raise rpc.RpcError(rpc.TURN_ID_MISMATCH, "Turn id mismatch")
        return turn

    async def turn_start(self, conn: Connection, params: p.TurnStartParams) -> Reply:
        """``turn/start``: returns once the run is launched."""
        row = require_thread(self._store, params.thread_id)
        if row.archived_at is not None:
            raise rpc.RpcError(rpc.THREAD_ARCHIVED, "Thread archived")
        turn = await self._runs.launch(conn, row, params.input or [])
        result = {"threadId": row.thread_id, "turnId": turn.turn_id, "status": "running"}
        return result, lambda: self._runs.announce(turn)

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
        self._runs.cancel(turn, params.reason or "Turn cancelled")
        result = {"threadId": turn.thread_id, "turnId": turn.turn_id, "cancelled": True}
        return result, lambda: self._delivery.resolve_leftovers(turn, "turn interrupted")

    async def turn_resume(self, conn: Connection, params: p.TurnResumeParams) -> Reply:
        """``turn/resume``: continue a turn's durable run from its checkpoint (the key is the
        turn's ``runId``). Started: the run goes on here and the turn is announced again;
        existing owner (this server runs it, or a live process holds its lease): its run id
        and checkpoint, no notification; terminal replay (the run ended, or waits for a
        reconciliation): the run's stored end, no notification."""
        for name in ("thread_id", "turn_id", "checkpoint_key"):
            if not getattr(params, name):
                raise rpc.invalid_params(f"turn/resume: {name} must not be empty")
        if len(params.checkpoint_key.encode()) > MAX_CHECKPOINT_KEY_BYTES:
            raise rpc.invalid_params("turn/resume: checkpointKey is longer than 512 bytes")
        row = require_thread(self._store, params.thread_id)
        turn_id = params.turn_id
        stored = next((t for t in self._store.turns(row.thread_id) if t["turnId"] == turn_id), None)
        if stored is None:
            raise rpc.invalid_params(f"turn/resume: unknown turn {turn_id!r}")
        run_id = stored["runId"]
        if run_id is None or run_id != params.checkpoint_key:
            raise rpc.invalid_params(f"turn/resume: unknown checkpoint {params.checkpoint_key!r}")
        try:
            status = self._launcher.checkpoint(run_id)
        except RunNotFound:
            status = None  # pruned while it was read (the turn's end prunes in the background)
        if status is None:
            return self._replay_pruned(row.thread_id, stored, run_id), None
        scope = {"threadId": row.thread_id, "turnId": turn_id, "runId": run_id}
        active = self._runs.live.get(row.thread_id)
        if active is not None and active.turn_id == turn_id:
            return {**scope, "status": "running", "checkpoint": checkpoint_summary(status)}, None
        if status["log_status"] == "terminal" or status["waiting_for"] == "reconciliation":
            # A run waiting for a reconciliation cannot go on here (the protocol has no way
            # to say what the call did): its turn ended interrupted, and that is the answer.
            try:
                return replay(self._store, self._launcher, row.thread_id, stored, status), None
            except RunNotFound:  # pruned meanwhile: the turn kept what the answer needs
                return self._replay_pruned(row.thread_id, stored, run_id), None
        if status["log_status"] == "waiting":
            raise rpc.invalid_params(
                f"turn/resume: {turn_id} is not resumable: its run waits for "
                f"{status['waiting_for'] or 'the user'}"
            )
        if row.archived_at is not None:
            raise rpc.RpcError(rpc.THREAD_ARCHIVED, "Thread archived")
        try:
            turn = await self._runs.resume(conn, row, turn_id, run_id)
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
        self._delivery.fanout.subscribe(conn, row.thread_id)
        status = self._launcher.checkpoint(run_id) or status
        result = {**scope, "status": "running", "checkpoint": checkpoint_summary(status)}
        return result, lambda: self._runs.announce(turn)

    def _replay_pruned(self, thread_id: str, stored: dict[str, Any], run_id: str) -> dict[str, Any]:
        """The terminal replay of a turn whose run's log is gone: from the checkpoint the turn
        kept when its log was pruned (none kept: the checkpoint was never this server's)."""
        kept = self._store.kept_checkpoint(stored["turnId"])
        if kept is None:
            raise rpc.invalid_params(f"turn/resume: unknown checkpoint {run_id!r}")
        return replay_pruned(thread_id, stored, kept)

    async def approval_resolve(self, conn: Connection, params: p.ApprovalResolveParams) -> Reply:
        """``approval/resolve``: the request-style answer to ``approval/request``."""
        require_thread(self._store, params.thread_id)
        turn = self._runs.live.get(params.thread_id)
        request_id = params.request_id
        if (
            turn is None
            or turn.turn_id != params.turn_id
            or request_id not in turn.open_approvals
            or request_id in turn.answered
        ):
            raise rpc.invalid_params("Unknown approval request")
        self._delivery.decide(
            turn, request_id, params.decision, params.reason or "", params.metadata
        )
        return {}, None
