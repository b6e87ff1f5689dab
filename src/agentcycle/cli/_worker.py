"""``agentcycle worker``: a Celery worker for durable runs submitted with
``agentcycle --execution celery`` or ``Runner.submit``.

    agentcycle worker --store URL [--concurrency N] [--broker URL] [--pool prefork|solo|threads]

The store and the broker default to the local Redis (the broker also to
``AGENTCYCLE_BROKER_URL``). Runs started from the CLI rebuild their agent here the way the CLI
does (``AGENTCYCLE_SETTINGS``, ``./local_settings.*``; the offline demo without one).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

DEFAULT_STORE = "redis://127.0.0.1:6379/0"

_OPTION_FIELDS = (
    "sweep_interval",
    "max_cycles_per_segment",
    "max_segment_seconds",
    "visibility_timeout",
)
"""The ``WorkerOptions`` fields the flags of the same names set."""


def worker_main(argv: Sequence[str]) -> int:
    """Parse ``argv`` (after ``worker``) and run a worker until it is stopped."""
    parser = argparse.ArgumentParser(
        prog="agentcycle worker", description="Run durable runs on this machine (Celery)."
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        default=DEFAULT_STORE,
        help=f"checkpoint store (default: {DEFAULT_STORE})",
    )
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="Celery broker (default: $AGENTCYCLE_BROKER_URL, else redis://127.0.0.1:6379/0)",
    )
    cores = os.cpu_count() or 1
    parser.add_argument(
        "--concurrency",
        type=int,
        default=cores,
        metavar="N",
        help=f"segments run at once (default: the number of CPUs, {cores})",
    )
    parser.add_argument(
        "--pool",
        choices=("prefork", "solo", "threads"),
        default="prefork",
        help="prefork (default: a segment that crashes its process takes only a pool child "
        "down), solo (one segment at a time, in the worker process) or threads",
    )
    parser.add_argument(
        "--hostname", "-n", metavar="NAME", help="the worker's node name (Celery's -n)"
    )
    parser.add_argument(
        "--loglevel",
        "-l",
        default="INFO",
        metavar="LEVEL",
        help="Celery's log level: DEBUG, INFO (default), WARNING, ERROR, CRITICAL",
    )
    parser.add_argument(
        "--sweep-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="time between two looks for runs whose process died (default: 1)",
    )
    parser.add_argument(
        "--max-cycles-per-segment",
        type=int,
        default=100,
        metavar="N",
        help="cycles a worker runs before it queues the rest of the run (default: 100)",
    )
    parser.add_argument(
        "--max-segment-seconds",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="time a worker runs one run before it queues the rest (default: 300)",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="the broker redelivers a task still unacknowledged after this; at least twice "
        "--max-segment-seconds (default: 3600)",
    )
    args = parser.parse_args(argv)
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")

    from agentcycle.errors import AgentcycleError
    from agentcycle.workers import WorkerOptions, celery_app

    try:
        app = celery_app(
            args.store,
            args.broker,
            WorkerOptions(
                sweep_interval=args.sweep_interval,
                max_cycles_per_segment=args.max_cycles_per_segment,
                max_segment_seconds=args.max_segment_seconds,
                visibility_timeout=args.visibility_timeout,
            ),
        )
    except AgentcycleError as exc:
        message = exc.message
        for field in _OPTION_FIELDS:  # the flags' names, not WorkerOptions' fields
            message = message.replace(field, "--" + field.replace("_", "-"))
        parser.error(message)
    worker_argv = [
        "worker",
        f"--concurrency={args.concurrency}",
        f"--pool={args.pool}",
        f"--loglevel={args.loglevel}",
        # No gossip, mingle or worker heartbeats: leases and the sweeper do their work.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if args.hostname:
        worker_argv.append(f"--hostname={args.hostname}")
    app.worker_main(worker_argv)
    return 0
