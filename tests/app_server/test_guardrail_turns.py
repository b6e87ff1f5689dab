"""A run a guardrail stopped ends its turn ``failed`` with completion reason
``guardrail_tripped``, in a ``turn/completed`` the v1 schema accepts."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from agentcycle import Agent, GuardrailContext, Runner, Tripwire
from agentcycle.app_server import protocol as p
from agentcycle.app_server._projection import TurnEnd, TurnProjector
from agentcycle.app_server.schemas import json_schemas
from agentcycle.testing import ScriptedModel


def block_everything(ctx: GuardrailContext, value: Any) -> Tripwire:
    return Tripwire("Not this.", code="blocked_topic")


async def test_a_tripped_guardrail_ends_the_turn_failed_with_its_reason() -> None:
    agent = Agent(model=ScriptedModel([]), input_guardrails=[block_everything])
    projector = TurnProjector("thr_1", "turn_1", lambda request_id: None)
    end: TurnEnd | None = None
    async for event in Runner.stream(agent, "tell me"):
        _, turn_end = projector.project(event)
        end = turn_end or end
    assert end is not None and end.status == "failed"
    assert end.fields["completionReason"] == "guardrail_tripped"
    assert end.fields["error"] == "Not this."
    completed = {"threadId": "thr_1", "turnId": "turn_1", "status": end.status, **end.fields}
    p.TurnCompletedParams.model_validate(completed)
    notification = {"jsonrpc": "2.0", "method": "turn/completed", "params": completed}
    schema = json.loads(json_schemas()["ServerNotification"])
    jsonschema.Draft202012Validator(schema).validate(notification)
