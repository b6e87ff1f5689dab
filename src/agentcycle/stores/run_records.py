"""The records of a durable run log: what a ``CheckpointStore`` keeps, one run at a time.

A run's log is a sequence of immutable records numbered by a contiguous ``seq`` from 1. The
writer hands the store :class:`NewRecord` drafts (``kind``, ``key``, ``payload``); the store
stamps each with its ``seq``, the writer's lease ``epoch`` and the store's clock (``ts``) and
gives back :class:`RunRecord`. A record's ``digest`` is the SHA-256 of the JSON text
``[kind,key,<payload text>]``, over the payload's text exactly as stored, so a record read back
is checked against its own bytes. ``NewRecord(kind, key, payload)`` writes the payload as
canonical JSON (sorted keys): equal mappings get equal digests wherever they are built.
``NewRecord.of_json`` takes text a writer serialised itself; the run writer uses pydantic's
serializer, whose field order is fixed by the models, so its digests are deterministic too
(the same logical record, built again, has the same bytes). Either way the digest is how a
retried append is recognised as already written, and logs written either way read back alike.

``key`` is a deterministic logical id within the run (``c3/tool/call_1/result``): the store
never gives one key two ``seq`` numbers, so a logical record re-appended after a timeout cannot
be duplicated. The helpers in :data:`record_keys` build the documented keys.

Pure data: nothing here does I/O or imports the runtime.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentcycle.errors import CorruptRunRecord, InvalidCheckpointRequest

_quote: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]

__all__ = [
    "NewRecord",
    "RecordKind",
    "RunRecord",
    "canonical_json",
    "record_digest",
    "record_key",
    "record_keys",
]


class RecordKind(enum.StrEnum):
    """What a record says. The log's writer (the loop) appends them in this order per cycle:
    ``cycle_started``, ``model_intent``, ``model_result``, then per tool call ``effect_intent``
    and ``effect_result``, then ``cycle_committed``."""

    RUN_CREATED = "run_created"
    """Seq 1, written by ``create_run``: the run's header (definition, input, config)."""
    CYCLE_STARTED = "cycle_started"
    MODEL_INTENT = "model_intent"
    """A model call is about to be made (``request_digest``); without a result it is re-made."""
    MODEL_RESULT = "model_result"
    """The model's response and usage, durable before any tool runs."""
    EFFECT_INTENT = "effect_intent"
    """A tool call is about to run (tool, arguments, idempotency key, effect class)."""
    EFFECT_RESULT = "effect_result"
    EFFECT_UNVERIFIED = "effect_unverified"
    """An intent found without a result on resume, that could not be verified."""
    CYCLE_COMMITTED = "cycle_committed"
    """The per-cycle checkpoint: the cycle's message and state delta."""
    WAITING = "waiting"
    """The run stopped for its host (user input, an approval, a reconciliation)."""
    CANCEL_OBSERVED = "cancel_observed"
    LEASE_TAKEN = "lease_taken"
    """A process took the run over from an owner that died (its lease expired unreleased):
    the crash-loop guard counts these per cycle."""
    TERMINAL = "terminal"
    """The last record of a run: the store refuses every append and lease after it."""
    SNAPSHOT = "snapshot"
    """A fold of the log so far, so a resume need not replay from seq 1."""
    EVENT = "event"
    """A ``RunEvent`` of the run's public stream, carried in the log so the stream and the
    checkpoint cannot diverge."""


def canonical_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, non-ASCII kept, NaN and infinities refused
    (``ValueError``), anything not JSON refused (``TypeError``)."""
    return json.dumps(
        value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    )


def record_digest(kind: str, key: str, payload: Mapping[str, Any]) -> str:
    """The SHA-256 hex digest of ``canonical_json([kind, key, payload])``: the digest of
    ``NewRecord(kind, key, payload)``."""
    return _digest(kind, key, canonical_json(payload))


def _digest(kind: str, key: str, payload_json: str) -> str:
    # The JSON of the list [kind, key, payload], assembled around the payload's text as
    # stored, so a record's payload is serialised once and checked against its own bytes.
    # encode_basestring is what json.dumps(ensure_ascii=False) quotes a string with, minus
    # the call's overhead (this runs for every record written and read).
    text = f"[{_quote(kind)},{_quote(key)},{payload_json}]"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewRecord:
    """A record to append: the store assigns its ``seq``, ``epoch`` and ``ts``.

    ``payload`` must be a JSON object (a mapping with string keys); it is serialised once, on
    construction, to its canonical text, and read back from it, so a stored record equals the
    draft it came from whatever the backend. Invalid input raises
    ``InvalidCheckpointRequest``."""

    kind: RecordKind
    key: str
    payload_json: str
    digest: str

    def __init__(self, kind: RecordKind | str, key: str, payload: Mapping[str, Any]) -> None:
        try:
            kind = RecordKind(kind)
        except ValueError:
            raise InvalidCheckpointRequest(
                f"unknown record kind {kind!r}; kinds: {', '.join(RecordKind)}",
                details={"kind": str(kind)},
            ) from None
        if not isinstance(key, str) or not key:
            raise InvalidCheckpointRequest(
                f"a record key must be a non-empty string, not {key!r}", details={"key": key}
            )
        if not isinstance(payload, Mapping):
            raise InvalidCheckpointRequest(
                f"record {key!r}: the payload must be a JSON object, not {type(payload).__name__}",
                details={"key": key},
            )
        try:
            text = canonical_json(payload)
        except (TypeError, ValueError) as exc:
            raise InvalidCheckpointRequest(
                f"record {key!r}: the payload is not JSON ({exc})", details={"key": key}
            ) from exc
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "payload_json", text)
        object.__setattr__(self, "digest", _digest(kind, key, text))

    @classmethod
    def of_json(cls, kind: RecordKind, key: str, payload_json: str) -> NewRecord:
        """A draft from a payload already serialised, kept as is: the digest is over this
        text. For a writer with its own deterministic serializer (the run writer); the caller
        guarantees ``payload_json`` is the JSON text of an object, as its serializer made it
        (only its first character is checked: parsing it back would cost more than writing
        it)."""
        if not payload_json.startswith("{"):
            raise InvalidCheckpointRequest(
                f"record {key!r}: the payload must be a JSON object", details={"key": key}
            )
        record = object.__new__(cls)
        object.__setattr__(record, "kind", kind)
        object.__setattr__(record, "key", key)
        object.__setattr__(record, "payload_json", payload_json)
        object.__setattr__(record, "digest", _digest(kind, key, payload_json))
        return record

    @property
    def payload(self) -> dict[str, Any]:
        """A fresh copy of the payload (the record itself never changes)."""
        payload: dict[str, Any] = json.loads(self.payload_json)
        return payload


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One stored record of a run's log. ``seq`` is contiguous from 1, ``epoch`` is the lease
    generation of the writer, ``ts`` the store's clock (ms since the Unix epoch) when the
    record was appended. ``payload`` parses ``payload_json`` afresh on every access."""

    run_id: str
    seq: int
    epoch: int
    kind: RecordKind
    key: str
    payload_json: str = field(repr=False)
    digest: str
    ts: int

    @property
    def payload(self) -> dict[str, Any]:
        """A fresh copy of the payload."""
        payload: dict[str, Any] = json.loads(self.payload_json)
        return payload

    @property
    def event_id(self) -> str:
        """The record's id for external sinks, ``run_id:seq`` (stable, so receivers dedupe)."""
        return f"{self.run_id}:{self.seq}"

    @classmethod
    def stamped(cls, run_id: str, seq: int, epoch: int, ts: int, record: NewRecord) -> RunRecord:
        """The stored form of ``record`` at ``seq``."""
        return cls(
            run_id, seq, epoch, record.kind, record.key, record.payload_json, record.digest, ts
        )

    @classmethod
    def from_storage(
        cls,
        run_id: str,
        seq: int,
        epoch: int,
        kind: str,
        key: str,
        payload_json: str,
        digest: str,
        ts: int,
    ) -> RunRecord:
        """A record read back from a backend, checked: an unknown kind (a newer writer) or a
        payload that does not match its digest raises ``CorruptRunRecord``."""
        try:
            known = RecordKind(kind)
        except ValueError:
            known = None
        if known is None or _digest(kind, key, payload_json) != digest:
            reason = "an unknown kind" if known is None else "a payload that fails its digest"
            raise CorruptRunRecord(
                f"run {run_id!r}: the record at seq {seq} has {reason}",
                details={"run_id": run_id, "seq": seq, "kind": kind, "key": key},
            )
        return cls(run_id, seq, epoch, known, key, payload_json, digest, ts)


def record_key(*parts: str | int) -> str:
    """A record key from its parts, joined by ``/``. A part containing ``/`` or ``%`` is
    escaped (``%2F``, ``%25``), so ``("c3", "tool", "a/b")`` never collides with
    ``("c3", "tool", "a", "b")``."""
    if not parts:
        raise InvalidCheckpointRequest("a record key needs at least one part")
    escaped = []
    for part in parts:
        text = str(part)
        if not text:
            raise InvalidCheckpointRequest(f"empty part in record key {parts!r}")
        escaped.append(text.replace("%", "%25").replace("/", "%2F"))
    return "/".join(escaped)


class _RecordKeys:
    """The documented record keys. ``cycle`` counts like ``cycle_index`` (from 1). A step that
    can legitimately happen again for the same cycle (a model call re-made after a crash, a
    second wait) takes an ``attempt`` above 1, which adds ``#N`` to its key."""

    @staticmethod
    def run_created() -> str:
        """``run``: seq 1, the header."""
        return "run"

    @staticmethod
    def cycle_started(cycle: int) -> str:
        """``c3/started``."""
        return record_key(f"c{cycle}", "started")

    @staticmethod
    def model_intent(cycle: int, attempt: int = 1) -> str:
        """``c3/model/intent`` (``c3/model/intent#2`` for a re-made call)."""
        return _attempt(record_key(f"c{cycle}", "model", "intent"), attempt)

    @staticmethod
    def model_result(cycle: int, attempt: int = 1) -> str:
        """``c3/model/result``."""
        return _attempt(record_key(f"c{cycle}", "model", "result"), attempt)

    @staticmethod
    def effect_intent(cycle: int, tool_call_id: str) -> str:
        """``c3/tool/call_1/intent``."""
        return record_key(f"c{cycle}", "tool", tool_call_id, "intent")

    @staticmethod
    def effect_result(cycle: int, tool_call_id: str) -> str:
        """``c3/tool/call_1/result``."""
        return record_key(f"c{cycle}", "tool", tool_call_id, "result")

    @staticmethod
    def effect_unverified(cycle: int, tool_call_id: str) -> str:
        """``c3/tool/call_1/unverified``."""
        return record_key(f"c{cycle}", "tool", tool_call_id, "unverified")

    @staticmethod
    def cycle_committed(cycle: int) -> str:
        """``c3/committed``."""
        return record_key(f"c{cycle}", "committed")

    @staticmethod
    def waiting(cycle: int, attempt: int = 1) -> str:
        """``c3/waiting``."""
        return _attempt(record_key(f"c{cycle}", "waiting"), attempt)

    @staticmethod
    def cancel_observed() -> str:
        """``cancel``."""
        return "cancel"

    @staticmethod
    def lease_taken(epoch: int) -> str:
        """``lease/7``: the takeover that began epoch 7."""
        return record_key("lease", epoch)

    @staticmethod
    def terminal() -> str:
        """``terminal``."""
        return "terminal"

    @staticmethod
    def snapshot(through_seq: int) -> str:
        """``snapshot/120``: a fold of records 1..120."""
        return record_key("snapshot", through_seq)

    @staticmethod
    def event(event_id: str) -> str:
        """``event/<event_id>``."""
        return record_key("event", event_id)


def _attempt(key: str, attempt: int) -> str:
    if attempt < 1:
        raise InvalidCheckpointRequest(f"attempt must be 1 or more, not {attempt}")
    return key if attempt == 1 else f"{key}#{attempt}"


record_keys = _RecordKeys()
"""The documented record keys: ``record_keys.effect_result(3, "call_1")`` is
``c3/tool/call_1/result``."""
