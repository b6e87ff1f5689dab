"""What a live turn's emissions become: notifications persisted and sent (``_fanout``), and
approvals asked of the turn's owner and answered into its run (``RunHandle.approve``).
Whatever happens, every approval ends with ``approval/resolved``."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from agentcycle.app_server import _jsonrpc as rpc
from agentcycle.app_server._approvals import OpenApproval, read_answer, timed_out
from agentcycle.app_server._fanout import Fanout
from agentcycle.app_server._live_turn import LiveTurn
from agentcycle.app_server._projection import ApprovalNote, Emission
from agentcycle.app_server._store import Store, now
from agentcycle.runtime.approval_rules import ApprovalRule, ApprovalRules


class Delivery:
    """Delivers live turns' emissions and keeps their approvals (see the module docstring)."""

    def __init__(self, store: Store, fanout: Fanout, approval_timeout: float) -> None:
        self._store = store
        self.fanout = fanout
        self._approval_timeout = approval_timeout
        self._session_rules: dict[str, ApprovalRules] = {}
        """Per thread: a rule for each tool its owner allowed with ``allow_session``."""

    def deliver(self, turn: LiveTurn, emission: Emission) -> None:
        """Persist and send one emission of ``turn``, asking its owner for an approval."""
        if self._approved_for_session(turn, emission):
            return  # the thread skips approval for this tool: nothing to show or answer
        if emission.server_request:
            self.ask_owner(turn, emission.params)
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
        self.fanout.publish(
            turn.thread_id, emission.method, params, emission.item, ext=ext, ext_only=emission.ext
        )

    @staticmethod
    def _approved_for_session(turn: LiveTurn, emission: Emission) -> bool:
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

    def ask_owner(self, turn: LiveTurn, params: dict[str, Any]) -> None:
        """Send ``approval/request`` to the turn's owner, if it still listens."""
        request_id = params["requestId"]
        if request_id not in turn.open_approvals or request_id in turn.answered:
            return
        owner = turn.owner
        if owner.closed or not self.fanout.is_subscribed(owner, turn.thread_id):
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
            self.decide(turn, request_id, decision, reason, metadata)

        if owner.experimental:
            params = {**params, "expiresAt": turn.open_approvals[request_id].expires_at}
        owner.request(request_id, "approval/request", params, on_answer)

    def decide(
        self,
        turn: LiveTurn,
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
            self.rules(turn.thread_id).add(ApprovalRule(tool, "allow_session"))
        # KeyError: the run stopped waiting (its own timeout, or it ended); its events say how.
        with contextlib.suppress(KeyError):
            turn.handle.approve(
                turn.open_approvals[request_id].run_request_id,
                ApprovalDecision(ApprovalAction(decision), reason or None),
            )

    def rules(self, thread_id: str) -> ApprovalRules:
        """The thread's ``allow_session`` rules, shared by its turns."""
        rules = self._session_rules.get(thread_id)
        if rules is None:
            rules = self._session_rules[thread_id] = ApprovalRules([])
        return rules

    def resolve_leftovers(self, turn: LiveTurn, reason: str) -> None:
        """End the approvals the run leaves open with ``timeout`` (§9.2): every
        ``approval/requested`` gets its ``item/completed`` and ``approval/resolved``."""
        for request_id, approval in list(turn.open_approvals.items()):
            note = turn.notes.get(request_id) or ApprovalNote(reason)
            for emission in timed_out(approval.params, note, now()):
                self.deliver(turn, emission)

    def time_out_approvals(self, turn: LiveTurn, reason: str) -> None:
        """Answer every approval of ``turn`` not answered yet with ``timeout``."""
        for request_id in list(turn.open_approvals):
            if request_id not in turn.answered:
                self.decide(turn, request_id, "timeout", reason)
