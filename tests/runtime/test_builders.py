"""``builder``: the keyword functions the loop builds its per-cycle objects with give exactly
what the class's constructor gives, refuse what the constructor refuses, and keep frozen
classes frozen."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import pytest

from agentcycle._builders import attribute_copier, builder
from agentcycle.events import EVENT_TYPES, ToolCallRef, parse_event
from agentcycle.models.base import ModelRequest
from agentcycle.runtime.event_bus import EventBus
from agentcycle.runtime.orchestrator import ToolCallOutcome
from agentcycle.tools.base import ToolContext


def _sample(tp: Any) -> Any:
    """A value of type ``tp`` for a required field (the events' fields are plain types)."""
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return typing.get_args(tp)[0]
    if origin in (typing.Union, types.UnionType):
        return _sample(next(a for a in typing.get_args(tp) if a is not type(None)))
    if origin in (list, tuple):
        return origin()
    if origin is dict:
        return {}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return next(iter(tp))
    return {str: "x", int: 3, float: 1.5, bool: True}.get(tp)


def _required(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {
        f.name: _sample(hints[f.name])
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


@pytest.mark.parametrize("cls", sorted(EVENT_TYPES.values(), key=lambda c: c.type))
def test_every_event_type_builds_as_its_constructor(cls: type) -> None:
    values = {**_required(cls), "cycle_index": 4}
    built, constructed = builder(cls)(**values), cls(**values)
    assert type(built) is cls
    assert built == constructed
    # Published on a bus, both read back through the wire format as the same event.
    bus = EventBus(run_id="run_1", trace_id="trace_1")
    wire = bus.publish(built).to_dict()
    assert parse_event(wire).to_dict() == wire


def test_defaults_and_factories_are_the_constructors() -> None:
    request = builder(ModelRequest)(messages=[])
    assert request == ModelRequest(messages=[])
    assert request.settings is not builder(ModelRequest)(messages=[]).settings  # a fresh factory


def test_missing_or_unknown_fields_are_refused_like_the_constructor() -> None:
    build = builder(ToolCallRef)
    with pytest.raises(TypeError, match="name"):
        build(id="c1")
    with pytest.raises(TypeError, match="colour"):
        build(id="c1", name="tick", colour="red")
    with pytest.raises(TypeError):
        build("c1", "tick")  # keywords only, so a swapped pair cannot slip through


def test_frozen_classes_stay_frozen() -> None:
    ref = builder(ToolCallRef)(id="c1", name="tick")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.name = "other"  # type: ignore[misc]
    assert builder(ToolCallOutcome).__name__ == "build_ToolCallOutcome"


def test_a_mutable_dataclass_builds_with_its_own_fields() -> None:
    fields: dict[str, Any] = {"run_id": "r", "trace_id": "t", "agent_name": "a"}
    fields |= {"tool_call_id": "c", "cycle_index": 1, "state": None}
    built = builder(ToolContext)(**fields)
    # The default factories ran: a cancel event and a scope of the context's own.
    assert not built.cancelled.is_set() and built.scope is not ToolContext(**fields).scope
    same = {"cancelled": built.cancelled, "scope": built.scope}
    assert built == ToolContext(**fields, **same)
    built.cycle_index = 2  # mutable, as the class is
    assert built.cycle_index == 2


def test_classes_a_builder_would_get_wrong_are_refused() -> None:
    @dataclass
    class NoSlots:
        x: int

    @dataclass(slots=True)
    class PostInit:
        x: int

        def __post_init__(self) -> None:
            self.x += 1

    @dataclass(slots=True)
    class Hidden:
        x: int
        y: list[int] = field(default_factory=list, init=False)

    class Plain:
        __slots__ = ("x",)

    for cls in (NoSlots, PostInit, Hidden, Plain):
        with pytest.raises(TypeError):
            builder(cls)


def test_attribute_copier_copies_in_order_and_leaves_out_unset_optionals() -> None:
    ref = ToolCallRef(id="c1", name="tick")
    copy = attribute_copier(("name", "id"), omitted_when_none=frozenset({"id"}))
    data: dict[str, Any] = {"first": 0}
    copy(ref, data)
    assert list(data.items()) == [("first", 0), ("name", "tick"), ("id", "c1")]
    unset: dict[str, Any] = {}
    copy(ToolCallRef(id=None, name="tick"), unset)  # type: ignore[arg-type]
    assert unset == {"name": "tick"}
    with pytest.raises(ValueError, match="attribute name"):
        attribute_copier(("name; import os",))
