"""``function_tool``: a typed Python function as a tool the model can call.

```python
@function_tool
def lookup(order_id: str, include_lines: bool = False) -> dict:
    \"\"\"Read one order.

    Args:
        order_id: The order number, e.g. "A-123".
        include_lines: Also return the order lines.
    \"\"\"
```

The JSON Schema comes from the type hints (via pydantic), the description from the
docstring's first paragraph, parameter descriptions from its ``Args:`` section (or Sphinx
``:param x:`` fields; an ``Annotated[..., Field(description=...)]`` wins over both). A first
parameter annotated ``ToolContext`` receives the call's context and is not shown to the model.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, overload

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from agentcycle._json import dumps
from agentcycle.errors import ToolDefinitionError
from agentcycle.messages import ToolResult
from agentcycle.tools._schema import build_plan, parse_docstring
from agentcycle.tools._tool_threads import tool_threads
from agentcycle.tools.base import SideEffect, ToolContext
from agentcycle.tools.effects import EffectClass
from agentcycle.tools.registry import check_tool_name
from agentcycle.tools.validation import ValidationIssue, json_pointer, nesting_depth

INVALID_TOOL_ARGUMENTS = "invalid_tool_arguments"
NONE_RESULT = "ok"
"""What the model sees when a tool function returns ``None``."""

MAX_RESULT_CHARS = 10_000_000
"""Longest result content accepted from a tool function (code ``tool_result_too_large``).
Results over 12,000 characters already reach the model as a preview plus an artifact; this
bound keeps a runaway function from filling memory and the artifact store."""

MAX_RESULT_DEPTH = 64
"""Deepest nesting of a returned value accepted (code ``tool_result_too_deep``)."""


_NO_EFFECT = frozenset({SideEffect.NONE, SideEffect.READ})
"""Side effects that leave nothing to repeat: such a tool's ``effect_class`` is ``read``."""


class FunctionTool:
    """A ``Tool`` backed by a Python function (sync or async).

    Calling the object calls the function directly, so decorated functions stay usable and
    testable as plain functions. ``invoke`` coerces the (already schema-validated) JSON
    arguments into the declared types, injects the ``ToolContext`` if asked for, runs the
    function (sync functions in a worker thread unless ``run_in_thread`` is false; see
    ``tools/_tool_threads.py``) and turns
    the return value into a ``ToolResult``:

    - a ``ToolResult`` is passed through;
    - a ``str`` becomes the content as is; ``None`` becomes ``"ok"``;
    - anything else (pydantic models, dataclasses, dicts, lists, numbers ...) becomes JSON text.

    Arguments that pass the JSON Schema but fail coercion (for example a pydantic validator
    rejecting a value) give an ``invalid_tool_arguments`` error result with the issues. Any
    exception the function raises propagates; the orchestrator turns it into an error result.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    side_effect: SideEffect
    effect_class: EffectClass | None
    read_only: bool
    needs_approval: bool
    timeout_seconds: float | None
    strict: bool
    run_in_thread: bool

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        needs_approval: bool = False,
        timeout_seconds: float | None = None,
        read_only: bool = False,
        side_effect: SideEffect | str | None = None,
        effect_class: EffectClass | str | None = None,
        strict: bool = True,
        run_in_thread: bool = True,
    ) -> None:
        """Derive the tool from ``func``; see ``function_tool`` for the options.

        Raises ``ToolDefinitionError`` for an invalid name, a generator function, a bad
        timeout, an unknown side effect or effect class, or a signature that cannot be
        described as JSON Schema.
        """
        tool_name = name if name is not None else getattr(func, "__name__", "")
        check_tool_name(tool_name)
        if inspect.isasyncgenfunction(func) or inspect.isgeneratorfunction(func):
            raise ToolDefinitionError(
                f"Tool {tool_name!r}: generator functions are not supported; return a value."
            )
        if timeout_seconds is not None and not timeout_seconds > 0:
            raise ToolDefinitionError(
                f"Tool {tool_name!r}: timeout_seconds must be positive, got {timeout_seconds!r}."
            )
        try:
            effect = (
                SideEffect(side_effect)
                if side_effect is not None
                # Unknown effects are assumed to reach outside the run, so approval mode
                # "always" asks for them; read-only tools declare themselves.
                else (SideEffect.READ if read_only else SideEffect.EXTERNAL)
            )
        except ValueError:
            raise ToolDefinitionError(
                f"Tool {tool_name!r}: unknown side_effect {side_effect!r}; expected one of "
                f"{', '.join(e.value for e in SideEffect)}."
            ) from None
        try:
            declared = (
                EffectClass(effect_class)
                if effect_class is not None
                # A tool that changes nothing can run again after a crash; any other keeps
                # no class unless it declares one (the durable run's safe case).
                else (EffectClass.READ if effect in _NO_EFFECT else None)
            )
        except ValueError:
            raise ToolDefinitionError(
                f"Tool {tool_name!r}: unknown effect_class {effect_class!r}; expected one of "
                f"{', '.join(e.value for e in EffectClass)}."
            ) from None
        doc = parse_docstring(inspect.getdoc(func))
        self._plan = build_plan(func, tool_name=tool_name, param_docs=doc.params, strict=strict)
        self._func = func
        # An object whose ``__call__`` is async counts as async too.
        self._is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            type(func).__call__
        )
        self.name = tool_name
        self.description = description if description is not None else doc.description
        self.parameters = self._plan.parameters
        self.side_effect = effect
        self.effect_class = declared
        self.read_only = read_only
        self.needs_approval = needs_approval
        self.timeout_seconds = timeout_seconds
        self.strict = strict
        self.run_in_thread = run_in_thread
        functools.update_wrapper(
            self, func, assigned=("__module__", "__name__", "__qualname__", "__doc__"), updated=()
        )

    @property
    def func(self) -> Callable[..., Any]:
        """The wrapped function."""
        return self._func

    @property
    def takes_context(self) -> bool:
        """Whether the function receives the ``ToolContext`` as its first argument."""
        return self._plan.takes_context

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function directly, bypassing schema, coercion and result conversion."""
        return self._func(*args, **kwargs)

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        """Coerce ``arguments``, call the function and convert its return value."""
        try:
            args, kwargs = self._plan.bind(arguments)
        except ValidationError as exc:
            issues = [_issue(error) for error in exc.errors(include_url=False)]
            return ToolResult.error(
                INVALID_TOOL_ARGUMENTS,
                f"Arguments for {self.name!r} are invalid.",
                details=[issue.to_dict() for issue in issues],
            )
        if self._plan.takes_context:
            args.insert(0, ctx)
        if self._is_async:
            result = await self._func(*args, **kwargs)
        elif self.run_in_thread:
            result = await tool_threads.run(self._func, *args, **kwargs)
        else:
            result = self._func(*args, **kwargs)
        # A str or None is never awaitable; ``inspect.isawaitable`` (an ABC check) costs more.
        if result is not None and type(result) is not str and inspect.isawaitable(result):
            # A sync wrapper around a coroutine function (a partial, a decorator).
            result = await result
        return to_tool_result(result)

    def __repr__(self) -> str:
        return (
            f"FunctionTool(name={self.name!r}, side_effect={self.side_effect.value!r}, "
            f"read_only={self.read_only}, needs_approval={self.needs_approval})"
        )


def to_tool_result(value: Any) -> ToolResult:
    """A tool function's return value as a ``ToolResult`` (see ``FunctionTool``)."""
    if isinstance(value, ToolResult):
        return _bounded(value.content) or value
    if value is None:
        return ToolResult.success(NONE_RESULT)
    if isinstance(value, str):
        return _bounded(value) or ToolResult.success(value)
    if nesting_depth(value, MAX_RESULT_DEPTH) > MAX_RESULT_DEPTH:
        return _too_deep()
    try:
        text = dumps(to_jsonable_python(value, fallback=str))
    except RecursionError:  # nesting hidden inside objects the depth check cannot see into
        return _too_deep()
    return _bounded(text) or ToolResult.success(text)


def _bounded(content: str) -> ToolResult | None:
    """An error result when ``content`` is over :data:`MAX_RESULT_CHARS`, else ``None``."""
    if len(content) <= MAX_RESULT_CHARS:
        return None
    return ToolResult.error(
        "tool_result_too_large",
        f"The tool returned {len(content):,} characters; the limit is {MAX_RESULT_CHARS:,}. "
        "Ask for less (a narrower query, a page of the data).",
    )


def _too_deep() -> ToolResult:
    return ToolResult.error(
        "tool_result_too_deep",
        f"The tool returned data nested more than {MAX_RESULT_DEPTH} levels deep, which "
        "cannot be shown.",
    )


def _issue(error: Any) -> ValidationIssue:
    return ValidationIssue(
        path=json_pointer(error["loc"]), rule=str(error["type"]), message=str(error["msg"])
    )


@overload
def function_tool(
    func: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    needs_approval: bool = False,
    timeout_seconds: float | None = None,
    read_only: bool = False,
    side_effect: SideEffect | str | None = None,
    effect_class: EffectClass | str | None = None,
    strict: bool = True,
    run_in_thread: bool = True,
) -> FunctionTool: ...


@overload
def function_tool(
    func: None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    needs_approval: bool = False,
    timeout_seconds: float | None = None,
    read_only: bool = False,
    side_effect: SideEffect | str | None = None,
    effect_class: EffectClass | str | None = None,
    strict: bool = True,
    run_in_thread: bool = True,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def function_tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    needs_approval: bool = False,
    timeout_seconds: float | None = None,
    read_only: bool = False,
    side_effect: SideEffect | str | None = None,
    effect_class: EffectClass | str | None = None,
    strict: bool = True,
    run_in_thread: bool = True,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a ``FunctionTool`` from a function; usable as ``@function_tool`` or with options.

    Args:
        func: The function (when used bare or called directly).
        name: Tool name (default: the function's name); must match ``[a-zA-Z0-9_-]{1,64}``.
        description: Tool description (default: the docstring's first paragraph).
        needs_approval: Ask the approver before every call.
        timeout_seconds: Per-call time limit enforced by the orchestrator.
        read_only: Safe to run concurrently with other read-only calls of the same batch.
        side_effect: What a call may change (default: ``read`` for read-only tools, else
            ``external``).
        effect_class: What re-running a call after a crash does, for durable runs
            (``read``, ``idempotent``, ``non_idempotent``; see ``agentcycle.tools.effects``).
            Default: ``read`` for a tool whose ``side_effect`` is ``none`` or ``read``, else
            none declared (treated as ``non_idempotent``).
        strict: Close every object schema (``additionalProperties: false``) and reject
            unknown arguments; when false, unknown arguments are ignored.
        run_in_thread: Run a sync function in a worker thread (default) so it cannot block
            the event loop; turn off for quick, non-blocking functions to save the hop.
    """

    def wrap(target: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(
            target,
            name=name,
            description=description,
            needs_approval=needs_approval,
            timeout_seconds=timeout_seconds,
            read_only=read_only,
            side_effect=side_effect,
            effect_class=effect_class,
            strict=strict,
            run_in_thread=run_in_thread,
        )

    return wrap if func is None else wrap(func)
