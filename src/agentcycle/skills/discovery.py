"""Skill discovery: find skill directories under roots, load and validate each ``SKILL.md``.

A skill is a directory holding a ``SKILL.md`` whose YAML frontmatter declares

- ``name`` (required): 1..64 characters, lowercase letters and digits in groups joined by
  single hyphens (``pdf-tools``), equal to the directory's name;
- ``description`` (required): what the skill is for and when to use it, at most 1,024
  characters;
- ``allowed-tools`` (optional): the tools the skill may use while active, as a YAML list or a
  string separated by spaces or commas; each entry is a tool name;
- ``metadata`` (optional): a mapping with string keys, kept as is.

Other keys (``license``, ``compatibility``, keys of other ecosystems) are accepted and ignored.
The markdown after the frontmatter is the skill's instructions and must not be empty; the whole
file is at most ``MAX_SKILL_FILE_BYTES``.

A root is either one skill directory (it holds ``SKILL.md`` itself) or a directory of skill
directories (its subdirectories, in name order; names starting with ``.`` or ``_`` are
skipped). Roots are read in order (a directory given twice is read once) and the first skill
with a given name wins. A skill that fails validation becomes a ``SkillIssue`` and never stops
the others from loading; only a root that is not a directory is a configuration error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcycle.errors import (
    ConfigurationError,
    DuplicateSkill,
    InvalidSkillField,
    InvalidSkillName,
    MissingSkillField,
    SkillError,
    SkillFileMissing,
    SkillNameMismatch,
    SkillTooLarge,
    SkillUnreadable,
)
from agentcycle.skills._frontmatter import parse_frontmatter, split_frontmatter

SKILL_FILE = "SKILL.md"
MAX_SKILL_FILE_BYTES = 32 * 1024
"""Largest ``SKILL.md`` accepted (frontmatter and instructions): its body enters the
conversation whole when the skill is activated."""
MAX_DESCRIPTION_CHARS = 1_024
MAX_NAME_CHARS = 64

_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TOOL_SEPARATORS = re.compile(r"[\s,]+")


@dataclass(frozen=True, slots=True)
class Skill:
    """A validated skill: its frontmatter fields and its instructions (the markdown body).

    ``allowed_tools`` is ``None`` when the skill does not restrict tools.
    """

    name: str
    description: str
    instructions: str
    path: Path
    """The skill's directory."""
    allowed_tools: tuple[str, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class SkillIssue:
    """A skill directory that was not loaded, and why (``code`` is the ``SkillError`` code)."""

    path: str
    code: str
    message: str
    name: str | None = None
    """The skill's name when it was read before the failure."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description."""
        return {"path": self.path, "code": self.code, "message": self.message, "name": self.name}


@dataclass(frozen=True, slots=True)
class SkillCatalog:
    """The skills available to a run, in discovery order, and the directories rejected."""

    skills: tuple[Skill, ...] = ()
    issues: tuple[SkillIssue, ...] = ()

    def get(self, name: str) -> Skill | None:
        """The skill called ``name``, or ``None``."""
        return next((skill for skill in self.skills if skill.name == name), None)

    @property
    def names(self) -> list[str]:
        """Every skill name, sorted."""
        return sorted(skill.name for skill in self.skills)


def discover_skills(roots: Iterable[str | Path]) -> SkillCatalog:
    """Load every skill under ``roots`` (see the module docstring for the layout and rules).

    Raises ``ConfigurationError`` only for a root that is not a directory; every problem with a
    single skill is returned in ``SkillCatalog.issues``.
    """
    skills: dict[str, Skill] = {}
    issues: list[SkillIssue] = []
    for directory in _skill_dirs(roots):
        try:
            skill = load_skill(directory)
            if skill.name in skills:
                raise DuplicateSkill(
                    f"a skill named {skill.name!r} was already loaded from "
                    f"{skills[skill.name].path}; this one is ignored",
                    details={"name": skill.name},
                )
        except SkillError as exc:
            name = exc.details.get("name") if isinstance(exc.details, dict) else None
            issues.append(SkillIssue(str(directory), exc.code, exc.message, name))
            continue
        skills[skill.name] = skill
    return SkillCatalog(tuple(skills.values()), tuple(issues))


def load_skill(directory: str | Path) -> Skill:
    """Load and validate the skill in ``directory``; raises a ``SkillError`` subclass."""
    directory = Path(directory)
    path = directory / SKILL_FILE
    if not path.is_file():
        raise SkillFileMissing(f"no {SKILL_FILE} in {directory}")
    try:
        size = path.stat().st_size
        if size > MAX_SKILL_FILE_BYTES:
            raise SkillTooLarge(
                f"{SKILL_FILE} is {size} bytes; the limit is {MAX_SKILL_FILE_BYTES}",
                details={"limit": "file_bytes", "size": size, "max": MAX_SKILL_FILE_BYTES},
            )
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff").replace("\r\n", "\n")
    except UnicodeDecodeError as exc:
        raise SkillUnreadable(f"{SKILL_FILE} is not UTF-8 text: {exc.reason}") from exc
    except OSError as exc:
        raise SkillUnreadable(f"cannot read {SKILL_FILE}: {exc.strerror or exc}") from exc
    frontmatter, body = split_frontmatter(text)
    data = parse_frontmatter(frontmatter)
    name = _name(data, directory.name)
    try:
        return Skill(
            name=name,
            description=_description(data),
            instructions=_instructions(body),
            path=directory,
            allowed_tools=_allowed_tools(data.get("allowed-tools")),
            metadata=_metadata(data.get("metadata")),
        )
    except SkillError as exc:
        exc.details = {**(exc.details or {}), "name": name}
        raise


def _skill_dirs(roots: Iterable[str | Path]) -> Iterator[Path]:
    seen: set[Path] = set()
    for given in roots:
        root = Path(given).expanduser()
        if not root.is_dir():
            raise ConfigurationError(f"skills directory {str(root)!r} is not a directory")
        if root.resolve() in seen:  # the same directory given twice is read once
            continue
        seen.add(root.resolve())
        if (root / SKILL_FILE).is_file():
            yield root
            continue
        for child in sorted(root.iterdir(), key=lambda p: p.name):
            if child.is_dir() and not child.name.startswith((".", "_")):
                yield child


def _name(data: Mapping[str, Any], directory_name: str) -> str:
    name = data.get("name")
    if name is None or name == "":
        raise MissingSkillField("the frontmatter has no 'name'", details={"field": "name"})
    if not isinstance(name, str):
        raise InvalidSkillName(f"'name' must be a string, not {type(name).__name__}")
    if len(name) > MAX_NAME_CHARS or not _NAME.fullmatch(name):
        raise InvalidSkillName(
            f"invalid skill name {name!r}: use 1..{MAX_NAME_CHARS} lowercase letters and digits, "
            "words joined by single hyphens (e.g. 'pdf-tools')",
            details={"name": name},
        )
    if name != directory_name:
        raise SkillNameMismatch(
            f"the skill is named {name!r} but its directory is {directory_name!r}; they must match",
            details={"name": name, "directory": directory_name},
        )
    return name


def _description(data: Mapping[str, Any]) -> str:
    description = data.get("description")
    if description is None or (isinstance(description, str) and not description.strip()):
        raise MissingSkillField(
            "the frontmatter has no 'description'", details={"field": "description"}
        )
    if not isinstance(description, str):
        raise InvalidSkillField(
            f"'description' must be a string, not {type(description).__name__}",
            details={"field": "description"},
        )
    description = " ".join(description.split())
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise SkillTooLarge(
            f"the description has {len(description)} characters; the limit is "
            f"{MAX_DESCRIPTION_CHARS}",
            details={"limit": "description_chars", "size": len(description)},
        )
    return description


def _instructions(body: str) -> str:
    instructions = body.strip()
    if not instructions:
        raise MissingSkillField(
            "SKILL.md has no instructions after the frontmatter", details={"field": "body"}
        )
    return instructions


def _allowed_tools(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        entries: list[Any] = [e for e in _TOOL_SEPARATORS.split(value) if e]
    elif isinstance(value, list):
        entries = value
    else:
        raise InvalidSkillField(
            f"'allowed-tools' must be a list or a string, not {type(value).__name__}",
            details={"field": "allowed-tools"},
        )
    bad = [e for e in entries if not isinstance(e, str) or not _TOOL_NAME.fullmatch(e)]
    if bad:
        raise InvalidSkillField(
            f"'allowed-tools' entries must be tool names; invalid: {', '.join(map(repr, bad))}",
            details={"field": "allowed-tools"},
        )
    return tuple(dict.fromkeys(entries))


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise InvalidSkillField(
            "'metadata' must be a mapping with string keys", details={"field": "metadata"}
        )
    return dict(value)
