"""PyYAML's safe loader, extended to refuse duplicate mapping keys.

The plain safe loader silently keeps the last of two equal keys; in a skill's frontmatter or an
agents file that hides a mistake (two agents with one name), so both read YAML through this.
PyYAML is imported on first use only.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import cache
from typing import Any


@cache
def strict_loader() -> type[Any]:
    """A ``SafeLoader`` subclass (no arbitrary objects) that refuses duplicate mapping keys."""
    import yaml

    class StrictSafeLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, Hashable):
                    continue  # the base constructor reports unhashable keys itself
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictSafeLoader
