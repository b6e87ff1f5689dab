"""Compact, deterministic-enough JSON helpers used across the package."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def canonical(value: Any) -> str:
    """Canonical JSON (sorted keys) for digests and stable comparisons."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
