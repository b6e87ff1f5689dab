"""The v1 JSON Schema (draft 2020-12) and TypeScript bundles, generated from
``agentcycle.app_server.protocol``.

``json_schemas()`` gives the 19 schemas by bare name, ``typescript_files()`` the 18 TypeScript
files by file name (every schema but ``JsonRpcMessage``). Output is reproducible: keys sorted,
fixed indentation, no timestamps. ``agentcycle app-server schema --out DIR`` and
``generate-ts --out DIR`` write them; ``schema/export`` returns them as text.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from agentcycle.app_server import protocol as p
from agentcycle.app_server._typescript import schema_to_typescript

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BUNDLE_FILE = "agentcycle_app_server.schemas.json"
"""The file ``schema --out DIR`` writes beside the single schemas: ``{Name: schema}``."""


class _V1JsonSchema(GenerateJsonSchema):
    """Pydantic's generator with the protocol's rules: an optional field (default ``None``)
    is not nullable and has no default; properties carry no generated titles."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if "default" in schema and schema["default"] is None:
            inner = schema["schema"]
            if inner["type"] == "nullable":
                inner = inner["schema"]
            return self.generate_inner(inner)
        return super().default_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema_of(source: Any, title: str | None = None) -> dict[str, Any]:
    """The self-contained draft 2020-12 schema of a protocol model or type."""
    adapter: TypeAdapter[Any] = TypeAdapter(source)
    schema = adapter.json_schema(schema_generator=_V1JsonSchema, mode="validation")
    if title is not None:
        schema["title"] = title
    return {"$schema": DRAFT, **schema}


def _camel_name(method: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in method.split("/"))


_ENVELOPE_CONFIG = ConfigDict(extra="forbid")


def _envelope(
    name: str, method: str, params: type[BaseModel], *, request: bool, required: bool
) -> type[BaseModel]:
    """A closed JSON-RPC envelope model for one method."""
    fields: dict[str, Any] = {
        "jsonrpc": (Literal["2.0"], ...),
        "method": (Literal[method], ...),  # type: ignore[valid-type]
    }
    if request:
        fields["id"] = (p.RequestId, ...)
    fields["params"] = (params, ...) if required else (params | None, None)
    model: type[BaseModel] = create_model(name, __config__=_ENVELOPE_CONFIG, **fields)
    return model


def _union(models: list[type[BaseModel]]) -> Any:
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="method")]  # noqa: UP007


def _client_request() -> Any:
    return _union(
        [
            _envelope(f"{_camel_name(m)}Request", m, params, request=True, required=required)
            for m, (params, _result, required) in p.CLIENT_REQUESTS.items()
        ]
    )


def _server_notification() -> Any:
    envelopes = [
        _envelope(f"{_camel_name(m)}Notification", m, params, request=False, required=True)
        for m, params in p.SERVER_NOTIFICATIONS.items()
    ]
    return _union(envelopes)


def _server_request() -> Any:
    return _union(
        [
            _envelope(f"{_camel_name(m)}Request", m, params, request=True, required=True)
            for m, params in p.SERVER_REQUESTS.items()
        ]
    )


class JsonRpcErrorObject(BaseModel):
    """A JSON-RPC error: exactly ``code``, ``message`` and optional ``data``."""

    model_config = _ENVELOPE_CONFIG
    code: int
    message: str
    data: Any = None


class JsonRpcRequest(BaseModel):
    """A request: ``method`` and ``id``."""

    model_config = _ENVELOPE_CONFIG
    jsonrpc: Literal["2.0"]
    id: p.RequestId
    method: str
    params: Any = None


class JsonRpcNotification(BaseModel):
    """A notification: ``method`` without ``id``."""

    model_config = _ENVELOPE_CONFIG
    jsonrpc: Literal["2.0"]
    method: str
    params: Any = None


class JsonRpcResponse(BaseModel):
    """A successful response."""

    model_config = _ENVELOPE_CONFIG
    jsonrpc: Literal["2.0"]
    id: p.RequestId
    result: Any


class JsonRpcErrorResponse(BaseModel):
    """An error response; ``id`` is null only for parse errors and invalid requests."""

    model_config = _ENVELOPE_CONFIG
    jsonrpc: Literal["2.0"]
    id: p.RequestId | None
    error: JsonRpcErrorObject


JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse | JsonRpcErrorResponse
"""Any JSON-RPC 2.0 message of the protocol (no batches)."""


def _sources() -> dict[str, tuple[Any, bool]]:
    """Every exported schema: name -> (type, whether it has a TypeScript file)."""
    return {
        "AppItem": (p.AppItem, True),
        "AppThread": (p.AppThread, True),
        "AppTurn": (p.AppTurn, True),
        "ApprovalDecision": (p.ApprovalDecision, True),
        "ApprovalRequestParams": (p.ApprovalRequestParams, True),
        "ApprovalResolveParams": (p.ApprovalResolveParams, True),
        "ClientRequest": (_client_request(), True),
        "InitializeParams": (p.InitializeParams, True),
        "InitializeResponse": (p.InitializeResponse, True),
        "JsonRpcMessage": (JsonRpcMessage, False),
        "SchemaExportResponse": (p.SchemaExportResponse, True),
        "ServerNotification": (_server_notification(), True),
        "ServerRequest": (_server_request(), True),
        "ThreadReadResponse": (p.ThreadReadResponse, True),
        "ThreadResumeResponse": (p.ThreadResumeResponse, True),
        "ThreadStartResponse": (p.ThreadStartResponse, True),
        "TurnResumeParams": (p.TurnResumeParams, True),
        "TurnResumeResponse": (p.TurnResumeResponse, True),
        "TurnStartResponse": (p.TurnStartResponse, True),
    }


@functools.cache
def _generated() -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    schemas: list[tuple[str, str]] = []
    scripts: list[tuple[str, str]] = []
    for name, (source, has_ts) in sorted(_sources().items()):
        schema = json_schema_of(source, title=name)
        schemas.append((name, _dump(schema)))
        if has_ts:
            scripts.append((f"{name}.ts", schema_to_typescript(name, schema)))
    return tuple(schemas), tuple(scripts)


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def json_schemas() -> dict[str, str]:
    """The 19 v1 JSON Schemas as JSON text, by bare name (``"AppItem"``), sorted."""
    return dict(_generated()[0])


def typescript_files() -> dict[str, str]:
    """The 18 TypeScript files (self-contained, no imports), by file name, sorted."""
    return dict(_generated()[1])


def write_json_schemas(out: Path) -> list[Path]:
    """Write ``out/json/<Name>.json`` and the bundle ``out/json/agentcycle_app_server.schemas
    .json``; returns the files written."""
    folder = out / "json"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    bundle: dict[str, Any] = {}
    for name, text in json_schemas().items():
        path = folder / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        written.append(path)
        bundle[name] = json.loads(text)
    path = folder / BUNDLE_FILE
    path.write_text(_dump(bundle), encoding="utf-8")
    written.append(path)
    return written


def write_typescript(out: Path) -> list[Path]:
    """Write ``out/<Name>.ts`` for the 18 TypeScript files; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in typescript_files().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
