"""``FrozenModel``: the base of the immutable pydantic models a run holds many of.

Pydantic gives every instance its own ``__pydantic_fields_set__`` (a set of the field names the
caller passed, 216 bytes even for two names). Messages, tool calls, usage and cycle records
are immutable, and only a handful of distinct name sets ever occur, so instances share one set
per distinct combination: about a third of each small model's memory, which matters when a
process holds thousands of concurrent runs. Pydantic never mutates the set of a frozen
instance in place (``model_copy`` copies it before updating).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound=BaseModel)

_fields_sets: dict[frozenset[str], set[str]] = {}

# The slots of every pydantic model, set directly: what validation would leave behind.
_new = object.__new__
_set_dict = object.__setattr__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


class FrozenModel(BaseModel):
    """An immutable model (``frozen``, ``extra="forbid"``) that shares its fields-set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def model_post_init(self, context: Any, /) -> None:
        """Swap this instance's fields-set for the shared one with the same names."""
        own = self.__pydantic_fields_set__
        shared = _fields_sets.setdefault(frozenset(own), own)
        if shared is not own:
            object.__setattr__(self, "__pydantic_fields_set__", shared)


def shared_fields_set(*names: str) -> set[str]:
    """The one fields-set object shared by instances that were given exactly ``names``."""
    return _fields_sets.setdefault(frozenset(names), set(names))


def trusted(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """An instance of ``cls`` holding ``values`` as they are, without validation.

    For the loop's own per-cycle constructions from data that already has the field types (a
    validated model costs about four times as much): ``values`` must hold every field, in
    declaration order, and ``fields_set`` must come from :func:`shared_fields_set` with the
    names a caller of ``cls(...)`` would have passed. The model must have no private
    attributes. Tests compare each use with the validated constructor."""
    obj = _new(cls)
    _set_dict(obj, "__dict__", values)
    _set_fields_set(obj, fields_set)
    _set_extra(obj, None)
    _set_private(obj, None)
    return obj
