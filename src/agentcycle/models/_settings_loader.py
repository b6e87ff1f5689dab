"""Reading settings files: JSON, TOML, or a Python file's ``LLM_SETTINGS`` literal.

A ``.py`` settings file is parsed with ``ast`` and only the expression assigned to
``LLM_SETTINGS`` is evaluated, with ``ast.literal_eval``: nothing in the file is executed, so
a settings file cannot run code (and cannot compute values either; keys come from the
environment through ``api_key_env``). Error messages name the file and the position, never
file content, because that content may hold API keys.
"""

from __future__ import annotations

import ast
import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from agentcycle.errors import SettingsFileError

SUFFIXES = (".json", ".toml", ".py")
SETTINGS_NAME = "LLM_SETTINGS"


_KINDS = (
    (stat.S_ISDIR, "directory", "a directory"),
    (stat.S_ISFIFO, "fifo", "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "socket", "a socket"),
    (stat.S_ISCHR, "character_device", "a character device"),
    (stat.S_ISBLK, "block_device", "a block device"),
)


def settings_path_problem(path: Path) -> tuple[str, str] | None:
    """Why ``path`` cannot be a settings file, as ``(kind, words)``: ``("missing", "does not
    exist")``, ``("fifo", "is a named pipe (FIFO), not a regular file")`` and so on; ``None``
    for a regular file (or a link to one).

    Only ``stat`` looks at the path, never ``open``: opening a FIFO would wait for a writer.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing", "does not exist"
    except NotADirectoryError:
        return "missing", "does not exist (a parent of it is a file)"
    except OSError as exc:
        return "unreadable", f"cannot be looked at ({exc.strerror or type(exc).__name__})"
    if stat.S_ISREG(mode):
        return None
    for test, kind, words in _KINDS:
        if test(mode):
            return kind, f"is {words}, not a regular file"
    return "special", "is not a regular file"


def read_settings_data(path: Path) -> dict[str, Any]:
    """The raw settings mapping stored in ``path`` (not yet validated).

    Raises ``SettingsFileError`` for a missing or unreadable file, an unknown suffix, a
    syntax error, a ``.py`` file without a literal ``LLM_SETTINGS``, or a top level that is
    not a mapping.
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise SettingsFileError(
            f"{path}: unsupported settings file type {suffix or '(none)'!r}; "
            "use .json, .toml or .py",
            details={"path": str(path)},
        )
    problem = settings_path_problem(path)
    if problem is not None and problem[0] != "missing":  # missing: the read below says so
        raise SettingsFileError(
            f"{path}: the settings file {problem[1]}",
            details={"path": str(path), "kind": problem[0]},
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsFileError(
            f"{path}: settings file not found", details={"path": str(path)}
        ) from None
    except UnicodeDecodeError:
        raise SettingsFileError(
            f"{path}: settings file is not UTF-8 text", details={"path": str(path)}
        ) from None
    except OSError as exc:
        raise SettingsFileError(
            f"{path}: cannot read settings file ({exc.strerror or type(exc).__name__})",
            details={"path": str(path)},
        ) from None
    if suffix == ".json":
        data = _parse_json(text, path)
    elif suffix == ".toml":
        data = _parse_toml(text, path)
    else:
        data = _parse_python(text, path)
    if not isinstance(data, dict):
        raise SettingsFileError(
            f"{path}: the settings must be a mapping (object / table / dict), "
            f"got {type(data).__name__}",
            details={"path": str(path)},
        )
    return data


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsFileError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            details={"path": str(path), "line": exc.lineno},
        ) from None


def _parse_toml(text: str, path: Path) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's messages carry the position ("... (at line 3, column 9)"), not content.
        raise SettingsFileError(
            f"{path}: invalid TOML: {exc}", details={"path": str(path)}
        ) from None


def _parse_python(text: str, path: Path) -> Any:
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise SettingsFileError(
            f"{path}: Python syntax error at line {exc.lineno}: {exc.msg}",
            details={"path": str(path), "line": exc.lineno},
        ) from None
    value: ast.expr | None = None
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and any(
                isinstance(target, ast.Name) and target.id == SETTINGS_NAME
                for target in statement.targets
            )
        ) or (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and statement.target.id == SETTINGS_NAME
            and statement.value is not None
        ):
            value = statement.value
    if value is None:
        raise SettingsFileError(
            f"{path}: no top-level `{SETTINGS_NAME} = {{...}}` assignment found",
            details={"path": str(path)},
        )
    try:
        return ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        bad = _first_non_literal(value) or value
        raise SettingsFileError(
            f"{path}: {SETTINGS_NAME} must be a plain literal (dicts, lists, strings, numbers, "
            f"booleans, None) but contains {_describe(bad)} at line {bad.lineno}, column "
            f"{bad.col_offset + 1}. Settings files are read, never executed; to take an API "
            "key from the environment use api_key_env.",
            details={"path": str(path), "line": bad.lineno},
        ) from None


_LITERAL_NODES = (ast.Constant, ast.Dict, ast.List, ast.Tuple, ast.Set, ast.UnaryOp)


def _first_non_literal(node: ast.expr) -> ast.expr | None:
    """The first sub-expression (in source order) that ``literal_eval`` cannot take."""
    offenders = [
        sub
        for sub in ast.walk(node)
        if isinstance(sub, ast.expr) and not isinstance(sub, _LITERAL_NODES)
    ]
    return min(offenders, key=lambda sub: (sub.lineno, sub.col_offset), default=None)


def _describe(node: ast.expr) -> str:
    """A content-free description of an expression (it might embed a secret)."""
    if isinstance(node, ast.Call):
        return "a function call"
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    if isinstance(node, ast.Attribute):
        return "an attribute access"
    if isinstance(node, ast.Subscript):
        return "a subscript"
    if isinstance(node, ast.BinOp | ast.BoolOp | ast.Compare):
        return "an operator expression"
    if isinstance(node, ast.JoinedStr):
        return "an f-string"
    if isinstance(node, ast.Constant | ast.Dict | ast.List | ast.Tuple | ast.Set | ast.UnaryOp):
        return "a value literal_eval cannot build (e.g. an unhashable set member)"
    return f"an expression ({type(node).__name__})"
