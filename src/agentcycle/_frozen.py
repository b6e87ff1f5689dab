"""``FrozenModel``: the base of the immutable pydantic models a run holds many of.

Pydantic gives every instance its own ``__pydantic_fields_set__`` (a set of the field names the
caller passed, 216 bytes even for two names). Messages, tool calls, usage and cycle records
are immutable, and only a handful of distinct name sets ever occur, so instances share one set
per distinct combination: about a third of each small model's memory, which matters when a
process holds thousands of concurrent runs. Pydantic never mutates the set of a frozen
instance in place (``model_copy`` copies it before updating).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

_fields_sets: dict[frozenset[str], set[str]] = {}


class FrozenModel(BaseModel):
    """An immutable model (``frozen``, ``extra="forbid"``) that shares its fields-set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def model_post_init(self, context: Any, /) -> None:
        """Swap this instance's fields-set for the shared one with the same names."""
        own = self.__pydantic_fields_set__
        shared = _fields_sets.setdefault(frozenset(own), own)
        if shared is not own:
            object.__setattr__(self, "__pydantic_fields_set__", shared)
