"""Strict JSON-RPC 2.0 framing: classify one inbound line, shape outbound messages, and the
typed errors handlers raise (``RpcError``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
OVERLOADED = -32001
NOT_INITIALIZED = -32010
ALREADY_INITIALIZED = -32011
EXPERIMENTAL_REQUIRED = -32012
THREAD_NOT_FOUND = -32020
THREAD_ARCHIVED = -32021
INVALID_CURSOR = -32026
ACTIVE_TURN_NOT_FOUND = -32030
TURN_ID_MISMATCH = -32031

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""Inbound messages longer than this are discarded with ``Message too large``."""

_INT64 = (-(2**63), 2**63 - 1)

RequestId = str | int

Reply = tuple[Any, Callable[[], None] | None]
"""A handler's result and what to do once the response is written (notifications that must
follow it)."""


class RpcError(Exception):
    """An error answer: ``code``, ``message`` and optional ``data``, exactly as sent."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_wire(self) -> dict[str, Any]:
        """The JSON-RPC error object."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def thread_not_found() -> RpcError:
    """``-32020``: the thread id is unknown."""
    return RpcError(THREAD_NOT_FOUND, "Thread not found")


def invalid_params(message: str) -> RpcError:
    """``-32602`` with a readable message."""
    return RpcError(INVALID_PARAMS, message)


def params_error(method: str, exc: ValidationError) -> RpcError:
    """``-32602`` describing the first problems pydantic found in ``method``'s params."""
    from agentcycle._validation import field_path, one_line

    problems = [f"{field_path(issue['loc']) or 'params'}: {issue['msg']}" for issue in exc.errors()]
    return invalid_params(f"Invalid params for {method}: {one_line(problems, 3)}")


@dataclass(frozen=True, slots=True)
class Request:
    """An inbound request."""

    id: RequestId
    method: str
    params: Any


@dataclass(frozen=True, slots=True)
class Notification:
    """An inbound notification."""

    method: str
    params: Any


@dataclass(frozen=True, slots=True)
class Response:
    """An inbound response to a server request (``error`` set for an error response)."""

    id: RequestId
    result: Any = None
    error: Any = None


@dataclass(frozen=True, slots=True)
class Invalid:
    """A line that is not a valid message: answer ``error`` to ``id``."""

    id: RequestId | None
    error: RpcError


Inbound = Request | Notification | Response | Invalid

_REQUEST_KEYS = frozenset({"jsonrpc", "id", "method", "params"})
_RESPONSE_KEYS = frozenset({"jsonrpc", "id", "result", "error"})


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return _INT64[0] <= value <= _INT64[1]
    return isinstance(value, str)


def invalid_request(message: str = "Invalid Request") -> RpcError:
    """``-32600``."""
    return RpcError(INVALID_REQUEST, message)


def classify(line: bytes) -> Inbound:
    """Read one inbound line into a message, or into the error to answer."""
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Invalid(None, RpcError(PARSE_ERROR, "Parse error"))
    if not isinstance(data, dict):
        return Invalid(None, invalid_request())
    raw_id = data.get("id")
    echo = raw_id if "id" in data and _valid_id(raw_id) else None
    if data.get("jsonrpc") != "2.0":
        return Invalid(echo, invalid_request())
    keys = data.keys()
    if "method" in data:
        if not keys <= _REQUEST_KEYS or not isinstance(data["method"], str):
            return Invalid(echo, invalid_request())
        if "id" not in data:
            return Notification(data["method"], data.get("params"))
        if echo is None:
            return Invalid(None, invalid_request())
        return Request(echo, data["method"], data.get("params"))
    if "id" in data and keys <= _RESPONSE_KEYS and (("result" in data) != ("error" in data)):
        if echo is None:
            return Invalid(None, invalid_request())
        return Response(echo, data.get("result"), data.get("error"))
    return Invalid(echo, invalid_request())


@dataclass(frozen=True, slots=True)
class RawJsonArray:
    """A JSON array whose elements are already encoded (stored items): ``encode`` splices
    them in verbatim, so a large snapshot is not decoded and encoded again."""

    texts: list[str]

    def decoded(self) -> list[Any]:
        """The elements as Python values."""
        return [json.loads(text) for text in self.texts]


_RAW_MARK = "\u0000raw-json-array\u0000"
_RAW_MARK_JSON = json.dumps(_RAW_MARK)


def encode(message: dict[str, Any]) -> bytes:
    """One outbound line: compact JSON, no raw newlines, newline-terminated. A
    ``RawJsonArray`` directly inside ``result`` is spliced in as it is."""
    result = message.get("result")
    raw: RawJsonArray | None = None
    if isinstance(result, dict):
        for key, value in result.items():
            if isinstance(value, RawJsonArray):
                raw = value
                message = {**message, "result": {**result, key: _RAW_MARK}}
                break
    text = compact_json(message)
    if raw is not None:
        text = text.replace(_RAW_MARK_JSON, "[" + ",".join(raw.texts) + "]", 1)
    return text.encode() + b"\n"


def compact_json(value: Any) -> str:
    """``value`` as compact JSON text (non-ASCII kept, newlines escaped)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def notification_line(method: str, params_json: str) -> bytes:
    """A notification line from params already encoded (they are stored as this text too)."""
    return f'{{"jsonrpc":"2.0","method":{json.dumps(method)},"params":{params_json}}}\n'.encode()


def with_fields(params_json: str, fields: dict[str, Any]) -> str:
    """Params (the JSON text of an object) with ``fields`` added at the end."""
    extra = compact_json(fields)[1:-1]
    if not extra:
        return params_json
    return f"{{{extra}}}" if params_json == "{}" else f"{params_json[:-1]},{extra}}}"


def response(request_id: RequestId, result: Any) -> dict[str, Any]:
    """A success response."""
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_response(request_id: RequestId | None, error: RpcError) -> dict[str, Any]:
    """An error response."""
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_wire()}


def notification(method: str, params: Any) -> dict[str, Any]:
    """A notification."""
    return {"jsonrpc": "2.0", "method": method, "params": params}


def request(request_id: RequestId, method: str, params: Any) -> dict[str, Any]:
    """A server request."""
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
