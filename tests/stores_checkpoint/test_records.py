"""Run records: canonical digests, deterministic keys, drafts that read back as written."""

from __future__ import annotations

import hashlib
import json

import pytest

from agentcycle.errors import CorruptRunRecord, InvalidCheckpointRequest
from agentcycle.stores import NewRecord, RecordKind, RunRecord, record_digest, record_key
from agentcycle.stores import record_keys as keys


def test_the_digest_is_sha256_of_the_canonical_json_of_kind_key_and_payload() -> None:
    payload = {"z": 1, "a": ["ü", 2.5, None], "m": {"y": True, "b": {}}}
    canonical = json.dumps(
        ["model_result", "c1/model/result", payload],
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert record_digest("model_result", "c1/model/result", payload) == expected
    reordered = {"m": {"b": {}, "y": True}, "a": ["ü", 2.5, None], "z": 1}
    assert NewRecord(RecordKind.MODEL_RESULT, "c1/model/result", reordered).digest == expected
    assert record_digest("model_result", "c1/model/other", payload) != expected
    assert record_digest("model_intent", "c1/model/result", payload) != expected


def test_a_draft_keeps_a_private_canonical_copy_of_its_payload() -> None:
    payload = {"items": (1, 2), "text": "é"}
    record = NewRecord("event", "event/e1", payload)
    payload["text"] = "changed"
    assert record.payload == {"items": [1, 2], "text": "é"}  # as any store reads it back
    assert record.payload_json == '{"items":[1,2],"text":"é"}'
    record.payload["text"] = "mutated copy"
    assert record.payload["text"] == "é"
    assert record.kind is RecordKind.EVENT


def test_a_writers_own_json_is_kept_as_written_and_digested_as_such() -> None:
    text = '{"z":1,"a":"é"}'  # not canonical: the writer's serializer chose the order
    record = NewRecord.of_json(RecordKind.EVENT, "event/e1", text)
    assert record.payload_json == text and record.payload == {"z": 1, "a": "é"}
    expected = hashlib.sha256(f'["event","event/e1",{text}]'.encode()).hexdigest()
    assert record.digest == expected
    # It reads back from storage checked against those bytes.
    stored = RunRecord.from_storage("r", 2, 1, "event", "event/e1", text, record.digest, 5)
    assert stored.payload == record.payload
    with pytest.raises(InvalidCheckpointRequest):
        NewRecord.of_json(RecordKind.EVENT, "event/e2", "[1, 2]")


def test_the_documented_keys() -> None:
    assert keys.run_created() == "run"
    assert keys.cycle_started(3) == "c3/started"
    assert keys.model_intent(3) == "c3/model/intent"
    assert keys.model_intent(3, attempt=2) == "c3/model/intent#2"
    assert keys.model_result(3) == "c3/model/result"
    assert keys.effect_intent(3, "call_1") == "c3/tool/call_1/intent"
    assert keys.effect_result(3, "call_1") == "c3/tool/call_1/result"
    assert keys.effect_unverified(3, "call_1") == "c3/tool/call_1/unverified"
    assert keys.cycle_committed(3) == "c3/committed"
    assert keys.waiting(3) == "c3/waiting" and keys.waiting(3, 2) == "c3/waiting#2"
    assert keys.cancel_observed() == "cancel" and keys.terminal() == "terminal"
    assert keys.snapshot(120) == "snapshot/120"
    assert keys.event("ev_7") == "event/ev_7"


def test_key_parts_are_escaped_so_keys_never_collide() -> None:
    assert record_key("c3", "tool", "a/b") == "c3/tool/a%2Fb"
    assert record_key("c3", "tool", "a", "b") == "c3/tool/a/b"
    assert record_key("100%", "x/y") == "100%25/x%2Fy"
    assert record_key("c1", 2) == "c1/2"
    for bad in ((), ("c1", "")):
        with pytest.raises(InvalidCheckpointRequest):
            record_key(*bad)
    with pytest.raises(InvalidCheckpointRequest):
        keys.model_intent(1, attempt=0)


def test_a_stored_record_that_fails_its_digest_or_kind_is_corrupt() -> None:
    draft = NewRecord("event", "event/e1", {"n": 1})
    good = RunRecord.from_storage("r", 2, 1, "event", "event/e1", '{"n":1}', draft.digest, 5)
    assert good == RunRecord.stamped("r", 2, 1, 5, draft)
    assert good.event_id == "r:2"
    with pytest.raises(CorruptRunRecord) as caught:
        RunRecord.from_storage("r", 2, 1, "event", "event/e1", '{"n":2}', draft.digest, 5)
    assert caught.value.details == {"run_id": "r", "seq": 2, "kind": "event", "key": "event/e1"}
    with pytest.raises(CorruptRunRecord, match="unknown kind"):
        RunRecord.from_storage("r", 2, 1, "from_the_future", "k", "{}", draft.digest, 5)
