"""How the file loaders (the settings file, the CLI's agents file) word pydantic's validation
errors: a field's location as a key path, and the problems as one line."""

from __future__ import annotations

from collections.abc import Sequence


def field_path(location: Sequence[int | str]) -> str:
    """A pydantic error location as a key path: ``("agents", "a", "handoffs", 0)`` is
    ``agents.a.handoffs[0]``."""
    parts: list[str] = []
    for part in location:
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}" if parts else str(part))
    return "".join(parts)


def one_line(problems: Sequence[str], limit: int) -> str:
    """The first ``limit`` problems joined by ``; ``, then how many more there are."""
    more = len(problems) - limit
    return "; ".join(problems[:limit]) + (f"; and {more} more" if more > 0 else "")
