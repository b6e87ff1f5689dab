"""Fixtures of the app server suite: scripted replies on disk, a spawned server behind the
typed client, and a check that every message the server wrote validates against the v1
schemas."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agentcycle.app_server import protocol as p
from agentcycle.app_server.client import ApprovalCallback, AppServerClient
from agentcycle.app_server.schemas import json_schema_of, json_schemas

BASH_THEN_FINISH = [
    {
        "content": "Let me look.",
        "tool_calls": [{"id": "call_1", "name": "bash", "arguments": {"command": "echo hi"}}],
    },
    {
        "content": "",
        "tool_calls": [{"id": "call_2", "name": "task_finish", "arguments": {"message": "done"}}],
    },
]
"""A turn that asks for approval (``bash``) and then finishes with ``done``."""

Spawn = Callable[..., Awaitable[AppServerClient]]


def _validators() -> dict[str, jsonschema.Draft202012Validator]:
    named = {name: json.loads(text) for name, text in json_schemas().items()}
    found = {name: jsonschema.Draft202012Validator(schema) for name, schema in named.items()}
    for method, (_params, result, _required) in p.CLIENT_REQUESTS.items():
        found[f"result:{method}"] = jsonschema.Draft202012Validator(json_schema_of(result))
    return found


VALIDATORS = _validators()


def assert_valid_v1(client: AppServerClient) -> None:
    """Every message the server wrote validates against the v1 schemas: its envelope, and
    its result, notification or server request. (A connection that opted into the
    experimental API gets ext fields, which v1 schemas reject by design.)"""
    for message in client.sent:
        if message.get("method") == "initialize":
            capabilities = message["params"].get("capabilities") or {}
            if capabilities.get("experimentalApi"):
                return
    methods = {m["id"]: m["method"] for m in client.sent if "id" in m and "method" in m}
    seen: set[str] = set()
    for message in client.received:
        # A flood repeats one message thousands of times (only its id differs): check each
        # distinct one once.
        body = {k: v for k, v in message.items() if k != "id"}
        id_kind = type(message.get("id")).__name__
        key = json.dumps([body, id_kind, methods.get(message.get("id"))], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        VALIDATORS["JsonRpcMessage"].validate(message)
        if "method" in message and "id" in message:
            VALIDATORS["ServerRequest"].validate(message)
        elif "method" in message:
            VALIDATORS["ServerNotification"].validate(message)
        elif "result" in message and message["id"] in methods:
            VALIDATORS[f"result:{methods[message['id']]}"].validate(message["result"])


def write_script(folder: Path, replies: list[dict[str, Any]]) -> Path:
    """A ``--scripted-model`` file."""
    path = folder / "replies.json"
    path.write_text(json.dumps(replies), encoding="utf-8")
    return path


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Spawn]:
    """Start servers (closed, and their output checked against the schemas, at the end)."""
    clients: list[AppServerClient] = []

    async def start(
        replies: list[dict[str, Any]] | None = None,
        *extra: str,
        store: str = ":memory:",
        on_approval: ApprovalCallback | None = None,
        env: dict[str, str] | None = None,
    ) -> AppServerClient:
        script = write_script(tmp_path, replies if replies is not None else BASH_THEN_FINISH)
        args = ["--scripted-model", str(script), "--store", store, *extra]
        client = await AppServerClient.spawn(args, on_approval=on_approval, cwd=tmp_path, env=env)
        clients.append(client)
        return client

    yield start
    for client in clients:
        if client.process.returncode is None:
            await client.close()
        assert_valid_v1(client)


async def ready(spawn: Spawn, *args: Any, **kwargs: Any) -> AppServerClient:
    """A spawned, initialized server."""
    client = await spawn(*args, **kwargs)
    await client.initialize("tests")
    return client
