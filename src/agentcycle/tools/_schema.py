"""Type hints -> JSON Schema and argument coercion for ``function_tool``.

A function's signature becomes a pydantic model (one field per parameter, aliased to the
parameter name so names such as ``json`` or ``_private`` cannot clash with pydantic's own
attributes). The model gives two things: the JSON Schema the model is shown, and the coercion of
validated JSON arguments into the declared Python types (a dict into a pydantic model or a
dataclass, a string into an Enum member) before the function is called.

The pydantic schema is then normalised for tool use: ``title`` noise removed, non-recursive
``$ref``s inlined (only recursive types keep ``$defs``), and every object with ``properties``
closed with ``additionalProperties: false`` unless the tool is declared non-strict.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PydanticUserError, TypeAdapter, create_model
from pydantic.fields import FieldInfo

from agentcycle.errors import ToolDefinitionError
from agentcycle.tools.base import ToolContext

# --------------------------------------------------------------------------- docstrings

_SECTION_HEADER = re.compile(r"^(?P<title>[A-Za-z][A-Za-z ]*):\s*$")
_PARAM_SECTIONS = frozenset(
    {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
)
_GOOGLE_ENTRY = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(?:\([^)]*\))?\s*:\s*(?P<desc>.*)$")
_SPHINX_PARAM = re.compile(
    r"^:param\s+(?:(?P<type>.+?)\s+)?\*{0,2}(?P<name>\w+)\s*:\s*(?P<desc>.*)$"
)


@dataclass(frozen=True, slots=True)
class DocInfo:
    """What a docstring says: the tool description and per-parameter descriptions."""

    description: str = ""
    params: dict[str, str] = field(default_factory=dict)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def parse_docstring(doc: str | None) -> DocInfo:
    """Split a docstring into its first paragraph and parameter descriptions.

    Parameter descriptions come from Google-style ``Args:`` sections (also ``Arguments:``,
    ``Parameters:``, ``Keyword Args:``) and from Sphinx ``:param name:`` fields. Continuation
    lines are joined with single spaces.
    """
    if not doc:
        return DocInfo()
    lines = inspect.cleandoc(doc).splitlines()
    summary: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped or _SECTION_HEADER.match(stripped) or stripped.startswith(":"):
            break
        summary.append(stripped)
    params = _google_params(lines)
    params.update(_sphinx_params(lines))
    return DocInfo(description=" ".join(summary), params=params)


def _google_params(lines: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    i = 0
    while i < len(lines):
        header = _SECTION_HEADER.match(lines[i].strip())
        if not header or header["title"].strip().lower() not in _PARAM_SECTIONS:
            i += 1
            continue
        header_indent = _indent(lines[i])
        entry_indent: int | None = None
        current: str | None = None
        i += 1
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                continue
            indent = _indent(line)
            if indent <= header_indent:
                break
            if entry_indent is None:
                entry_indent = indent
            entry = _GOOGLE_ENTRY.match(line.strip()) if indent == entry_indent else None
            if entry:
                current = entry["name"]
                params[current] = entry["desc"].strip()
            elif current is not None and indent > entry_indent:
                params[current] = f"{params[current]} {line.strip()}".strip()
            i += 1
    return params


def _sphinx_params(lines: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        match = _SPHINX_PARAM.match(stripped)
        if match:
            current = match["name"]
            params[current] = match["desc"].strip()
        elif stripped.startswith(":") or not stripped or _indent(line) == 0:
            current = None
        elif current is not None:
            params[current] = f"{params[current]} {stripped}".strip()
    return params


# --------------------------------------------------------------------------- schema normalising

# Keywords whose value is one schema, a list of schemas, or a name -> schema mapping. Walking
# only these keeps values such as ``default``, ``enum`` and ``const`` untouched (a default
# dict may well contain a key called "title").
_SCHEMA_KEYS = frozenset(
    {
        "items",
        "additionalProperties",
        "not",
        "contains",
        "propertyNames",
        "if",
        "then",
        "else",
        "unevaluatedItems",
        "unevaluatedProperties",
        "additionalItems",
    }
)
_SCHEMA_LIST_KEYS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})
_SCHEMA_MAP_KEYS = frozenset({"properties", "patternProperties", "dependentSchemas"})
_DEFS_PREFIX = "#/$defs/"


class _Normaliser:
    """One pass over a pydantic schema: strip titles, inline refs, close objects."""

    def __init__(self, defs: dict[str, Any], *, closed: bool) -> None:
        self._defs = defs
        self._closed = closed
        self.kept: dict[str, Any] = {}
        self._wanted: set[str] = set()

    def run(self, schema: dict[str, Any]) -> dict[str, Any]:
        out = self._node(schema, ())
        # Recursive types cannot be inlined; their definitions stay in ``$defs``, themselves
        # normalised (which may reveal further recursive definitions to keep).
        while self._wanted - self.kept.keys():
            name = sorted(self._wanted - self.kept.keys())[0]
            self.kept[name] = {}
            self.kept[name] = self._node(self._defs[name], (name,))
        if self.kept:
            out["$defs"] = self.kept
        return out

    def _node(self, node: Any, stack: tuple[str, ...]) -> Any:
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = (
            ref.removeprefix(_DEFS_PREFIX)
            if isinstance(ref, str) and ref.startswith(_DEFS_PREFIX)
            else None
        )
        if name is not None and name in self._defs:
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if name in stack:
                self._wanted.add(name)
                return {"$ref": ref, **self._plain(siblings, stack)}
            target = self._node(self._defs[name], (*stack, name))
            # Siblings (a field's own description or default) override the definition's.
            return {**target, **self._plain(siblings, stack)}
        return self._plain(node, stack)

    def _plain(self, node: dict[str, Any], stack: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "title" and isinstance(value, str):
                continue
            if key == "$defs":
                continue
            if key in _SCHEMA_KEYS:
                out[key] = self._node(value, stack)
            elif key in _SCHEMA_LIST_KEYS and isinstance(value, list):
                out[key] = [self._node(item, stack) for item in value]
            elif key in _SCHEMA_MAP_KEYS and isinstance(value, dict):
                out[key] = {name: self._node(sub, stack) for name, sub in value.items()}
            else:
                out[key] = value
        if self._closed and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out


def normalise_schema(schema: dict[str, Any], *, closed: bool = True) -> dict[str, Any]:
    """A tool-ready copy of a pydantic JSON Schema.

    Titles are dropped, ``$ref``s into ``$defs`` are inlined except for recursive types, and
    with ``closed`` every object that lists ``properties`` gets ``additionalProperties: false``
    (an explicit ``additionalProperties`` is kept).
    """
    return _Normaliser(dict(schema.get("$defs", {})), closed=closed).run(schema)


# --------------------------------------------------------------------------- signatures


@dataclass(frozen=True, slots=True)
class _Param:
    name: str
    field: str
    keyword_only: bool
    plain: type | None = None
    """``str``, ``int`` or ``bool`` when that is the whole annotation: a JSON value of exactly
    that type is what pydantic would pass, so ``bind`` may pass it without the model."""
    default: Any = inspect.Parameter.empty


_PLAIN_TYPES = (str, int, bool)
_SCALAR_DEFAULTS = (type(None), str, int, bool, float)
_MISSING = object()


@dataclass(frozen=True, slots=True)
class SignaturePlan:
    """How to turn validated JSON arguments into a call of the function."""

    takes_context: bool
    parameters: dict[str, Any]
    """The normalised JSON Schema of the arguments object."""
    model: type[BaseModel]
    params: tuple[_Param, ...]

    def bind(self, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments for the call (without the context).

        Raises ``pydantic.ValidationError`` when the arguments do not coerce.
        """
        plain = self._bind_plain(arguments)
        if plain is not None:
            return plain
        values = self.model.model_validate(arguments)
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for param in self.params:
            value = getattr(values, param.field)
            if param.keyword_only:
                kwargs[param.name] = value
            else:
                args.append(value)
        return args, kwargs

    def _bind_plain(self, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]] | None:
        """The call's arguments without the pydantic model (about 1 µs less a call), when
        every parameter is plain and each value has exactly its type (or is left out and has
        a scalar default), and no unknown name is given; else ``None``: the model decides."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        given = 0
        for param in self.params:
            if param.plain is None:
                return None
            value = arguments.get(param.name, _MISSING)
            if value is _MISSING:
                if param.default is inspect.Parameter.empty:
                    return None
                value = param.default
            elif type(value) is not param.plain:
                return None
            else:
                given += 1
            if param.keyword_only:
                kwargs[param.name] = value
            else:
                args.append(value)
        return (args, kwargs) if given == len(arguments) else None


def _plain_param(name: str, field_name: str, param: inspect.Parameter) -> _Param:
    keyword_only = param.kind is param.KEYWORD_ONLY
    default = param.default
    if param.annotation not in _PLAIN_TYPES or (
        default is not inspect.Parameter.empty and type(default) not in _SCALAR_DEFAULTS
    ):
        return _Param(name, field_name, keyword_only)
    return _Param(name, field_name, keyword_only, param.annotation, default)


def _is_context(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, ToolContext)


def _signature(func: Callable[..., Any], tool_name: str) -> inspect.Signature:
    try:
        return inspect.signature(func, eval_str=True)
    except NameError:
        pass
    # ``ToolContext`` is often imported under ``TYPE_CHECKING`` only; supply it so such a
    # string annotation still resolves. Any other unresolvable name is a definition error.
    try:
        return inspect.signature(func, locals={"ToolContext": ToolContext}, eval_str=True)
    except NameError as exc:
        raise ToolDefinitionError(
            f"Tool {tool_name!r}: cannot resolve the type hint {exc.name!r}. Types used in a "
            "tool's signature must be importable from the function's module (not local to a "
            "function) when annotations are strings."
        ) from exc


def build_plan(
    func: Callable[..., Any], *, tool_name: str, param_docs: dict[str, str], strict: bool
) -> SignaturePlan:
    """Inspect ``func`` and derive its argument model and JSON Schema.

    Raises ``ToolDefinitionError`` for ``*args``/``**kwargs``, missing annotations, a
    ``ToolContext`` parameter that is not first, and types pydantic cannot describe.
    """
    signature = _signature(func, tool_name)
    params = list(signature.parameters.values())
    takes_context = bool(params) and _is_context(params[0].annotation)
    if takes_context:
        params = params[1:]
    fields: dict[str, Any] = {}
    plan_params: list[_Param] = []
    for index, param in enumerate(params):
        where = f"Tool {tool_name!r}, parameter {param.name!r}"
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"{where}: *args and **kwargs are not supported; declare each argument."
            )
        if param.annotation is inspect.Parameter.empty:
            raise ToolDefinitionError(f"{where}: missing type annotation.")
        if _is_context(param.annotation):
            raise ToolDefinitionError(f"{where}: a ToolContext parameter must come first.")
        internal = f"p{index}"
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[internal] = (Annotated[param.annotation, Field(alias=param.name)], default)
        plan_params.append(_plain_param(param.name, internal, param))
    config = ConfigDict(extra="forbid" if strict else "ignore")
    try:
        model = create_model(f"{tool_name}_arguments", __config__=config, **fields)
        raw = model.model_json_schema()
    except PydanticUserError as exc:
        raise ToolDefinitionError(_unsupported(tool_name, params, exc)) from exc
    schema = normalise_schema(raw, closed=strict)
    properties = schema.setdefault("properties", {})
    for name, text in param_docs.items():
        prop = properties.get(name)
        if isinstance(prop, dict) and text and "description" not in prop:
            prop["description"] = text
    return SignaturePlan(
        takes_context=takes_context, parameters=schema, model=model, params=tuple(plan_params)
    )


def _unsupported(tool_name: str, params: list[inspect.Parameter], exc: Exception) -> str:
    """A message naming the parameter whose type pydantic cannot describe."""
    for param in params:
        annotation = param.annotation
        if isinstance(param.default, FieldInfo):
            annotation = Annotated[annotation, param.default]
        try:
            TypeAdapter(annotation).json_schema()
        except PydanticUserError as inner:
            first = str(inner).splitlines()[0]
            return (
                f"Tool {tool_name!r}, parameter {param.name!r}: unsupported type "
                f"{param.annotation!r} ({first})"
            )
    first = str(exc).splitlines()[0]
    return f"Tool {tool_name!r}: cannot derive a JSON Schema from the signature ({first})"
