"""The writer of a durable run's log, and its effect ledger (see ``runtime/durable.py``).

One ``DurableLog`` per run execution. It holds the run's lease (a ``RunLease``,
``_durable_lease.py``: the heartbeat and the cancel flag) and the next ``seq``, collects the
events the bus publishes, and appends them inside the next record, so an event is
durable exactly when the step it belongs to is. Writes are synchronous on the run's event
loop: the loop must wait for each write before it goes on anyway (a model answer is durable
before any tool with an effect runs), and handing the write to a thread costs several times
the write itself (~150 µs per call on the reference machine). A host that runs many durable
runs concurrently runs them with ``execution="thread"``, so each blocks only its own loop.

**Barriers.** A record is appended (a store round trip) only where the effect ledger needs it
durable before the run goes on; every other record waits for the next append and goes out in
its batch. Per cycle: the model's answer before the first call of a tool with an effect
(``idempotent`` or ``non_idempotent``: asking the model again would give new calls and new
idempotency keys), a ``non_idempotent`` call's intent before it runs and its result after,
and the commit. ``cycle_started``, ``model_intent`` and, for a ``non_idempotent`` call, the
answer ride with the first of those, so a cycle of ``read`` tools (or none) is one append, an
``idempotent`` one two and a ``non_idempotent`` one three. Step records
that go out in the same append as their cycle's commit are left out (the commit makes them
redundant), so a ``read`` cycle is a single record, its commit. A crash before
a cycle's first append re-runs the cycle: its model is asked again (counted nowhere: its
intent never became durable; a model call has no external effect) and its ``read`` tools run
again, which is what ``read`` promises is safe.

**Serialisation.** Payloads are serialised once, by pydantic's serializer (models, their
dumps and the events' wire objects, ``RunEvent.to_wire``, straight to JSON bytes, in the
models' field order), and the record's digest is over that text (``NewRecord.of_json``): no
canonical re-encoding.

Record keys are the documented ``record_keys``; a resumed cycle re-uses its durable records and
never writes a key twice (a re-made model call takes the next attempt number).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pydantic_core

from agentcycle.errors import (
    CheckpointStorageError,
    EffectNeedsReconciliation,
    Fenced,
    InvalidCheckpointRequest,
    LeaseLost,
    RunTerminated,
    SeqConflict,
)
from agentcycle.events import CheckpointCreated, EventOrigin, RunEvent, RunStatus, wire_identity
from agentcycle.messages import TokenUsage, ToolCall, ToolResult
from agentcycle.models.base import ModelResponse
from agentcycle.runtime._durable_drafts import (
    RESPONSE,
    Draft,
    Steps,
    ToolStateMark,
    result_draft,
    to_json,
)
from agentcycle.runtime._durable_fold import COUNTERS, EVENTS, ORIGIN, FoldedRun, PartialCycle
from agentcycle.runtime._durable_lease import RunLease
from agentcycle.runtime.crashpoints import crashpoint
from agentcycle.runtime.durable import Durability, ExecutionYielded, UnverifiedPolicy
from agentcycle.state import CycleRecord, RunState, RunToolState
from agentcycle.stores.checkpoints import CheckpointStore
from agentcycle.stores.run_records import NewRecord, RecordKind, record_keys
from agentcycle.tools.base import Tool
from agentcycle.tools.effects import EffectClass, effect_class_of, idempotency_key

if TYPE_CHECKING:
    from agentcycle.runtime.event_bus import EventBus
    from agentcycle.runtime.outcome import LoopOutcome

EFFECT_UNVERIFIED = "effect_unverified"
"""The error code of the notice a ``tell_model`` run gives the model for an unverified call."""

_WRITE_ATTEMPTS = 3


class DurableLog:
    """Appends one run's records under its lease and resolves its effects on resume.

    ``folded`` is the log read back for a resumed run (``None`` for a new one); its partial
    cycle is replayed: a durable model answer is not asked again, a durable tool result is
    not run again, and an intent without a result is resolved by the tool's effect class."""

    def __init__(
        self,
        store: CheckpointStore,
        state: RunState,
        tool_state: RunToolState,
        bus: EventBus,
        *,
        owner: str,
        epoch: int,
        next_seq: int,
        options: Durability,
        folded: FoldedRun | None = None,
        resolutions: dict[str, ToolResult | str] | None = None,
        owns_store: bool = False,
    ) -> None:
        self._store = store
        self._owns_store = owns_store
        self._state = state
        self._tool_state = tool_state
        self._bus = bus
        self._run_id = state.spec.run_id
        self._lease = RunLease(
            store,
            self._run_id,
            owner=owner,
            epoch=epoch,
            ttl_ms=max(1, int(options.lease_ttl * 1000)),
        )
        self._next = next_seq
        self._policy = UnverifiedPolicy(options.on_unverified)
        self._yield_after = options.yield_after
        self._cycles_run = 0
        self._partial: PartialCycle | None = folded.partial if folded is not None else None
        self._committed = folded.committed if folded is not None else len(state.cycles)
        self._counters = dict(folded.counters) if folded else dict.fromkeys(COUNTERS, 0)
        self._waits = dict(folded.waits) if folded is not None else {}
        self._resolutions = dict(resolutions or {})
        self._pending: list[RunEvent] = []
        self._steps: Steps | None = None
        """The cycle in progress's step records, until an append that does not commit the
        cycle writes them (the commit makes them redundant: a ``read`` cycle never builds
        them)."""
        self._deferred: list[Draft] = []
        self._running: dict[str, tuple[EffectClass, str]] = {}
        """Calls ``before`` let run, by id: their effect class and how they came to run."""
        self._tool_state_mark: ToolStateMark | None = None
        """The tools' state as the last record that carried it wrote it."""
        self._identity_of: EventOrigin | None = None
        self._identity_json: dict[str, Any] = {}
        bus.add_listener(self._pending.append)

    # ------------------------------------------------------------------ lease

    def start(
        self, on_cancel: Callable[[str], None], mark_cancelled: Callable[[str], None]
    ) -> None:
        """Start the lease's heartbeat (on the run's event loop). A cancel requested through
        the store (``request_cancel``, from any process) reaches ``on_cancel`` at the next
        renewal; before every model and tool call the store is asked too, and a pending cancel
        is ``mark_cancelled`` and raised there as ``CancelledError`` (the call never starts)."""
        self._lease.start(on_cancel, mark_cancelled)

    def stop_if_cancelled(self) -> None:
        """As the execution begins, after ``start``: a cancel requested while no process held
        the run (it waited for the user, an approval or a reconciliation, or its process died)
        ends it here, before anything is asked again (an approval, the model)."""
        self._lease.check_cancel()

    def _maybe_yield(self) -> None:
        """At a cycle boundary: give the run up when ``Durability.yield_after`` says so (the
        lease released, nothing more written) by raising ``ExecutionYielded``."""
        if self._yield_after is None or not self._yield_after(self._cycles_run):
            return
        self._lease.give_up()
        raise ExecutionYielded(self._run_id, self._cycles_run)

    def _close(self) -> None:
        """The execution is over: stop the heartbeat, close a store opened from a URL."""
        self._lease.stop()
        if self._owns_store:
            self._owns_store = False
            self._store.close()

    # ------------------------------------------------------------------ writing

    def _defer(self, *drafts: Draft) -> None:
        """Records that need not be durable before the run goes on (re-doing their step after
        a crash is harmless): they go out with the next append."""
        self._deferred.extend(drafts)

    def _append(self, *drafts: Draft) -> None:
        """Append the cycle's step records (unless ``drafts`` commit the cycle), the deferred
        records and ``drafts`` as one batch; the events published since the last append go
        into the last record. Losing the run (fenced, another writer's record at our seq)
        raises ``LeaseLost`` and nothing is written any more."""
        if self._lease.lost:
            raise LeaseLost(f"run {self._run_id}: this process no longer owns the run")
        if self._deferred:
            drafts = (*self._deferred, *drafts)
            self._deferred = []
        steps, self._steps = self._steps, None
        if steps is not None and not steps.committed_by(drafts):
            drafts = (*steps.drafts(), *drafts)  # the cycle's first records
        # The step that made them is the batch's last: a commit carries its checkpoint_created.
        if self._pending:
            origin = self._bus.origin
            payload = drafts[-1][2]
            payload[EVENTS] = [
                e.to_wire_payload() if e.origin is origin else e.to_wire() for e in self._pending
            ]
            payload[ORIGIN] = self._identity(origin)
            self._pending.clear()
        else:
            drafts[-1][2][EVENTS] = []
        try:
            records = [
                NewRecord.of_json(kind, key, to_json(payload)) for kind, key, payload in drafts
            ]
        except pydantic_core.PydanticSerializationError as exc:
            raise InvalidCheckpointRequest(
                f"run {self._run_id}: a record payload is not JSON ({exc})",
                details={"run_id": self._run_id},
            ) from exc
        # The answer's cancel flag stands from before the call: it may be older than that,
        # never newer.
        asked = time.monotonic()
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                result = self._store.append(
                    self._run_id, records, expected_seq=self._next, epoch=self._lease.epoch
                )
                break
            except CheckpointStorageError:
                # Ambiguous: an identical re-append is a no-op success if the first landed.
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
            except (Fenced, SeqConflict, RunTerminated) as exc:
                self._lease.lost = True
                self._lease.stop()
                raise LeaseLost(
                    f"run {self._run_id}: another owner took the run over ({exc.code})",
                    details={"run_id": self._run_id, "epoch": self._lease.epoch},
                ) from exc
        self._next = result.last_seq + 1
        self._lease.answered(result.cancel_reason, asked)

    def _identity(self, origin: EventOrigin) -> dict[str, Any]:
        """The ``wire_identity`` of the bus's origin (made again when a handoff changes it)."""
        if self._identity_of is not origin:
            self._identity_of = origin
            self._identity_json = wire_identity(origin)
        return self._identity_json

    def resumes_cycle(self, index: int) -> bool:
        """Whether cycle ``index`` was started before the resume (its start is durable)."""
        return self._partial is not None and self._partial.index == index

    def replayed_response(self, index: int) -> tuple[ModelResponse, TokenUsage] | None:
        """Cycle ``index``'s durable model answer, when the resume found one."""
        partial = self._partial
        if partial is None or partial.index != index or partial.model_result is None:
            return None
        payload = partial.model_result
        return (
            RESPONSE.validate_python(payload["response"]),
            TokenUsage.model_validate(payload["usage"]),
        )

    def model_intent(self, index: int) -> None:
        """Before cycle ``index``'s model call: ``cycle_started`` (unless resumed) and
        ``model_intent``, sent with the cycle's first append. A cancel requested through the
        store, or a yield at this cycle boundary, stops the run here instead."""
        self._lease.cycle = index
        partial = self._partial
        if partial is None or partial.index != index:
            self._maybe_yield()
        self._lease.check_cancel()
        if partial is not None and partial.index == index:
            if partial.model_attempts:  # a durable intent without a result (an older log's)
                self._counters["model_calls_duplicated"] += 1
            self._steps = Steps(index, partial.model_attempts + 1, started=False)
            return
        self._steps = Steps(index, 1, started=True)

    def model_result(
        self, index: int, response: ModelResponse, usage: TokenUsage, tools: Mapping[str, Tool]
    ) -> None:
        """Cycle ``index``'s model answer (with the compaction records the cycle made before
        its call, so a resume sees the same history), durable before any call of a tool with
        an effect runs: asking the model again would give new calls, new idempotency keys.
        An ``idempotent`` call has no intent record, so the answer is appended now; a
        ``non_idempotent`` call's intent is, and the answer goes out with it; when every call
        is to a ``read`` tool (or there is none) it goes out with the commit: a crash before
        that just asks again (unless a call waits for an approval first: ``before_approval``).
        ``tools`` are the agent's."""
        steps = self._steps
        assert steps is not None and steps.index == index  # model_intent came first
        # The compaction records as they are now: the cycle's own record joins them later.
        steps.answer = (response, usage, self._new_cycles())
        if any(
            effect_class_of(tools[c.name]) is EffectClass.IDEMPOTENT
            for c in response.tool_calls
            if c.name in tools
        ):
            self._append()
        crashpoint("after_model_result", index)

    def past_approval(self, call_id: str, index: int) -> bool:
        """Whether call ``call_id`` of cycle ``index`` got past its approval before this
        resume: its intent or its result is in the log (both are written after the call was
        allowed), so nobody is asked again about a call that was allowed already."""
        partial = self._partial
        return (
            partial is not None
            and partial.index == index
            and (call_id in partial.intents or call_id in partial.results)
        )

    def before_approval(self) -> None:
        """Before asking for an approval: the model's answer becomes durable if it is not yet
        (a person may take long to decide, and decides about these calls: a run killed
        meanwhile resumes with the same calls and asks again, instead of asking the model
        anew)."""
        steps = self._steps
        if steps is not None and steps.answer is not None:
            self._append()

    def commit(self, index: int) -> None:
        """Cycle ``index``'s checkpoint: ``checkpoint_created`` and the ``cycle_committed``
        record that carries it, with the cycle records added since the last commit."""
        key = record_keys.cycle_committed(index)
        crashpoint("before_commit", index)
        self._bus.emit(
            CheckpointCreated,
            cycle_index=index,
            checkpoint_key=key,
            resume_attempt=self._state.resume_count,
        )
        self._append((RecordKind.CYCLE_COMMITTED, key, self._delta({"cycle": index})))
        self._committed = len(self._state.cycles)
        self._partial = None
        self._cycles_run += 1
        self._lease.renew_if_late()
        crashpoint("after_commit", index)

    def end(self, outcome: LoopOutcome) -> None:
        """The run stopped: a ``waiting`` record (for the user, an approval, or a
        reconciliation: resumable) or the ``terminal`` one; the lease is given back."""
        try:
            self._end(outcome)
        finally:
            self._close()

    def _end(self, outcome: LoopOutcome) -> None:
        self._lease.stop()
        if self._lease.lost:
            return
        state = self._state
        cycle = state.last_cycle_index
        error = outcome.error
        if isinstance(error, EffectNeedsReconciliation):
            reason: str | None = "reconciliation"
        elif outcome.status is RunStatus.WAIT_USER:
            reason = "approval" if state.pending_tool_calls else "user"
        else:
            reason = None
        self._tool_state_mark = None  # an end record always carries the tools' state
        payload = self._delta(
            {
                "cycle": cycle,
                "reason": reason,
                "final": {
                    "status": outcome.status.value,
                    "completion_reason": outcome.completion_reason.value,
                    "pending_tool_calls": list(state.pending_tool_calls),
                    "session_cursor": state.session_cursor,
                    "event_seq": self._bus.seq,
                },
                "error": None if error is None else {"code": error.code, "message": error.message},
            }
        )
        if reason == "reconciliation" and error is not None:
            # What the host must settle (``run_status``'s ``error``): the call and its class.
            payload["error"]["details"] = error.details
        if reason is None:
            self._append((RecordKind.TERMINAL, record_keys.terminal(), payload))
            return
        attempt = self._waits[cycle] = self._waits.get(cycle, 0) + 1
        self._append((RecordKind.WAITING, record_keys.waiting(cycle, attempt), payload))
        self._lease.give_up()

    def abandon(self) -> None:
        """This execution stops without an ending (its loop died): stop the heartbeat so the
        lease expires and another process can resume the run."""
        self._close()

    def _new_cycles(self) -> list[CycleRecord]:
        return self._state.cycles[self._committed :]

    def _delta(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` plus the cycle records since the last commit, the tools' state when it
        changed since the last record that carried it, and the counters."""
        payload["cycles"] = self._new_cycles()
        mark = self._tool_state_mark
        if mark is None or not mark.matches(self._tool_state):
            payload["tool_state"] = self._tool_state  # serialised with the record, at once
            self._tool_state_mark = ToolStateMark(self._tool_state)
        payload["counters"] = dict(self._counters)
        return payload

    # ------------------------------------------------------------------ effect ledger

    async def before(
        self, tool: Tool, call: ToolCall, arguments: dict[str, Any], index: int
    ) -> ToolResult | None:
        """Before a tool call of cycle ``index`` runs: its result when the run must not run it
        (already in the log, or settled by recovery), else ``None`` and the call runs, then
        ``after``. A ``read`` call is not recorded; an ``idempotent`` one runs (again, after a
        crash, with the same key) and its result goes out with the next append; a
        ``non_idempotent`` one gets a durable ``effect_intent`` now and a durable
        ``effect_result`` after, and an intent the resume found without a result is settled by
        ``_recover``."""
        partial = self._partial if self._partial and self._partial.index == index else None
        if partial is not None and call.id in partial.results:
            self._counters["effects_replayed"] += 1
            return ToolResult.model_validate(partial.results[call.id]["result"])
        self._lease.cycle = index
        self._lease.check_cancel()
        effect = effect_class_of(tool)
        if effect is EffectClass.READ:
            return None
        if effect is EffectClass.IDEMPOTENT:
            # No intent barrier: after a crash the call simply runs again with the same key
            # (the tool's context derives it when the tool reads it).
            retried = partial is not None
            if retried:
                self._counters["effects_retried_idempotent"] += 1
            self._running[call.id] = (effect, "retried" if retried else "ran")
            return None
        key = idempotency_key(self._run_id, index, call.id)
        if partial is not None and call.id in partial.intents:
            settled, source = await self._recover(tool, call, arguments, index, key)
            if settled is not None:
                self._append(result_draft(index, call.id, source, settled))
                return settled
            self._running[call.id] = (effect, source)
            return None
        self._append(
            (
                RecordKind.EFFECT_INTENT,
                record_keys.effect_intent(index, call.id),
                {
                    "cycle": index,
                    "effect_id": f"{self._run_id}/{index}/{call.id}",
                    "tool_call_id": call.id,
                    "tool": call.name,
                    "arguments": arguments,
                    "idempotency_key": key,
                    "effect_class": effect.value,
                },
            )
        )
        crashpoint("after_effect_intent", index)
        self._running[call.id] = (effect, "ran")
        return None

    def after(self, call: ToolCall, index: int, result: ToolResult) -> None:
        """A call ``before`` let run has returned: record its result (durable before the run
        goes on for a non-idempotent call, with the next append for an idempotent one)."""
        running = self._running.pop(call.id, None)
        if running is None:
            return  # a read call
        effect, source = running
        crashpoint("mid_tool", index)
        draft = result_draft(index, call.id, source, result)
        if effect is EffectClass.IDEMPOTENT:
            self._defer(draft)
        else:
            self._append(draft)
        crashpoint("after_effect_result", index)

    async def _recover(
        self, tool: Tool, call: ToolCall, arguments: dict[str, Any], index: int, key: str
    ) -> tuple[ToolResult | None, str]:
        """Settle a non-idempotent call's intent without a result: what the host said, the
        tool's ``verify`` answer, or the unverified policy. ``(None, source)``: run the call."""
        resolution = self._resolutions.pop(call.id, None)
        if isinstance(resolution, ToolResult):
            return resolution, "resolved"
        if resolution == "retry":
            return None, "retried"
        verdict = await _verify(tool, key, arguments)
        if isinstance(verdict, ToolResult):
            self._counters["effects_verified"] += 1
            return verdict, "verified"
        if verdict is False:  # verified not done: running it now is its first time
            self._counters["effects_verified"] += 1
            return None, "ran"
        policy = UnverifiedPolicy(getattr(tool, "on_unverified", None) or self._policy)
        partial = self._partial
        if partial is not None and call.id not in partial.unverified:
            partial.unverified.add(call.id)
            self._counters["effects_unverified"] += 1
            self._append(
                (
                    RecordKind.EFFECT_UNVERIFIED,
                    record_keys.effect_unverified(index, call.id),
                    {"cycle": index, "tool_call_id": call.id, "policy": policy.value},
                )
            )
        declared = getattr(tool, "effect_class", None)
        details = {
            "effect_id": f"{self._run_id}/{index}/{call.id}",
            "tool_call_id": call.id,
            "tool_name": call.name,
            "cycle_index": index,
            "arguments": arguments,
            "idempotency_key": key,
            # ``None``: the tool declares no class (treated as non-idempotent, but nobody said).
            "effect_class": None if declared is None else EffectClass(declared).value,
        }
        if policy is UnverifiedPolicy.TELL_MODEL:
            notice = (
                f"Tool {call.name!r} with these arguments was interrupted and may have run; "
                "its outcome is unknown. Check before repeating it."
            )
            return ToolResult.error(EFFECT_UNVERIFIED, notice, details=details), "unverified"
        raise EffectNeedsReconciliation(
            f"tool call {call.id} ({call.name}) may have acted before the crash and cannot be "
            "verified; resume the run with resolutions={tool_call_id: ToolResult | 'retry'}",
            details=details,
        )


async def _verify(tool: Tool, key: str, arguments: dict[str, Any]) -> ToolResult | bool | None:
    """The tool's ``verify(idempotency_key, arguments)`` answer: a ``ToolResult`` (it happened,
    with this result), ``False`` (it did not happen) or ``None`` (unknown, also when the tool
    has no ``verify`` or it failed)."""
    verify = getattr(tool, "verify", None)
    if verify is None:
        return None
    try:
        verdict = verify(key, arguments)
        if inspect.isawaitable(verdict):
            verdict = await verdict
    except Exception:  # a failing check proves nothing: the effect stays unverified
        return None
    return verdict if isinstance(verdict, ToolResult) or verdict is False else None
