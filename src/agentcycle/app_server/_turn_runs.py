"""The runs behind live turns: launching or resuming one, pumping its event stream through
the projector (``_projection``) into ``Delivery``, and ending the turn when the run ends
(follow-ups start then)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

from agentcycle.app_server import _jsonrpc as rpc
from agentcycle.app_server._approvals import SessionApprovals
from agentcycle.app_server._connection import Connection
from agentcycle.app_server._delivery import Delivery
from agentcycle.app_server._live_turn import LiveTurn, input_text
from agentcycle.app_server._projection import (
    ApprovalNote,
    TurnEnd,
    TurnProjector,
    open_tool_calls,
)
from agentcycle.app_server._resume import delete_log, reconciliation_fields, retire
from agentcycle.app_server._runtime import TurnLauncher
from agentcycle.app_server._store import Store, ThreadRow, now
from agentcycle.errors import CrashLoop, RunLeaseHeld, RunNotFound

_PUMP_SLICE = 64
"""Events a turn projects before it lets other tasks run."""


class TurnRuns:
    """The live turns, one per thread at most, and their runs (see the module docstring)."""

    def __init__(self, store: Store, launcher: TurnLauncher, delivery: Delivery) -> None:
        self._store = store
        self._launcher = launcher
        self.delivery = delivery
        self._fanout = delivery.fanout
        self.live: dict[str, LiveTurn] = {}
        """By thread id."""
        self._launching: set[str] = set()
        self._pumped = 0
        self._pruning: set[asyncio.Task[None]] = set()
        """Ended turns' runs whose logs are being deleted (``shutdown`` waits for them)."""

    def _claim(self, thread_id: str) -> None:
        """Count the thread as busy from here on, so a follow-up and a ``turn/start`` racing
        for it cannot both start a run."""
        if thread_id in self.live or thread_id in self._launching:
            raise rpc.invalid_params("Thread already has an active turn")
        self._launching.add(thread_id)

    async def launch(
        self, owner: Connection, row: ThreadRow, items: list[dict[str, Any]]
    ) -> LiveTurn:
        """Start a turn's run for ``items``."""
        thread_id = row.thread_id
        self._claim(thread_id)
        turn_id = self._store.create_turn(thread_id, items, now())
        try:
            approvals = SessionApprovals(self.delivery.rules(thread_id))
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
        turn = LiveTurn(row.thread_id, turn_id, owner, handle, projector, approvals, notes=notes)
        self.live[row.thread_id] = turn
        return turn

    async def resume(
        self, owner: Connection, row: ThreadRow, turn_id: str, run_id: str
    ) -> LiveTurn:
        """Continue ``run_id`` (waiting out a dead server's lease) as turn ``turn_id``, which
        runs again. Raises ``RunLeaseHeld`` (a live process owns the run) and ``CrashLoop``."""
        thread_id = row.thread_id
        self._claim(thread_id)
        try:
            backlog = list(self._launcher.run_events(run_id))
            approvals = SessionApprovals(self.delivery.rules(thread_id))
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
        turn = LiveTurn(thread_id, turn_id, owner, handle, projector, approvals, notes=notes)
        turn.backlog = backlog
        self.live[thread_id] = turn
        return turn

    def announce(self, turn: LiveTurn) -> None:
        """Send the turn's start and begin pumping its run's events."""
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

    def _catch_up(self, turn: LiveTurn) -> None:
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
        if turn.backlog:
            items = self._store.turn_items(turn.thread_id, turn.turn_id)
            still_open = open_tool_calls(items)
            turn.projector.keep_running(still_open)
        turn.backlog.clear()

    async def _pump(self, turn: LiveTurn) -> None:
        end: TurnEnd | None = None
        self._catch_up(turn)
        try:
            async for event in turn.handle.events():
                emissions, finished = turn.projector.project(event)
                for emission in emissions:
                    self.delivery.deliver(turn, emission)
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
        if end is not None:
            # The run's last record (``terminal`` or ``waiting``) follows its terminal event.
            with contextlib.suppress(Exception):  # its events said how it ended; that stands
                await turn.handle.result()
        else:
            message = "Turn failed: the run's event stream ended without a terminal event"
            self._fanout.publish(
                turn.thread_id, "error/warning", {"message": message, "code": "event_stream"}
            )
            end = TurnEnd("failed", {"completionReason": "failed", "error": message})
        await self._finish(turn, end)

    async def _finish(self, turn: LiveTurn, end: TurnEnd) -> None:
        thread_id = turn.thread_id
        run_id = turn.handle.run_id
        status = None
        if end.reconciliation:
            status = self._launcher.checkpoint(run_id)
            if status is not None:
                end = TurnEnd(end.status, {**end.fields, **reconciliation_fields(status)}, True)
        self.delivery.resolve_leftovers(turn, "turn ended")
        result = {key: value for key, value in end.fields.items() if key != "runId"}
        self._store.finish_turn(turn.turn_id, end.status, result, now())
        del self.live[thread_id]
        row = self._store.thread(thread_id)
        if row is not None and row.status == "running":
            self._store.set_thread_status(thread_id, "idle", now())
            self._fanout.publish(
                thread_id, "thread/status/changed", {"threadId": thread_id, "status": "idle"}
            )
        completed = {"threadId": thread_id, "turnId": turn.turn_id, "status": end.status}
        completed.update(end.fields)
        self._fanout.publish(thread_id, "turn/completed", completed)
        if status is None:  # a run waiting for a reconciliation keeps its log
            pruning = asyncio.get_running_loop().create_task(self._prune(turn.turn_id, run_id))
            self._pruning.add(pruning)
            pruning.add_done_callback(self._pruning.discard)
        try:
            await turn.handle.release_model_clients()
        except Exception as exc:  # closing an HTTP client must not hide the turn's end
            print(f"agentcycle app-server: closing model clients failed: {exc!r}", file=sys.stderr)
        self._follow_up(turn, end, row)

    async def _prune(self, turn_id: str, run_id: str) -> None:
        """Delete the run's log if it ended (``_resume.retire``). Folding and deleting a long
        log take a while: they run off the event loop, after ``turn/completed``."""
        try:
            status = await asyncio.to_thread(self._launcher.checkpoint, run_id)
        except RunNotFound:
            return  # a terminal replay of the turn pruned it meanwhile
        if status is not None and retire(self._store, turn_id, status):
            await asyncio.to_thread(delete_log, self._launcher, run_id)

    def _follow_up(self, turn: LiveTurn, end: TurnEnd, row: ThreadRow | None) -> None:
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
                successor = await self.launch(turn.owner, latest, first)
            except rpc.RpcError as exc:
                self._fanout.publish(
                    turn.thread_id, "error/warning", {"message": exc.message, "code": "follow_up"}
                )
                return
            successor.follow_ups.extend(rest)
            self.announce(successor)

        asyncio.get_running_loop().create_task(start_next())

    @staticmethod
    def cancel(turn: LiveTurn, reason: str) -> None:
        """Cancel the turn's run. Its open approvals must then be timed out by the server:
        a run cancelled while it waits reports no decision for them."""
        if turn.cancelling is None:
            # Scheduled before anything wakes the run, so the run cannot take another step.
            turn.cancelling = asyncio.get_running_loop().create_task(turn.handle.cancel(reason))

    async def shutdown(self) -> None:
        """Cancel every turn (approvals time out with ``server shutdown``) and wait for the
        turns to end."""
        for turn in list(self.live.values()):
            self.cancel(turn, "server shutdown")
            self.delivery.resolve_leftovers(turn, "server shutdown")
        while self.live:
            tasks = [t.task for t in self.live.values() if t.task is not None]
            if not tasks:
                break
            await asyncio.wait(tasks)
        if self._pruning:
            await asyncio.wait(set(self._pruning))
