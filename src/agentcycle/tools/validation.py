"""Tool-call argument parsing and JSON Schema (Draft 2020-12) validation.

``validate_arguments`` reports every problem as a ``ValidationIssue`` with a JSON-pointer path
and the failing keyword, phrased for the model that has to repair its call. ``jsonschema`` is
imported on first use (it is slow to import) and one compiled validator is cached per schema
object, so a call costs only the validation itself. Schemas are treated as immutable once
used: mutate a copy, not a schema that has been validated against.
"""

from __future__ import annotations

import heapq
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcycle.errors import ToolArgumentsError, ToolDefinitionError
from agentcycle.tools._fast_check import Check, compile_check

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

_MESSAGE_LIMIT = 300
_CACHE_LIMIT = 1024

MAX_ARGUMENTS_CHARS = 1_000_000
"""Longest raw argument text accepted (code ``tool_arguments_too_large``)."""

MAX_ARGUMENTS_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (code ``tool_arguments_too_deep``); the
top-level object is depth 1. Far beyond any real schema, far below the interpreter's recursion
limit, which the decoder, the validator and every later ``json.dumps`` would otherwise hit."""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One way the arguments fail their schema.

    ``path`` points at the offending value (``"/todos/0/status"``; for a missing or unexpected
    property, at that property; ``""`` is the whole arguments object). ``rule`` is the failing
    JSON Schema keyword (``required``, ``type``, ``enum``, ``additionalProperties`` ...).
    """

    path: str
    rule: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """``{"path", "rule", "message"}`` for error results and events."""
        return {"path": self.path, "rule": self.rule, "message": self.message}


# --------------------------------------------------------------------------- parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every call: json.loads(text, parse_constant=...) builds a new one each time.
# Its C scanner is called directly: ``decode`` adds two Python calls and two regex matches for
# the whitespace around the value, which ``parse_arguments`` has stripped already.
_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder(
    parse_constant=_reject_constant
).scan_once  # type: ignore[attr-defined]  # set in __init__, not declared in the stubs


def parse_arguments(raw: str | None) -> dict[str, Any]:
    """Parse a tool call's raw argument text into a dict.

    Empty or blank text means no arguments (``{}``): models send it for parameterless tools.
    Raises ``ToolArgumentsError`` with code ``invalid_arguments_json`` for text that is not
    JSON (``NaN`` and ``Infinity`` included) or not a JSON object, ``tool_arguments_too_large``
    for text over :data:`MAX_ARGUMENTS_CHARS` and ``tool_arguments_too_deep`` for nesting
    over :data:`MAX_ARGUMENTS_DEPTH`.
    """
    text = raw.strip() if raw else ""
    if not text:
        return {}
    if len(text) > MAX_ARGUMENTS_CHARS:
        raise ToolArgumentsError(
            f"Arguments are {len(text):,} characters long; the limit is "
            f"{MAX_ARGUMENTS_CHARS:,}. Send less data per call (write big content in parts).",
            code="tool_arguments_too_large",
        )
    try:
        try:
            value, end = _SCAN(text, 0)
        except StopIteration as stop:  # what ``decode`` turns it into
            raise json.JSONDecodeError("Expecting value", text, stop.value) from None
        if end != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as exc:
        raise ToolArgumentsError(
            f"Arguments are not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})."
            " Send one JSON object.",
            code="invalid_arguments_json",
        ) from None
    except ValueError as exc:
        raise ToolArgumentsError(
            f"Arguments are not valid JSON ({exc}). Send one JSON object.",
            code="invalid_arguments_json",
        ) from None
    if not isinstance(value, dict):
        raise ToolArgumentsError(
            f"Arguments must be a JSON object, got {_json_type(value)}.",
            code="invalid_arguments_json",
        )
    # Each level opens a bracket, so text with few brackets cannot nest deeply: the walk is
    # only needed for the rare call with many (counting is a C loop over the text).
    brackets = text.count("{") + text.count("[")
    if (
        brackets > MAX_ARGUMENTS_DEPTH
        and nesting_depth(value, MAX_ARGUMENTS_DEPTH) > MAX_ARGUMENTS_DEPTH
    ):
        raise _too_deep()
    return value


def _too_deep() -> ToolArgumentsError:
    return ToolArgumentsError(
        f"Arguments are nested more than {MAX_ARGUMENTS_DEPTH} levels deep. Send a flatter "
        "JSON object.",
        code="tool_arguments_too_deep",
    )


def nesting_depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests lists, tuples and dicts (a scalar is 0, ``{}`` is 1).

    Iterative, so any depth can be measured; it stops early and returns ``limit + 1`` once the
    depth passes ``limit``.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return limit + 1
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


# --------------------------------------------------------------------------- compiled validators

# id(schema) -> (schema, validator, fast check). Holding the schema keeps its id from being
# reused by another object while the entry lives.
_validators: dict[int, tuple[dict[str, Any], Validator, Check | None]] = {}
# Canonical JSON text -> (validator, fast check): equal schemas built as separate objects (a
# tool made per run, many runs alive at once) share one metaschema check, which costs
# milliseconds, instead of evicting each other from the id cache and re-checking.
_by_content: dict[str, tuple[Validator, Check | None]] = {}
_lock = threading.Lock()


def _validator_for(schema: dict[str, Any]) -> tuple[Validator, Check | None]:
    entry = _validators.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1], entry[2]
    key = json.dumps(schema, sort_keys=True, default=repr)
    compiled = _by_content.get(key)
    if compiled is None:
        compiled = _compile(schema)
    with _lock:
        if len(_validators) >= _CACHE_LIMIT:
            _validators.pop(next(iter(_validators)))
        if len(_by_content) >= _CACHE_LIMIT:
            _by_content.pop(next(iter(_by_content)))
        _validators[id(schema)] = (schema, *compiled)
        _by_content[key] = compiled
    return compiled


def _compile(schema: dict[str, Any]) -> tuple[Validator, Check | None]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = json_pointer(exc.absolute_path)
        raise ToolDefinitionError(
            f"Invalid JSON Schema at {where or '(root)'}: {_truncate(exc.message)}",
            details={"path": where, "rule": str(exc.validator)},
        ) from None
    validator: Validator = Draft202012Validator(schema)
    return validator, compile_check(schema)


def check_schema(schema: dict[str, Any]) -> None:
    """Reject a tool parameter schema that is not valid Draft 2020-12 or not an object schema.

    Raises ``ToolDefinitionError``. The check compiles and caches the validator that
    ``validate_arguments`` will use, so it costs nothing extra later.
    """
    if not isinstance(schema, dict):
        raise ToolDefinitionError(
            f"A tool's parameters must be a JSON Schema object, got {type(schema).__name__}."
        )
    if schema.get("type") != "object":
        raise ToolDefinitionError(
            'A tool\'s parameters schema must describe an object ("type": "object").'
        )
    _validator_for(schema)


# --------------------------------------------------------------------------- validation


def validate_arguments(schema: dict[str, Any], arguments: Any) -> list[ValidationIssue]:
    """Every way ``arguments`` fails ``schema``, sorted by path; empty when valid.

    Raises ``ToolDefinitionError`` if the schema itself is invalid.
    """
    validator, fast = _validator_for(schema)
    if fast is not None and fast(arguments):
        return []  # the compiled subset check only ever accepts what jsonschema accepts
    issues: dict[tuple[str, str], ValidationIssue] = {}
    for error in validator.iter_errors(arguments):
        for leaf in _leaves(error):
            for issue in _issues(leaf):
                issues.setdefault((issue.path, issue.rule), issue)
    return sorted(issues.values(), key=lambda issue: (issue.path, issue.rule))


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The errors inside ``anyOf``/``oneOf`` that best explain ``error``.

    Descends into the branch whose errors are deepest and fit the value's type (jsonschema's
    relevance order); when no branch stands out, the combinator error itself is the leaf.
    """
    if not error.context:
        yield error
        return
    from jsonschema.exceptions import relevance

    best = heapq.nsmallest(2, error.context, key=relevance)
    if len(best) == 2 and relevance(best[0]) == relevance(best[1]):
        yield error
        return
    branch = best[0].relative_schema_path[0]
    for sub in error.context:
        if sub.relative_schema_path[0] == branch:
            yield from _leaves(sub)


def _issues(error: ValidationError) -> Iterator[ValidationIssue]:
    path = json_pointer(error.absolute_path)
    rule = str(error.validator)
    instance = error.instance
    if rule == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance:
                yield ValidationIssue(f"{path}/{_escape(name)}", rule, "missing required property")
        return
    if rule == "additionalProperties" and isinstance(instance, dict):
        for name in _extra_properties(instance, error.schema):
            yield ValidationIssue(f"{path}/{_escape(name)}", rule, "unexpected property")
        return
    yield ValidationIssue(path, *_describe(error))


def _describe(error: ValidationError) -> tuple[str, str]:
    """The rule and a short message for an error, written for the model."""
    rule = str(error.validator)
    value = error.validator_value
    got = _json_type(error.instance)
    if rule == "type":
        expected = value if isinstance(value, list) else [value]
        return rule, f"expected {' or '.join(map(str, expected))}, got {got}"
    if rule == "enum":
        allowed = ", ".join(json.dumps(item, ensure_ascii=False) for item in value)
        return rule, _truncate(f"must be one of: {allowed}")
    if rule == "const":
        return rule, _truncate(f"must be {json.dumps(value, ensure_ascii=False)}")
    if rule in ("anyOf", "oneOf") and error.context:
        # ``x: int | None`` given a string: every branch fails on type alone.
        if all(sub.validator == "type" and not sub.relative_path for sub in error.context):
            expected = []
            for sub in error.context:
                sub_value = sub.validator_value
                for name in sub_value if isinstance(sub_value, list) else [sub_value]:
                    if name not in expected:
                        expected.append(name)
            return "type", f"expected {' or '.join(map(str, expected))}, got {got}"
        return rule, f"does not match any allowed form ({got} given)"
    return rule, _truncate(error.message)


def _extra_properties(instance: dict[str, Any], schema: Any) -> list[str]:
    if not isinstance(schema, dict):
        return []
    known = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [
        name for name in instance if name not in known and not any(p.search(name) for p in patterns)
    ]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _escape(part: object) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def json_pointer(parts: Iterable[object]) -> str:
    """A JSON Pointer (RFC 6901) for a path of keys and indexes; ``""`` for the root."""
    return "".join(f"/{_escape(part)}" for part in parts)


def _truncate(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"
