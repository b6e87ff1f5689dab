"""A durable run's lease while one execution holds it, and the store's cancel flag as that
execution sees it (the log's writer, ``_durable_log.py``, holds one).

The lease is renewed every third of its TTL, so two missed renewals still leave it live: by a
heartbeat task on the run's event loop, and, when the loop has not let that task run (a model
or tool that never awaits, or blocks), at the next cycle boundary in its place. A cancel
requested through the store (from any process) reaches the run at the next renewal, and before
every model and tool call, which asks the store unless its last answer is an instant old.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable

from agentcycle.errors import AgentcycleError, CheckpointStorageError
from agentcycle.runtime.crashpoints import crashpoint
from agentcycle.stores.checkpoints import CheckpointStore, RenewResult

CANCEL_FRESH = 0.002
"""Seconds the store's last word on the cancel flag (an append's or a check's answer, counted
from when it was asked) stands for a fresh check before a model or tool call: a cancel
requested less than this before the call may be seen at the next check instead (as one
requested just after any check would be)."""


def new_owner() -> str:
    """A lease owner id unique to this process and call (host, pid, random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RunLease:
    """The lease ``owner`` holds on run ``run_id`` at ``epoch`` (just acquired), kept alive
    until ``stop``; ``lost`` once the store refused a renewal (another owner took the run), or
    the execution gave the run up."""

    def __init__(
        self, store: CheckpointStore, run_id: str, *, owner: str, epoch: int, ttl_ms: int
    ) -> None:
        self._store = store
        self._run_id = run_id
        self._owner = owner
        self.epoch = epoch
        """The lease's generation: the epoch every record of this execution is written with."""
        self._ttl_ms = ttl_ms
        self._renew_every = ttl_ms / 3000
        self._renewed_at = time.monotonic()
        self._heartbeat: asyncio.Task[None] | None = None
        self._mark_cancelled: Callable[[str], None] | None = None
        self._cancel_reason: str | None = None
        self._cancel_fresh_until = 0.0
        """``time.monotonic()`` until which ``_cancel_reason`` (the store's last word on the
        cancel flag) stands for a check (see ``CANCEL_FRESH``)."""
        self.lost = False
        self.cycle = 0
        """The cycle in progress (what the ``heartbeat`` crash point is armed with)."""

    def start(
        self, on_cancel: Callable[[str], None], mark_cancelled: Callable[[str], None]
    ) -> None:
        """Start the heartbeat on the running event loop. A cancel requested through the store
        reaches ``on_cancel`` at the next renewal; one found by ``check_cancel`` is
        ``mark_cancelled`` there."""
        self._mark_cancelled = mark_cancelled
        self._heartbeat = asyncio.get_running_loop().create_task(
            self._beat(on_cancel), name=f"agentcycle-lease-{self._run_id}"
        )

    def check_cancel(self) -> None:
        """Before a model or tool call (and as an execution begins): a cancel requested
        through the store stops the run here, before the call, as ``CancelledError`` (the
        heartbeat alone would see it up to a third of the TTL later, after the call began)."""
        if self._mark_cancelled is None:
            return
        asked = time.monotonic()
        if asked < self._cancel_fresh_until:
            reason = self._cancel_reason  # the store answered it an instant ago
        else:
            try:
                reason = self._store.cancel_requested(self._run_id)
            except CheckpointStorageError:
                return  # the next renewal asks again
            self.answered(reason, asked)
        if reason is not None:
            self._mark_cancelled(reason)
            raise asyncio.CancelledError

    def answered(self, cancel_reason: str | None, asked: float) -> None:
        """The store's answer about the cancel flag, to a call made at ``asked``
        (``time.monotonic()``): an append's reply carries it too."""
        self._cancel_reason = cancel_reason
        self._cancel_fresh_until = asked + CANCEL_FRESH

    def renew_if_late(self) -> None:
        """At a cycle boundary: renew when the heartbeat is late (a timestamp check; a store
        call only when a renewal is due)."""
        if time.monotonic() - self._renewed_at >= self._renew_every:
            self._renew()

    def give_up(self) -> None:
        """This execution stops holding the run: no renewal any more, the lease released (it
        expires anyway if the store cannot be told)."""
        self.lost = True
        self.stop()
        with contextlib.suppress(AgentcycleError):
            self._store.release_lease(self._run_id, self._owner, self.epoch)

    def stop(self) -> None:
        """Stop the heartbeat (the lease expires unless released)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    async def _beat(self, on_cancel: Callable[[str], None]) -> None:
        cancelling = False
        while not self.lost:
            await asyncio.sleep(self._renew_every)
            renewed = self._renew()
            if renewed is None:
                continue
            crashpoint("heartbeat", self.cycle)
            if renewed.cancel_reason is not None and not cancelling:
                cancelling = True
                on_cancel(renewed.cancel_reason)

    def _renew(self) -> RenewResult | None:
        """Renew the lease; ``None`` when the store failed (the next renewal retries: the lease
        outlives two misses) or refused (the lease is lost: nothing more is written)."""
        asked = time.monotonic()
        try:
            renewed = self._store.renew_lease(self._run_id, self._owner, self.epoch, self._ttl_ms)
        except CheckpointStorageError:
            return None
        if not renewed.ok:
            self.lost = True
            return None
        self._renewed_at = asked
        return renewed
