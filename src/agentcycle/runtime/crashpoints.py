"""Crash points: places where a test kills its own process to prove a durable run survives.

``AGENTCYCLE_CRASHPOINT=NAME:CYCLE`` (read once, when this module is imported) arms one point:
the first time the runtime reaches point ``NAME`` in cycle ``CYCLE`` (counted like
``cycle_index``, from 1), the process sends itself SIGKILL: no ``finally``, no flush, exactly
like ``kill -9``. Unset, every point is a comparison against ``None``.

The points, in a durable cycle's order:

- ``after_model_result``: the model's answer is durable, no tool has run;
- ``after_effect_intent``: a tool call's intent is durable, the tool has not run;
- ``mid_tool``: the tool returned (its effect happened), its result is not durable;
- ``after_effect_result``: a tool call's result is durable;
- ``before_commit``: every result of the cycle is durable, the cycle is not committed;
- ``after_commit``: the cycle is committed;
- ``heartbeat``: the run's lease was just renewed (a heartbeat beside the cycle).

``NAME:CYCLE:group`` kills the whole process group instead (``killpg``): a worker and its pool
children die together, as when a whole machine or container goes away. A host that runs many
runs in one long-lived process (a Celery worker) arms a point for one run with :func:`arm`.

A tool may call ``crashpoint("mid_tool", ctx.cycle_index)`` itself to die halfway through its
own effect.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASHPOINTS", "CRASHPOINT_ENV", "arm", "crashpoint"]

CRASHPOINT_ENV = "AGENTCYCLE_CRASHPOINT"
"""The environment variable that arms a crash point (``NAME:CYCLE``)."""

CRASHPOINTS = (
    "after_model_result",
    "after_effect_intent",
    "mid_tool",
    "after_effect_result",
    "before_commit",
    "after_commit",
    "heartbeat",
)
"""Every crash point's name, in a cycle's order."""


def _armed(value: str | None) -> tuple[str, int, bool] | None:
    if not value:
        return None
    name, _, rest = value.partition(":")
    cycle, _, mode = rest.partition(":")
    if (
        name not in CRASHPOINTS
        or not cycle.isdigit()
        or int(cycle) < 1
        or mode not in ("", "group")
    ):
        raise ValueError(
            f"{CRASHPOINT_ENV}={value!r}: expected NAME:CYCLE[:group] with NAME one of "
            f"{', '.join(CRASHPOINTS)} and CYCLE a cycle index from 1"
        )
    return name, int(cycle), mode == "group"


_ARMED = _armed(os.environ.get(CRASHPOINT_ENV))


def arm(value: str | None) -> None:
    """Arm the crash point ``value`` (``NAME:CYCLE[:group]``, as the environment variable takes
    it) in this process from now on, or disarm with ``None``. Raises ``ValueError`` for a
    malformed value."""
    global _ARMED
    _ARMED = _armed(value)


def crashpoint(name: str, cycle_index: int) -> None:
    """SIGKILL this process (or its process group) if ``name`` in cycle ``cycle_index`` is the
    armed crash point."""
    armed = _ARMED
    if armed is not None and (name, cycle_index) == armed[:2]:
        if armed[2]:
            os.killpg(os.getpgid(0), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
