"""What a durable run's writer appends (``runtime/_durable_log.py``): record drafts, the
cycle's step records built only when an append carries them, and the mark that tells whether
the tools' state changed since a record last carried it."""

from __future__ import annotations

import operator
from typing import Any

import pydantic_core
from pydantic import TypeAdapter

from agentcycle.messages import TokenUsage, ToolResult
from agentcycle.models.base import ModelResponse
from agentcycle.state import CycleRecord, RunToolState
from agentcycle.stores.run_records import RecordKind, record_keys

Draft = tuple[RecordKind, str, dict[str, Any]]
"""A record before the store stamps it: kind, key and payload (models serialised with it)."""

RESPONSE: TypeAdapter[ModelResponse] = TypeAdapter(ModelResponse)


def result_draft(index: int, call_id: str, source: str, result: ToolResult) -> Draft:
    """The ``effect_result`` record of call ``call_id`` of cycle ``index`` (``source``: how the
    result came about, e.g. ``ran``, ``verified``)."""
    return (
        RecordKind.EFFECT_RESULT,
        record_keys.effect_result(index, call_id),
        {
            "cycle": index,
            "tool_call_id": call_id,
            "source": source,
            "result": result,
        },
    )


class Steps:
    """A cycle's step records (``cycle_started`` unless the cycle was resumed, ``model_intent``,
    and ``model_result`` once the model answered), built only when an append that does not
    commit the cycle has to carry them: once the commit is durable the fold never reads them
    (they only tell a resume where an uncommitted cycle stopped), so a cycle of ``read`` tools,
    or none, is one record and builds nothing else."""

    __slots__ = ("answer", "attempt", "index", "started")

    def __init__(self, index: int, attempt: int, *, started: bool) -> None:
        self.index = index
        self.attempt = attempt
        self.started = started
        self.answer: tuple[ModelResponse, TokenUsage, list[CycleRecord]] | None = None
        """The model's response and usage, and the cycle records made before the call."""

    def committed_by(self, drafts: tuple[Draft, ...]) -> bool:
        """Whether the batch ``drafts`` ends with this cycle's commit."""
        if not drafts:
            return False
        kind, _, payload = drafts[-1]
        return kind is RecordKind.CYCLE_COMMITTED and payload["cycle"] == self.index

    def drafts(self) -> list[Draft]:
        """The records, in log order."""
        index, attempt = self.index, self.attempt
        drafts: list[Draft] = []
        if self.started:
            drafts.append(
                (RecordKind.CYCLE_STARTED, record_keys.cycle_started(index), {"cycle": index})
            )
        drafts.append(
            (
                RecordKind.MODEL_INTENT,
                record_keys.model_intent(index, attempt),
                {"cycle": index, "attempt": attempt},
            )
        )
        if self.answer is not None:
            response, usage, cycles = self.answer
            drafts.append(
                (
                    RecordKind.MODEL_RESULT,
                    record_keys.model_result(index, attempt),
                    {
                        "cycle": index,
                        "attempt": attempt,
                        "response": RESPONSE.dump_python(response, mode="json"),
                        "usage": usage,
                        "cycles": cycles,
                    },
                )
            )
        return drafts


_SHALLOW_FIELDS = ("todos", "files_seen", "approved_tools", "active_skills")
"""``RunToolState`` fields whose items are immutable (frozen models, strings): a shallow copy
tells whether they changed, at C speed, with no serialisation."""
_DEEP_FIELDS = tuple(name for name in RunToolState.model_fields if name not in _SHALLOW_FIELDS)
"""The other fields (the host's ``extra``, the sub-tasks' nested JSON, any field added later):
compared by their JSON, usually that of an empty dict and ``None``."""
_shallow = operator.attrgetter(*_SHALLOW_FIELDS)
_deep = operator.attrgetter(*_DEEP_FIELDS)


class ToolStateMark:
    """The tools' state as a record carried it: shallow copies of its containers of immutable
    items and the JSON of the rest, so that telling an unchanged state costs a comparison of
    references per item rather than serialising the whole state (which grows with the files
    the run has read) at every commit."""

    __slots__ = ("_deep", "_shallow")

    def __init__(self, state: RunToolState) -> None:
        # Copies of the same types, so that equality with the live containers means equal
        # items.
        self._shallow = tuple(
            type(value)(value) if isinstance(value, (list, dict, set)) else value
            for value in _shallow(state)
        )
        self._deep = _deep_json(state)

    def matches(self, state: RunToolState) -> bool:
        """Whether ``state`` serialises as it did when this mark was taken."""
        return _shallow(state) == self._shallow and _deep_json(state) == self._deep


def _deep_json(state: RunToolState) -> bytes:
    return pydantic_core.to_json(_deep(state))


def to_json(payload: dict[str, Any]) -> str:
    """A payload's JSON text (models in it serialised by their own serializers). A float with
    no JSON form (NaN, infinity) is written as ``null``."""
    return pydantic_core.to_json(payload, inf_nan_mode="null").decode()
