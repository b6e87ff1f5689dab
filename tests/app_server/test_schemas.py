"""The v1 JSON Schema and TypeScript bundles: generated from the protocol models, shipped in
the package, reproducible, and as strict as the wire rules say."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agentcycle.app_server import protocol as p
from agentcycle.app_server.schemas import BUNDLE_FILE, json_schemas, typescript_files

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "agentcycle" / "app_server" / "schema"

NAMES = [
    "AppItem",
    "AppThread",
    "AppTurn",
    "ApprovalDecision",
    "ApprovalRequestParams",
    "ApprovalResolveParams",
    "ClientRequest",
    "InitializeParams",
    "InitializeResponse",
    "JsonRpcMessage",
    "SchemaExportResponse",
    "ServerNotification",
    "ServerRequest",
    "ThreadReadResponse",
    "ThreadResumeResponse",
    "ThreadStartResponse",
    "TurnResumeParams",
    "TurnResumeResponse",
    "TurnStartResponse",
]
OPEN_BAGS = {"payload", "metadata", "result", "tokenUsage", "budgetUsage", "budgetExhaustion"}
"""The open objects of §1 (``items`` is the open input-item element)."""


def _cli(*args: str) -> None:
    entry = "import sys; from agentcycle.cli import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", entry, "app-server", *args], check=True, timeout=60)


def test_the_bundle_names_exactly_the_v1_files() -> None:
    assert sorted(json_schemas()) == NAMES
    assert sorted(typescript_files()) == [f"{n}.ts" for n in NAMES if n != "JsonRpcMessage"]


def test_shipped_files_match_freshly_generated_ones() -> None:
    for name, text in json_schemas().items():
        assert (SHIPPED / "json" / f"{name}.json").read_text() == text, name
    for name, text in typescript_files().items():
        assert (SHIPPED / "typescript" / name).read_text() == text, name
    bundle = json.loads((SHIPPED / "json" / BUNDLE_FILE).read_text())
    assert bundle == {name: json.loads(text) for name, text in json_schemas().items()}


def test_cli_writes_reproducible_bundles(tmp_path: Path) -> None:
    for run in ("a", "b"):
        _cli("schema", "--out", str(tmp_path / run))
        _cli("generate-ts", "--out", str(tmp_path / run / "ts"))
    first = sorted((tmp_path / "a").rglob("*.*"))
    assert len([f for f in first if f.suffix == ".json"]) == 20  # 19 schemas + the bundle
    assert len([f for f in first if f.suffix == ".ts"]) == 18
    for path in first:
        twin = tmp_path / "b" / path.relative_to(tmp_path / "a")
        assert twin.read_bytes() == path.read_bytes(), path.name


def _objects(node: Any, key: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append((key, node))
        for child_key, child in node.items():
            found.extend(_objects(child, child_key if child_key != "properties" else key))
    elif isinstance(node, list):
        for child in node:
            found.extend(_objects(child, key))
    return found


@pytest.mark.parametrize("name", NAMES)
def test_objects_are_closed_except_the_open_bags(name: str) -> None:
    schema = json.loads(json_schemas()[name])
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for key, node in _objects(schema):
        if "properties" in node:
            assert node["additionalProperties"] is False, (name, key)
        elif node.get("additionalProperties") is not False:
            assert key in OPEN_BAGS | {"items", "arguments", "jsonSchema", "typescript"}, key


def test_envelopes_pin_the_protocol_constants() -> None:
    client = json.loads(json_schemas()["ClientRequest"])
    for definition in client["$defs"].values():
        if definition["title"].endswith("Request"):
            assert definition["properties"]["jsonrpc"]["const"] == "2.0"
            assert {"jsonrpc", "id", "method"} <= set(definition["required"])
    init = json.loads(json_schemas()["InitializeResponse"])
    assert init["properties"]["protocolVersion"]["const"] == "v1"


def test_optional_fields_are_omitted_and_required_nullables_sent() -> None:
    completed = p.TurnCompletedParams(thread_id="thread_1", turn_id="turn_1", status="completed")
    assert completed.wire() == {"threadId": "thread_1", "turnId": "turn_1", "status": "completed"}
    thread = p.AppThread(
        thread_id="thread_1",
        agent_key="default",
        cwd=None,
        created_at=1.5,
        updated_at=1.5,
        archived_at=None,
        status="idle",
        metadata={},
    ).wire()
    assert thread["cwd"] is None and thread["archivedAt"] is None
    jsonschema.validate(thread, json.loads(json_schemas()["AppThread"]))


def test_an_extra_field_or_a_null_optional_fails_validation() -> None:
    schema = json.loads(json_schemas()["TurnStartResponse"])
    good = {"threadId": "thread_1", "turnId": "turn_1", "status": "running"}
    jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "cursor": "c1"}, schema)
    resolve = json.loads(json_schemas()["ApprovalResolveParams"])
    base = {"threadId": "t", "turnId": "u", "requestId": "approval_1", "decision": "allow"}
    jsonschema.validate(base, resolve)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**base, "reason": None}, resolve)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**base, "decision": "ALLOW"}, resolve)


def test_typescript_is_self_contained() -> None:
    files = typescript_files()
    for name, text in files.items():
        assert "import " not in text, name
        assert f"export type {name.removesuffix('.ts')} =" in text
    approval = files["ApprovalResolveParams.ts"]
    assert 'decision: "allow" | "allow_session" | "deny" | "timeout";' in approval
    assert "reason?: string;" in approval
    assert "cwd: string | null;" in files["AppThread.ts"]
