"""Effect classes: what re-running a tool call after a crash would do.

A durable run (``RunConfig.checkpoint_store``) writes an ``effect_intent`` record before a
tool with an external effect runs and an ``effect_result`` record after it. A run resumed
after a crash may find an intent without a result: the tool may or may not have acted. What
the runtime does then depends on the tool's ``effect_class``:

- ``read``: no external effect; the call simply runs again (no intent is even written).
- ``idempotent``: the tool (or the service behind it) deduplicates by
  ``ToolContext.idempotency_key``; the call runs again with the same key.
- ``non_idempotent``: running it twice may act twice. If the tool has
  ``verify(idempotency_key, arguments)`` the runtime asks it; otherwise the effect is
  reported unverified and the run's policy decides (see ``agentcycle.runtime.durable``).

A tool declares its class with an ``effect_class`` attribute (an ``EffectClass`` or its
string); a tool without one is ``non_idempotent``. Built-in tools declare theirs.
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any

__all__ = ["EffectClass", "effect_class_of", "idempotency_key"]


class EffectClass(enum.StrEnum):
    """What re-running a tool call does (see the module docstring)."""

    READ = "read"
    IDEMPOTENT = "idempotent"
    NON_IDEMPOTENT = "non_idempotent"


def effect_class_of(tool: Any) -> EffectClass:
    """The tool's declared ``effect_class``; ``non_idempotent`` when it declares none (a tool
    written before effect classes existed keeps working, and is treated as the safe case).
    An unknown value raises ``ValueError``."""
    declared = getattr(tool, "effect_class", None)
    return EffectClass.NON_IDEMPOTENT if declared is None else EffectClass(declared)


def idempotency_key(run_id: str, cycle_index: int, tool_call_id: str) -> str:
    """``sha256(run_id, cycle, tool_call_id)`` as hex: the same for every retry of one call,
    in every process, and different for every other call."""
    text = f"{len(run_id)}:{run_id}|{cycle_index}|{tool_call_id}"
    return hashlib.sha256(text.encode()).hexdigest()
