"""Split ``SKILL.md`` into its YAML frontmatter and markdown body, and parse the frontmatter.

The frontmatter is the block between a first line ``---`` and the next line ``---``. It is
parsed with PyYAML's safe loader (no arbitrary objects), extended to reject duplicate keys
(``agentcycle._yaml``).
"""

from __future__ import annotations

from typing import Any

from agentcycle._yaml import YAMLProblem, load_strict
from agentcycle.errors import SkillFrontmatterError

_DELIMITER = "---"


def split_frontmatter(text: str) -> tuple[str, str]:
    """``(frontmatter, body)`` of a ``SKILL.md`` text; raises ``SkillFrontmatterError`` when
    the text does not open with a closed ``---`` block."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != _DELIMITER:
        raise SkillFrontmatterError("SKILL.md must start with a '---' line opening the frontmatter")
    for index in range(1, len(lines)):
        if lines[index].rstrip() == _DELIMITER:
            return "".join(lines[1:index]), "".join(lines[index + 1 :])
    raise SkillFrontmatterError("the frontmatter opened on line 1 is never closed by '---'")


def parse_frontmatter(frontmatter: str) -> dict[str, Any]:
    """The frontmatter as a mapping; raises ``SkillFrontmatterError`` for malformed YAML, a
    duplicate key, or YAML that is not a mapping."""
    try:
        data = load_strict(frontmatter)
    except YAMLProblem as exc:
        # +2: the frontmatter starts on the file's second line, and lines count from 0.
        where = f" (SKILL.md line {exc.line + 2})" if exc.line is not None else ""
        raise SkillFrontmatterError(f"malformed YAML frontmatter{where}: {exc.problem}") from exc
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise SkillFrontmatterError(f"the frontmatter must be a YAML mapping, not {kind}")
    return data
