"""The ``run_segment`` task's body, the warm-shutdown drain flag and the sweeper thread.

A segment takes the run's lease (waiting out a dead owner's), runs consecutive cycles on this
worker and ends at a cycle boundary: when the run stops (terminal, or waiting for its host),
when it reaches the segment's length (cycles or seconds), or when the worker is shutting down
warm; in the last two cases it releases the lease and queues the next segment at once. A
segment that loses its lease (fenced: it was frozen past its TTL) stops writing and ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from agentcycle.assembly._celery import (
    FACTORY_KEY,
    HostAnswer,
    load_agent_factory,
    send_segment,
    stored_durability,
)
from agentcycle.errors import AgentcycleError, CrashLoop, RunLeaseHeld, RunTerminated
from agentcycle.run_config import RunConfig
from agentcycle.runner import Runner
from agentcycle.runtime.durable import ExecutionYielded
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.stores.checkpoints import CheckpointStore, LogStatus

log = logging.getLogger("agentcycle.workers")


@dataclass(frozen=True, slots=True)
class SegmentSettings:
    """What a worker's segments need: where runs live, where segments are queued, how long a
    segment may run."""

    store: str
    broker: str
    max_cycles: int
    max_seconds: float


def run_segment(run_id: str, settings: SegmentSettings, answer: HostAnswer | None = None) -> str:
    """Run one segment of ``run_id`` on this worker; returns how it ended (``completed``,
    ``yielded``, ``owned`` (a live owner has the run) ...), for the worker's log. ``answer``:
    the host's answer to the wait the run stopped at (``SubmittedRun.resume``)."""
    return asyncio.run(_segment(run_id, settings, answer))


async def _segment(run_id: str, settings: SegmentSettings, answer: HostAnswer | None) -> str:
    store = open_checkpoint_store(settings.store)
    try:
        head = store.head(run_id)
        if head is None:
            log.error("run %s is not in the store %s", run_id, settings.store)
            return "unknown"
        # The answer applies to the wait it was given for, and only while the log is still
        # there: a redelivered task finds the run gone on (or waiting again, further on).
        if answer is not None and (
            head.status is not LogStatus.WAITING or head.last_seq != answer.after_seq
        ):
            answer = None
        if head.status is not LogStatus.RUNNING and answer is None:
            return head.status.value  # a duplicate delivery of a run that stopped meanwhile
        header = store.read(run_id, limit=1)[0]
    finally:
        store.close()
    metadata = header.payload["state"]["spec"]["metadata"]
    factory = metadata.get(FACTORY_KEY)
    if not isinstance(factory, str):
        log.error("run %s names no agent factory: it was not submitted to Celery", run_id)
        return "no_factory"
    agent, base = load_agent_factory(factory, metadata)
    started = time.monotonic()

    def yield_after(cycles: int) -> bool:
        # At least one cycle per segment, so a run always progresses.
        return cycles >= 1 and (
            cycles >= settings.max_cycles
            or time.monotonic() - started >= settings.max_seconds
            or draining()
        )

    durability = replace(stored_durability(metadata), yield_after=yield_after)
    config = RunConfig(
        checkpoint_store=settings.store,
        durability=durability,
        execution="inline",
        live_approvals=False,
    ).over(base)
    try:
        if answer is None:
            handle = await Runner.start_resumed_run(agent, run_id, config=config)
        else:
            handle = await Runner.start_resumed_run(
                agent,
                run_id,
                input=answer.input,
                approvals=answer.approvals,
                resolutions=answer.resolutions,
                config=config,
            )
    except RunLeaseHeld:
        return "owned"  # a duplicate delivery: the live owner goes on
    except RunTerminated:
        return "terminal"
    except CrashLoop as exc:
        log.error("%s", exc.message)
        return "crash_loop"
    try:
        result = await handle.result()
    except ExecutionYielded:
        send_segment(settings.broker, run_id)
        return "yielded"
    finally:
        await handle.release_model_clients()
    if result.error is not None and result.error.get("code") == "lease_lost":
        return "lease_lost"  # frozen past the lease: the new owner goes on
    return str(result.status)


# ---------------------------------------------------------------------- warm shutdown

_DRAINING = threading.Event()


def _marker(pid: int) -> Path:
    return Path(tempfile.gettempdir()) / f"agentcycle-drain-{pid}"


def start_draining() -> None:
    """The worker is shutting down warm (its main process): every segment, here or in a pool
    child, ends at its next cycle boundary and hands its run over. Pool children learn it
    from a marker file named after this process (they have no signal of their own)."""
    _DRAINING.set()
    _marker(os.getpid()).touch()


def clear_draining() -> None:
    """Forget a drain (a marker left by a dead worker whose pid this process now has)."""
    _DRAINING.clear()
    _marker(os.getpid()).unlink(missing_ok=True)


def draining() -> bool:
    """Whether this worker is shutting down warm (asked at each cycle boundary)."""
    return _DRAINING.is_set() or _marker(os.getppid()).exists()


# ---------------------------------------------------------------------- sweeper


class Sweeper:
    """Queues a segment for every run whose owner died (``list_recoverable``: running, lease
    expired) every ``interval`` seconds, once per expired lease epoch, so recovery after a dead
    worker takes the lease TTL plus one interval, not the broker's visibility timeout. Every
    worker runs one; duplicates are harmless (the lease refuses all but one)."""

    def __init__(self, store: str, broker: str, interval: float) -> None:
        self._store_url = store
        self._broker = broker
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agentcycle-sweeper", daemon=True)

    def start(self) -> None:
        """Start sweeping in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop sweeping (returns once the thread ended)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        store = open_checkpoint_store(self._store_url)
        sent: dict[str, int] = {}
        try:
            while not self._stop.wait(self._interval):
                try:
                    sent = self._sweep(store, sent)
                except (AgentcycleError, OSError) as exc:  # the next sweep tries again
                    log.warning("sweep failed: %s", exc)
        finally:
            store.close()

    def _sweep(self, store: CheckpointStore, sent: dict[str, int]) -> dict[str, int]:
        current: dict[str, int] = {}
        for run_id in store.list_recoverable():
            head = store.head(run_id)
            if head is None:
                continue
            current[run_id] = head.epoch
            if sent.get(run_id) != head.epoch:
                log.info("run %s: its owner died (epoch %d); queueing it", run_id, head.epoch)
                send_segment(self._broker, run_id)
        return current
