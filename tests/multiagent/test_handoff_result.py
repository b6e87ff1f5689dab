"""After a handoff the result names the agent and the model that produced the final output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcycle import Agent, ModelRef, RunConfig, Runner, RunState, RunStatus, handoff
from agentcycle.models.base import ModelInfo, ModelSettings
from agentcycle.models.provider import ProvidedModel
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer, ServerToolCall


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


def settings_file(tmp_path: Path, server: OpenAICompatServer) -> Path:
    """Two backends on two endpoint ids of the same loopback server."""
    endpoints = [
        {"id": name, "api_base": server.base_url, "api_key": "sk-test", "endpoint_type": "openai"}
        for name in ("front-desk", "back-office")
    ]
    backends = {
        "fast": {"models": {"small": {"endpoints": ["front-desk"], "context_length": 8192}}},
        "strong": {"models": {"large": {"endpoints": ["back-office"], "context_length": 8192}}},
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"VERSION": "2", "endpoints": endpoints, "backends": backends}))
    return path


def finish(message: str) -> ChatReply:
    return ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": message})])


async def test_the_result_names_the_targets_backend_model_and_endpoint(
    server: OpenAICompatServer, tmp_path: Path
) -> None:
    server.enqueue(
        ChatReply(tool_calls=[ServerToolCall("transfer_to_billing", {"input": "a refund"})]),
        finish("Refunded."),
    )
    billing = Agent(name="Billing", model=ModelRef.backend("strong", "large"))
    triage = Agent(
        name="Triage", model=ModelRef.backend("fast", "small"), handoffs=[handoff(billing)]
    )
    config = RunConfig(settings_file=settings_file(tmp_path, server))
    result = await Runner.run(triage, "refund me", config=config)

    assert (result.status, result.final_output) == (RunStatus.COMPLETED, "Refunded.")
    assert [r.json["model"] for r in server.requests] == ["small", "large"]
    assert (result.agent_name, result.backend, result.model, result.endpoint) == (
        "Billing",
        "strong",
        "large",
        "back-office",
    )
    summary = result.summary()
    assert summary["agent_name"] == "Billing"
    assert summary["resolved"] == {"backend": "strong", "model": "large", "endpoint": "back-office"}


async def test_without_a_handoff_the_result_names_the_starting_model(
    server: OpenAICompatServer, tmp_path: Path
) -> None:
    server.enqueue(finish("Nothing to hand off."))
    billing = Agent(name="Billing", model=ModelRef.backend("strong", "large"))
    triage = Agent(name="Triage", model=ModelRef.backend("fast", "small"), handoffs=[billing])
    config = RunConfig(settings_file=settings_file(tmp_path, server))
    result = await Runner.run(triage, "hello", config=config)
    assert (result.agent_name, result.backend, result.model, result.endpoint) == (
        "Triage",
        "fast",
        "small",
        "front-desk",
    )


async def test_a_resumed_run_names_the_model_of_the_agent_in_control() -> None:
    billing = Agent(
        name="Billing",
        model=ScriptedModel(
            [
                call_tool("ask_user", {"question": "Which order?"}),
                call_tool("task_finish", {"message": "refunded 7"}),
            ],
            name="billing-model",
        ),
    )
    triage = Agent(
        name="Triage",
        model=ScriptedModel(
            [call_tool("transfer_to_billing", {"input": "refund"})], name="triage-model"
        ),
        handoffs=[billing],
    )
    first = await Runner.run(triage, "refund please")
    assert (first.status, first.agent_name, first.model) == (
        RunStatus.WAIT_USER,
        "Billing",
        "billing-model",
    )
    state = RunState.from_json(first.to_state().to_json())
    result = await Runner.resume(triage, state, input="order 7")
    assert (result.agent_name, result.model, result.final_output) == (
        "Billing",
        "billing-model",
        "refunded 7",
    )


class ClosableModel(ScriptedModel):
    """A scripted model that counts ``aclose`` calls, like an HTTP-backed model would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


async def test_releasing_the_clients_closes_the_handoff_targets_model_too() -> None:
    target_model = ClosableModel([call_tool("task_finish", {"message": "done"})])
    source_model = ClosableModel([call_tool("transfer_to_billing", {"input": "x"})])
    triage = Agent(
        name="Triage", model=source_model, handoffs=[Agent(name="Billing", model=target_model)]
    )
    handle = await Runner.start(triage, "x")
    await handle.result()
    await handle.release_model_clients()
    assert (source_model.closed, target_model.closed) == (1, 1)


class BuildingProvider:
    """A model provider that builds a new closable model per resolution, as the settings
    provider does, and keeps them all; each name answers from its own script."""

    def __init__(self, scripts: dict[str, list[Any]]) -> None:
        self.scripts = scripts
        self.built: list[tuple[str, ClosableModel]] = []

    def get_model(self, ref: ModelRef | str) -> ProvidedModel:
        name = ref if isinstance(ref, str) else ref.model
        assert name is not None
        script = self.scripts[name]
        model = ClosableModel(lambda request: script.pop(0))
        self.built.append((name, model))
        return ProvidedModel(model=model, info=ModelInfo(), settings=ModelSettings())


async def test_releasing_the_clients_closes_every_model_the_run_tree_resolved() -> None:
    provider = BuildingProvider(
        {
            "triage": [
                call_tool("researcher", {"task_description": "look"}),
                call_tool("transfer_to_billing", {"input": "a refund"}),
                call_tool("task_finish", {"message": "refunded"}),
            ],
            "researcher": [call_tool("task_finish", {"message": "found it"})],
            "billing": [call_tool("transfer_to_triage", {"input": "back to you"})],
        }
    )
    researcher = Agent(name="researcher", model="researcher")
    triage = Agent(name="Triage", model="triage", tools=[researcher.as_tool()])
    billing = Agent(name="Billing", model="billing", handoffs=[triage])
    triage.handoffs = (billing,)
    handle = await Runner.start(triage, "x", config=RunConfig(model_provider=provider))
    result = await handle.result()
    assert result.final_output == "refunded"
    # Each handoff resolves its target again; the child resolves its own model.
    assert [name for name, _ in provider.built] == ["triage", "researcher", "billing", "triage"]
    await handle.release_model_clients()
    assert [model.closed for _, model in provider.built] == [1, 1, 1, 1]
