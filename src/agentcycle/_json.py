"""Compact, deterministic-enough JSON helpers used across the package."""

from __future__ import annotations

import json
from typing import Any

# One encoder built once: ``json.dumps`` with any non-default option builds a new
# ``JSONEncoder`` per call, which costs about as much as encoding a small object.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is."""
    return _COMPACT.encode(value)


def canonical(value: Any) -> str:
    """Canonical JSON (sorted keys) for digests and stable comparisons."""
    return _CANONICAL.encode(value)
