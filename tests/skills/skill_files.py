"""Writing skill directories for the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_skill(
    root: Path,
    name: str,
    description: str = "Does one thing well.",
    *,
    body: str = "Follow these steps.",
    directory: str | None = None,
    **fields: Any,
) -> Path:
    """A skill directory ``root/<directory or name>`` with a SKILL.md built from the fields
    (``allowed_tools=`` becomes ``allowed-tools``)."""
    front: dict[str, Any] = {"name": name, "description": description}
    for key, value in fields.items():
        front[key.replace("_", "-")] = value
    return write_skill_text(
        root, directory or name, f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n{body}\n"
    )


def write_skill_text(root: Path, directory: str, text: str | bytes) -> Path:
    """A skill directory whose SKILL.md holds ``text`` verbatim."""
    path = root / directory
    path.mkdir(parents=True, exist_ok=True)
    target = path / "SKILL.md"
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8")
    return path
