"""PyYAML's safe loader, extended to refuse duplicate mapping keys.

The plain safe loader silently keeps the last of two equal keys; in a skill's frontmatter or an
agents file that hides a mistake (two agents with one name), so both read YAML through
``load_strict``. PyYAML is imported on first use only.
"""

from __future__ import annotations

from collections.abc import Hashable
from functools import cache
from typing import Any


class YAMLProblem(Exception):
    """Why a YAML text did not load: ``problem``, and where (``line``, ``column``, counted from
    0) when PyYAML knows; ``line`` is ``None`` when it does not."""

    def __init__(self, problem: str, line: int | None = None, column: int = 0) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = line
        self.column = column


def load_strict(text: str) -> Any:
    """``text`` parsed with ``strict_loader``; raises ``YAMLProblem`` for malformed YAML or a
    duplicate key."""
    import yaml

    try:
        return yaml.load(text, Loader=strict_loader())  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is None:
            raise YAMLProblem(problem) from exc
        raise YAMLProblem(problem, mark.line, mark.column) from exc
    except yaml.YAMLError as exc:
        raise YAMLProblem(str(exc)) from exc


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
