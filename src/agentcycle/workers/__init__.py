"""Celery workers for durable runs (``execution="celery"``, extra ``celery``).

A run submitted with ``Runner.submit`` is executed by ``run_segment`` tasks, each running a
*segment* of consecutive cycles on one worker under the run's lease (heartbeats renew it,
every third of its TTL): a segment ends and queues the next one after
``WorkerOptions.max_cycles_per_segment`` cycles or ``max_segment_seconds``, or at the next cycle
boundary once the worker shuts down warm (SIGTERM), so another worker continues at once.

Recovery does not wait for the broker: a pool child that dies has its task redelivered at
once (``task_reject_on_worker_lost``) and the new delivery waits out the dead owner's lease;
a whole worker that dies is found by the *sweeper* in every worker (``list_recoverable``
every ``sweep_interval``), so a run continues after at most the lease TTL plus one sweep. A
run whose processes keep dying in the same cycle fails with ``crash_loop``
(``Durability.max_takeovers``).

Start a worker with ``agentcycle worker --store URL``, or from Python::

    app = celery_app("redis://127.0.0.1:6379/0")
    app.worker_main(["worker", "--concurrency=2"])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcycle.assembly._celery import QUEUE, TASK_NAME, HostAnswer, broker_url
from agentcycle.errors import ConfigurationError

if TYPE_CHECKING:
    from celery import Celery

__all__ = ["WorkerOptions", "celery_app"]


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker runs segments. ``visibility_timeout`` (seconds) must stay well above
    ``max_segment_seconds`` (at least twice): the broker redelivers a task still unacked after
    it, even one whose segment is alive and well."""

    sweep_interval: float = 1.0
    """Seconds between two looks for runs whose owner died."""
    max_cycles_per_segment: int = 100
    max_segment_seconds: float = 300.0
    visibility_timeout: float = 3600.0


def celery_app(
    store: str, broker: str | None = None, options: WorkerOptions | None = None
) -> Celery:
    """A Celery app whose workers run durable runs kept in ``store`` (a URL), with segments
    queued on ``broker`` (``None``: ``AGENTCYCLE_BROKER_URL``, else the local Redis).

    The settings a durable run relies on, set here:

    - ``task_acks_late``: a task is acknowledged after its segment, so a worker that dies
      mid-segment leaves it in the broker;
    - ``task_reject_on_worker_lost``: a killed pool child's task is requeued at once, not
      acknowledged as failed;
    - ``worker_prefetch_multiplier=1``: a worker reserves no more segments than it runs, so a
      queued run never waits behind a busy worker's long segment;
    - ``visibility_timeout`` far above a segment's length: a healthy segment is never
      delivered twice (recovery comes from leases and the sweeper, not from it);
    - ``worker_cancel_long_running_tasks_on_connection_loss``: a worker that lost the broker
      stops, its segments are redelivered, their leases fence it out;
    - JSON only, no result backend: the run's store holds everything.
    """
    options = options or WorkerOptions()
    if options.max_segment_seconds * 2 > options.visibility_timeout:
        raise ConfigurationError(
            f"visibility_timeout ({options.visibility_timeout} s) must be at least twice "
            f"max_segment_seconds ({options.max_segment_seconds} s)"
        )
    if options.max_cycles_per_segment < 1 or options.sweep_interval <= 0:
        raise ConfigurationError("max_cycles_per_segment must be >= 1 and sweep_interval > 0")
    try:
        from celery import Celery, signals
    except ImportError as exc:
        raise ConfigurationError(
            "Celery workers need the celery extra: pip install 'agentcycle[celery]'"
        ) from exc
    from agentcycle.workers._segment import (
        SegmentSettings,
        Sweeper,
        clear_draining,
        run_segment,
        start_draining,
    )

    broker = broker_url(broker)
    app = Celery("agentcycle", broker=broker)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": options.visibility_timeout},
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_default_queue=QUEUE,
        worker_send_task_events=False,
    )
    settings = SegmentSettings(
        store=store,
        broker=broker,
        max_cycles=options.max_cycles_per_segment,
        max_seconds=options.max_segment_seconds,
    )

    @app.task(name=TASK_NAME)
    def segment(run_id: str, answer: dict[str, Any] | None = None) -> str:
        return run_segment(
            run_id, settings, None if answer is None else HostAnswer.from_json(answer)
        )

    sweepers: list[Sweeper] = []

    def on_init(sender: Any = None, **_: Any) -> None:
        clear_draining()

    def on_ready(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is app and not sweepers:
            sweeper = Sweeper(store, broker, options.sweep_interval)
            sweepers.append(sweeper)
            sweeper.start()

    def on_shutting_down(**_: Any) -> None:
        start_draining()
        for sweeper in sweepers:
            sweeper.stop()

    def on_shutdown(**_: Any) -> None:
        clear_draining()

    # Celery's signals are process-wide: keep strong references (weak=False).
    signals.worker_init.connect(on_init, weak=False)
    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_shutting_down.connect(on_shutting_down, weak=False)
    signals.worker_shutdown.connect(on_shutdown, weak=False)
    return app
