"""Invoking function tools: coercion, context, threads, return values."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import threading
from typing import Any

import pytest
from pydantic import BaseModel, field_validator

from agentcycle.messages import Finish, ToolResult, ToolResultStatus
from agentcycle.tools.base import SideEffect, Tool, ToolContext
from agentcycle.tools.function_tool import FunctionTool, function_tool


class Priority(enum.Enum):
    LOW = "low"
    HIGH = "high"


class Order(BaseModel):
    id: str
    quantity: int

    @field_validator("quantity")
    @classmethod
    def positive(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("quantity must be positive")
        return value


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


async def test_sync_function_runs_in_a_worker_thread(ctx: ToolContext) -> None:
    @function_tool
    def where() -> str:
        """Report the thread."""
        return str(threading.get_ident())

    @function_tool(run_in_thread=False)
    def inline() -> str:
        """Report the thread."""
        return str(threading.get_ident())

    loop_thread = str(threading.get_ident())
    assert (await where.invoke(ctx, {})).content != loop_thread
    assert (await inline.invoke(ctx, {})).content == loop_thread


async def test_async_function(ctx: ToolContext) -> None:
    @function_tool
    async def add(a: int, b: int = 2) -> int:
        """Add."""
        await asyncio.sleep(0)
        return a + b

    result = await add.invoke(ctx, {"a": 1})
    assert result.status is ToolResultStatus.SUCCESS
    assert result.content == "3"


async def test_context_is_injected(ctx: ToolContext) -> None:
    seen: list[ToolContext] = []

    @function_tool
    def note(ctx: ToolContext, text: str) -> str:
        """Note."""
        seen.append(ctx)
        ctx.state.extra["note"] = text
        return "noted"

    assert (await note.invoke(ctx, {"text": "hello"})).content == "noted"
    assert seen == [ctx]
    assert ctx.state.extra["note"] == "hello"


async def test_arguments_are_coerced_into_declared_types(ctx: ToolContext) -> None:
    received: dict[str, Any] = {}

    @function_tool
    def place(
        order: Order, at: Point, priority: Priority, pair: tuple[int, str], ratio: float
    ) -> None:
        """Place an order."""
        received.update(order=order, at=at, priority=priority, pair=pair, ratio=ratio)

    arguments = {
        "order": {"id": "A-1", "quantity": 2},
        "at": {"x": 3},
        "priority": "high",
        "pair": [1, "one"],
        "ratio": 1,
    }
    result = await place.invoke(ctx, arguments)
    assert result.content == "ok"
    assert received["order"] == Order(id="A-1", quantity=2)
    assert received["at"] == Point(x=3, y=0)
    assert received["priority"] is Priority.HIGH
    assert received["pair"] == (1, "one")
    assert isinstance(received["ratio"], float)


async def test_keyword_only_and_positional_only_parameters(ctx: ToolContext) -> None:
    @function_tool
    def f(a: int, /, b: int, *, c: int = 10) -> list[int]:
        """F."""
        return [a, b, c]

    assert (await f.invoke(ctx, {"a": 1, "b": 2})).content == "[1,2,10]"
    assert (await f.invoke(ctx, {"a": 1, "b": 2, "c": 3})).content == "[1,2,3]"


async def test_coercion_failure_is_an_error_result(ctx: ToolContext) -> None:
    @function_tool
    def place(order: Order) -> str:
        """Place."""
        raise AssertionError("not reached")

    result = await place.invoke(ctx, {"order": {"id": "A-1", "quantity": 0}})
    assert result.status is ToolResultStatus.ERROR
    assert result.error_code == "invalid_tool_arguments"
    body = json.loads(result.content)
    assert body["ok"] is False
    [issue] = body["details"]
    assert issue["path"] == "/order/quantity"
    assert "quantity must be positive" in issue["message"]


async def test_strict_rejects_unknown_arguments_and_lax_ignores_them(ctx: ToolContext) -> None:
    @function_tool
    def strict(a: int) -> int:
        """S."""
        return a

    @function_tool(strict=False)
    def lax(a: int) -> int:
        """L."""
        return a

    refused = await strict.invoke(ctx, {"a": 1, "b": 2})
    assert refused.error_code == "invalid_tool_arguments"
    assert json.loads(refused.content)["details"][0]["path"] == "/b"
    assert (await lax.invoke(ctx, {"a": 1, "b": 2})).content == "1"


@pytest.mark.parametrize(
    ("value", "content"),
    [
        ("plain text", "plain text"),
        (None, "ok"),
        ({"a": [1, 2]}, '{"a":[1,2]}'),
        ([1, "x"], '[1,"x"]'),
        (2.5, "2.5"),
        (True, "true"),
        (Order(id="A", quantity=1), '{"id":"A","quantity":1}'),
        (Point(1, 2), '{"x":1,"y":2}'),
        (Priority.LOW, '"low"'),
    ],
)
async def test_return_values_become_content(ctx: ToolContext, value: Any, content: str) -> None:
    @function_tool
    def give() -> Any:
        """Give."""
        return value

    result = await give.invoke(ctx, {})
    assert result.status is ToolResultStatus.SUCCESS
    assert result.content == content


async def test_tool_result_is_passed_through(ctx: ToolContext) -> None:
    finish = ToolResult(content="done", directive=Finish(message="done"))

    @function_tool
    async def done() -> ToolResult:
        """Done."""
        return finish

    assert await done.invoke(ctx, {}) is finish


async def test_exceptions_propagate(ctx: ToolContext) -> None:
    @function_tool
    def boom() -> None:
        """Boom."""
        raise RuntimeError("broken")

    with pytest.raises(RuntimeError, match="broken"):
        await boom.invoke(ctx, {})


async def test_decorated_function_stays_callable() -> None:
    @function_tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    @function_tool
    async def aadd(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    assert add(2, 3) == 5
    assert await aadd(2, 3) == 5
    assert add.__name__ == "add"
    assert add.__doc__ == "Add two numbers."


async def test_bound_method_and_async_callable_object(ctx: ToolContext) -> None:
    class Store:
        def __init__(self) -> None:
            self.items = {"a": 1}

        def get(self, key: str) -> int:
            """Get an item."""
            return self.items[key]

    class Fetcher:
        async def __call__(self, url: str) -> str:
            return f"fetched {url}"

    get = function_tool(Store().get)
    assert list(get.parameters["properties"]) == ["key"]
    assert (await get.invoke(ctx, {"key": "a"})).content == "1"
    fetch = function_tool(Fetcher(), name="fetch")
    assert (await fetch.invoke(ctx, {"url": "u"})).content == "fetched u"


def test_declared_attributes_and_protocol() -> None:
    @function_tool
    def plain(x: int) -> int:
        """P."""
        return x

    @function_tool(
        name="custom-name",
        needs_approval=True,
        timeout_seconds=2.5,
        read_only=True,
        side_effect="network",
    )
    def fetch(url: str) -> str:
        """F."""
        return url

    @function_tool(read_only=True)
    def peek() -> str:
        """P."""
        return ""

    assert isinstance(plain, Tool) and isinstance(plain, FunctionTool)
    assert (plain.name, plain.needs_approval, plain.timeout_seconds) == ("plain", False, None)
    assert plain.read_only is False
    assert plain.side_effect is SideEffect.EXTERNAL
    assert peek.side_effect is SideEffect.READ
    assert fetch.name == "custom-name"
    assert fetch.needs_approval is True
    assert fetch.timeout_seconds == 2.5
    assert fetch.read_only is True
    assert fetch.side_effect is SideEffect.NETWORK
    assert "custom-name" in repr(fetch)


async def test_parameter_names_that_clash_with_pydantic(ctx: ToolContext) -> None:
    @function_tool
    def f(x: int, p0: str, json: bool = False, model_config: int = 1, _private: str = "a") -> Any:
        """F."""
        return [x, p0, json, model_config, _private]

    assert list(f.parameters["properties"]) == ["x", "p0", "json", "model_config", "_private"]
    arguments = {"x": 1, "p0": "s", "json": True, "model_config": 5, "_private": "z"}
    assert (await f.invoke(ctx, arguments)).content == '[1,"s",true,5,"z"]'


def _model_bind(tool: FunctionTool, arguments: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """What the argument model makes of ``arguments`` (the reference ``bind`` must match)."""
    values = tool._plan.model.model_validate(arguments)
    params = tool._plan.params
    args = [getattr(values, p.field) for p in params if not p.keyword_only]
    return args, {p.name: getattr(values, p.field) for p in params if p.keyword_only}


@pytest.mark.parametrize(
    "arguments",
    [
        {"text": "x"},
        {"text": "x", "flag": True, "count": 5},
        {"text": "x", "count": True},  # a bool for an int: coerced by the model
        {"text": "x", "flag": 1},  # an int for a bool: coerced by the model
        {"text": "x", "count": 2.0},
    ],
)
def test_plain_arguments_bind_as_the_model_coerces_them(arguments: dict[str, Any]) -> None:
    @function_tool
    def plain(text: str, flag: bool = False, *, count: int = 3) -> str:
        """Plain parameters."""
        return text

    bound = plain._plan.bind(arguments)
    assert bound == _model_bind(plain, arguments)
    assert [type(v) for v in bound[0]] == [type(v) for v in _model_bind(plain, arguments)[0]]
    assert {k: type(v) for k, v in bound[1].items()} == {
        k: type(v) for k, v in _model_bind(plain, arguments)[1].items()
    }


async def test_plain_parameters_still_reject_unknown_and_missing_arguments(
    ctx: ToolContext,
) -> None:
    @function_tool
    def plain(text: str, count: int = 3) -> str:
        """Plain parameters."""
        return text

    for arguments in ({"text": "x", "other": 1}, {"count": 1}, {"text": 5}):
        result = await plain.invoke(ctx, arguments)
        assert result.status is ToolResultStatus.ERROR
        assert result.error_code == "invalid_tool_arguments"
