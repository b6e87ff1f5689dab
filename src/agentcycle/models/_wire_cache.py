"""An identity-keyed cache of wire shapes for immutable messages.

History only grows by appending immutable messages, so each message needs converting to a
provider's wire shape once, not once per cycle. Messages are pydantic models whose equality and
hash are by value (and content lists are unhashable), so a ``WeakKeyDictionary`` does not fit;
this cache keys by ``id()`` and holds a weak reference whose callback drops the entry when the
message dies, before its id can be reused.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class WireCache(Generic[K, V]):
    """Maps live objects (by identity) to their converted wire value."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[K], V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, obj: K, convert: Callable[[K], V]) -> V:
        """The cached value for ``obj``, converting (and caching) it on first sight.

        Objects that cannot be weakly referenced are converted every time.
        """
        key = id(obj)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is obj:
            return entry[1]
        value = convert(obj)
        entries = self._entries

        def drop(ref: weakref.ref[K], key: int = key) -> None:
            current = entries.get(key)
            if current is not None and current[0] is ref:
                entries.pop(key, None)

        try:
            ref = weakref.ref(obj, drop)
        except TypeError:
            return value
        entries[key] = (ref, value)
        return value
