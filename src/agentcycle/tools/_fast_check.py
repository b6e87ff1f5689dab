"""A compiled fast path for the JSON Schema subset tool schemas use.

``jsonschema`` is the authority (and produces the error reports), but its per-call cost is tens
of microseconds even for a one-property object, paid on every tool call of every cycle. Tool
schemas almost always use a small keyword subset, so ``compile_check`` turns such a schema into
nested closures that answer "valid" in a few microseconds. It is conservative by construction:

- a schema with any keyword outside the subset compiles to ``None`` (always use jsonschema);
- the checker only ever says ``True`` when Draft 2020-12 agrees; on ``False`` the caller runs
  jsonschema, which reports the issues (so a disagreement can cost time, never correctness).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords with no effect on validity (annotations) or handled below.
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
        "format",
    }  # format is an annotation by default in Draft 2020-12
)
_HANDLED = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "const",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minItems",
        "maxItems",
        "anyOf",
        "$ref",
        "pattern",
        "$defs",
        "$schema",
    }
)


class _Unsupported(Exception):
    pass


def compile_check(schema: Any) -> Check | None:
    """A fast validity check for ``schema``, or ``None`` when it uses keywords outside the
    supported subset."""
    try:
        return _Compiler(schema).compile(schema)
    except _Unsupported:
        return None


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


_TYPE_TESTS: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": _is_integer,
}


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: booleans are not numbers, 1 == 1.0, containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _all_of(checks: list[Check]) -> Check:
    # A plain loop: ``all(c(v) for c in checks)`` allocates a generator on every check.
    def check(v: Any) -> bool:
        for c in checks:  # noqa: SIM110 (the comment above says why)
            if not c(v):
                return False
        return True

    return check


def _bounded(test: Callable[[Any, Any], bool], bound: float) -> Check:
    def check(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return True  # numeric bounds do not constrain other types
        return test(v, bound)

    return check


class _Compiler:
    def __init__(self, root: Any) -> None:
        self._root = root
        self._refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return lambda v: True
        if schema is False:
            return lambda v: False
        if not isinstance(schema, dict):
            raise _Unsupported
        unknown = schema.keys() - _ANNOTATIONS - _HANDLED
        if unknown:
            raise _Unsupported
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"]))
        if "type" in schema:
            checks.append(self._type(schema["type"]))
        if "enum" in schema:
            options = list(schema["enum"])
            checks.append(lambda v: any(_json_equal(v, o) for o in options))
        if "const" in schema:
            const = schema["const"]
            checks.append(lambda v: _json_equal(v, const))
        checks.extend(self._string(schema))
        checks.extend(self._number(schema))
        checks.extend(self._array(schema))
        checks.extend(self._object(schema))
        if "anyOf" in schema:
            branches = [self.compile(s) for s in schema["anyOf"]]
            checks.append(lambda v: any(b(v) for b in branches))
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        return _all_of(checks)

    def _ref(self, ref: Any) -> Check:
        if not isinstance(ref, str) or not ref.startswith("#/$defs/"):
            raise _Unsupported
        name = ref[len("#/$defs/") :]
        if "/" in name or "~" in name:
            raise _Unsupported
        if name not in self._refs:
            target = self._root.get("$defs", {}).get(name) if isinstance(self._root, dict) else None
            if target is None:
                raise _Unsupported
            holder: list[Check] = []
            self._refs[name] = lambda v: holder[0](v)  # allows recursive definitions
            holder.append(self.compile(target))
        return self._refs[name]

    def _type(self, declared: Any) -> Check:
        names = [declared] if isinstance(declared, str) else declared
        if not isinstance(names, list) or not all(n in _TYPE_TESTS for n in names):
            raise _Unsupported
        tests = [_TYPE_TESTS[n] for n in names]
        if len(tests) == 1:
            return tests[0]
        return lambda v: any(t(v) for t in tests)

    def _string(self, schema: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        if "minLength" in schema:
            low = schema["minLength"]
            checks.append(lambda v: not isinstance(v, str) or len(v) >= low)
        if "maxLength" in schema:
            high = schema["maxLength"]
            checks.append(lambda v: not isinstance(v, str) or len(v) <= high)
        if "pattern" in schema:
            try:
                regex = re.compile(schema["pattern"])
            except (re.error, TypeError) as exc:
                raise _Unsupported from exc
            checks.append(lambda v: not isinstance(v, str) or regex.search(v) is not None)
        return checks

    def _number(self, schema: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []

        for key, test in (
            ("minimum", operator.ge),
            ("maximum", operator.le),
            ("exclusiveMinimum", operator.gt),
            ("exclusiveMaximum", operator.lt),
        ):
            if key in schema:
                bound = schema[key]
                if not isinstance(bound, int | float) or isinstance(bound, bool):
                    raise _Unsupported
                checks.append(_bounded(test, bound))
        return checks

    def _array(self, schema: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        if "items" in schema:
            item = self.compile(schema["items"])
            checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))
        if "minItems" in schema:
            low = schema["minItems"]
            checks.append(lambda v: not isinstance(v, list) or len(v) >= low)
        if "maxItems" in schema:
            high = schema["maxItems"]
            checks.append(lambda v: not isinstance(v, list) or len(v) <= high)
        return checks

    def _object(self, schema: dict[str, Any]) -> list[Check]:
        checks: list[Check] = []
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise _Unsupported
        compiled = {name: self.compile(sub) for name, sub in properties.items()}
        required = schema.get("required", [])
        if not isinstance(required, list):
            raise _Unsupported
        extra = schema.get("additionalProperties", True)
        extra_check = self.compile(extra)

        def check_object(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for name in required:
                if name not in v:
                    return False
            for key, value in v.items():
                sub = compiled.get(key)
                if sub is None:
                    if not extra_check(value):
                        return False
                elif not sub(value):
                    return False
            return True

        if compiled or required or extra is not True:
            checks.append(check_object)
        return checks
