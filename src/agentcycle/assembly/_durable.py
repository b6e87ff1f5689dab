"""Set up a durable run (``RunConfig.checkpoint_store``): create its log and take its lease, or
for ``Runner.resume_run`` take the lease of a stored run, fold its log and compile the resume.

The lease is taken before the log is read, so no other writer can add a record between the
fold and this process's first append."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentcycle.agent import Agent
from agentcycle.assembly._compile import CompiledRun, compile_resume
from agentcycle.errors import ConfigurationError, CrashLoop, RunLeaseHeld, RunNotFound
from agentcycle.events import CompletionReason, RunFailed
from agentcycle.messages import ToolResult
from agentcycle.run_config import RunConfig
from agentcycle.runtime._durable_fold import FoldedRun, fold
from agentcycle.runtime._durable_lease import new_owner
from agentcycle.runtime._durable_log import DurableLog
from agentcycle.runtime.approvals import ApprovalDecision
from agentcycle.runtime.durable import Durability
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.loop import ResumeWork
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import CheckpointStore, Lease
from agentcycle.stores.run_records import NewRecord, RecordKind, record_keys

LOG_FORMAT = 1
"""The version of the header and record payloads this build writes and reads."""

_DEFAULT = Durability()


def checkpoint_store(config: RunConfig) -> CheckpointStore | None:
    """The run's checkpoint store (a URL is opened here), or ``None`` for a run that is not
    durable."""
    store = config.checkpoint_store
    if store is None or not isinstance(store, str):
        return store
    return open_checkpoint_store(store)


@dataclass(slots=True)
class StoredRun:
    """A stored run taken over for resuming: its store, our lease, its folded log."""

    store: CheckpointStore
    owner: str
    lease: Lease
    folded: FoldedRun
    resolutions: dict[str, ToolResult | str]
    owns_store: bool
    """The store was opened from a URL for this run: the run closes it."""


def new_durable_log(
    compiled: CompiledRun, config: RunConfig, bus: EventBus, stored: StoredRun | None
) -> DurableLog | None:
    """The run's log writer: a resumed run's (``stored``), or a new run's (its log created and
    leased now), or ``None`` when the run has no checkpoint store."""
    options = config.durability or _DEFAULT
    state = compiled.state
    if stored is not None:
        return DurableLog(
            stored.store,
            state,
            compiled.tool_state,
            bus,
            owner=stored.owner,
            epoch=stored.lease.epoch,
            next_seq=stored.folded.last_seq + 1,
            options=options,
            folded=stored.folded,
            resolutions=stored.resolutions,
            owns_store=stored.owns_store,
        )
    store = checkpoint_store(config)
    if store is None:
        return None
    run_id = state.spec.run_id
    header = {"format": LOG_FORMAT, "state": state.model_dump(mode="json")}
    if not store.create_run(run_id, header):
        if isinstance(config.checkpoint_store, str):
            store.close()
        raise ConfigurationError(
            f"run {run_id} already exists in the checkpoint store: continue it with "
            "Runner.resume_run"
        )
    owner = new_owner()
    lease = store.acquire_lease(run_id, owner, _ttl_ms(options))
    if lease is None:  # a run created an instant ago: only a racing creator could hold it
        raise RunLeaseHeld(f"run {run_id} was taken by another process as it was created")
    return DurableLog(
        store,
        state,
        compiled.tool_state,
        bus,
        owner=owner,
        epoch=lease.epoch,
        next_seq=2,
        options=options,
        owns_store=isinstance(config.checkpoint_store, str),
    )


def create_stored_run(compiled: CompiledRun, store: CheckpointStore) -> None:
    """Create a new run's log (its header, no lease): a run some other process will execute
    (``execution="celery"``). Raises ``ConfigurationError`` if the run id is taken."""
    run_id = compiled.state.spec.run_id
    header = {"format": LOG_FORMAT, "state": compiled.state.model_dump(mode="json")}
    if not store.create_run(run_id, header):
        raise ConfigurationError(f"run {run_id} already exists in the checkpoint store")


async def compile_stored_resume(
    agent: Agent,
    run_id: str,
    config: RunConfig,
    *,
    run_input: Any = None,
    approvals: Mapping[str, ApprovalDecision | str] | None = None,
    resolutions: Mapping[str, ToolResult | str] | None = None,
) -> tuple[CompiledRun, ResumeWork, StoredRun]:
    """Take over stored run ``run_id`` (waiting out a dead owner's lease), fold its log and
    compile the resume (see ``compile_resume``)."""
    store = checkpoint_store(config)
    if store is None:
        raise ConfigurationError("Runner.resume_run needs RunConfig.checkpoint_store")
    owned = isinstance(config.checkpoint_store, str)  # opened here from a URL: ours to close
    try:
        if store.head(run_id) is None:
            raise RunNotFound(
                f"no run {run_id!r} in the checkpoint store", details={"run_id": run_id}
            )
        options = config.durability or _DEFAULT
        owner = new_owner()
        lease, took_over = await _take_over(store, run_id, owner, _ttl_ms(options))
        try:
            if took_over:  # its owner died: the crash-loop guard counts it, in the log
                head = store.head(run_id)
                assert head is not None
                taken = NewRecord(
                    RecordKind.LEASE_TAKEN, record_keys.lease_taken(lease.epoch), {"owner": owner}
                )
                store.append(run_id, [taken], expected_seq=head.last_seq + 1, epoch=lease.epoch)
            folded = fold(store.read(run_id))
            if folded.takeovers >= options.max_takeovers:
                crash_loop: CrashLoop | None = _end_crash_loop(store, run_id, lease, folded)
            else:
                crash_loop = None
                state = folded.state
                state.event_seq = folded.event_seq
                compiled, work = await compile_resume(
                    agent, state, config, run_input=run_input, approvals=approvals
                )
        except BaseException:
            store.release_lease(run_id, owner, lease.epoch)
            raise
        if crash_loop is not None:  # the run is terminal: no lease to give back
            raise crash_loop
    except BaseException:
        if owned:
            store.close()
        raise
    return compiled, work, StoredRun(store, owner, lease, folded, dict(resolutions or {}), owned)


async def _take_over(
    store: CheckpointStore, run_id: str, owner: str, ttl_ms: int
) -> tuple[Lease, bool]:
    """Acquire the run's lease, and whether it was taken from a dead owner (its lease expired
    without being released). A lease left by a dead process expires by itself: wait for it
    (on the store's clock). A lease renewed while we waited has a live owner
    (``RunLeaseHeld``)."""
    seen: Lease | None = None
    while True:
        before = store.head(run_id)
        lease = store.acquire_lease(run_id, owner, ttl_ms)
        if lease is not None:
            return lease, before is not None and before.lease is not None
        head = store.head(run_id)
        if head is None or head.lease is None:
            continue  # released meanwhile: try again
        if seen is not None and head.lease.expires_ms > seen.expires_ms:
            raise RunLeaseHeld(
                f"run {run_id} is owned by a live process ({head.lease.owner}): its lease was "
                "renewed while we waited",
                details={"run_id": run_id, "owner": head.lease.owner},
            )
        seen = head.lease
        # The lease's own expiry: nothing signals it, so wait it out.
        await asyncio.sleep(max(1, head.lease.expires_ms - head.now_ms + 1) / 1000)


def _end_crash_loop(
    store: CheckpointStore, run_id: str, lease: Lease, folded: FoldedRun
) -> CrashLoop:
    """End a run whose owners keep dying in the same cycle: its ``terminal`` record (failed,
    with the ``run_failed`` event) under our lease. Returns the error to raise."""
    state = folded.state
    cycle = state.last_cycle_index + 1
    error = CrashLoop(
        f"run {run_id}: its process died {folded.takeovers} times in a row in cycle {cycle}; "
        "the run failed instead of being handed to another one",
        details={"run_id": run_id, "cycle": cycle, "takeovers": folded.takeovers},
    )
    bus = EventBus(
        run_id=run_id,
        trace_id=state.spec.trace_id,
        agent_name=state.current_agent(),
        session_id=state.spec.session_id,
        parent_run_id=state.spec.parent_run_id,
        start_seq=folded.event_seq,
    )
    events: list[dict[str, Any]] = []
    bus.add_listener(lambda event: events.append(event.to_dict()))
    bus.emit(
        RunFailed,
        error=error.message,
        error_code=error.code,
        completion_reason=CompletionReason.FAILED,
    )
    payload: dict[str, Any] = {
        "cycle": state.last_cycle_index,
        "reason": None,
        "final": {
            "status": "failed",
            "completion_reason": CompletionReason.FAILED.value,
            "pending_tool_calls": [],
            "session_cursor": state.session_cursor,
            "event_seq": bus.seq,
        },
        "error": {"code": error.code, "message": error.message},
        "cycles": [],
        "counters": folded.counters,
        "events": events,
    }
    record = NewRecord(RecordKind.TERMINAL, record_keys.terminal(), payload)
    store.append(run_id, [record], expected_seq=folded.last_seq + 1, epoch=lease.epoch)
    return error


def _ttl_ms(options: Durability) -> int:
    if not options.lease_ttl > 0:
        raise ConfigurationError(f"Durability.lease_ttl must be > 0, not {options.lease_ttl!r}")
    return max(1, int(options.lease_ttl * 1000))
