"""Models by name (``"openai:gpt-4.1-mini"``, ``"ollama:qwen2.5"``, ``"openai:M@URL"``): parsing,
keys from the environment, and whole runs through the real provider code over HTTP."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests._cli import run_cli

from agentcycle import Agent, ModelSettings, RetrySettings, Runner
from agentcycle.errors import ConfigurationError
from agentcycle.events import RunStatus
from agentcycle.models.anthropic import AnthropicModel
from agentcycle.models.named import ModelName, named_model
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.testing.anthropic_server import AnthropicCompatServer, MessagesReply
from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer, ServerToolCall

KEY = "sk-named-secret-4242"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


def finish(message: str) -> ChatReply:
    return ChatReply(tool_calls=[ServerToolCall("task_finish", {"message": message})])


def test_names_parse_into_provider_model_and_address() -> None:
    assert ModelName.parse("openai:gpt-4.1-mini") == ModelName("openai", "gpt-4.1-mini")
    assert ModelName.parse("ollama:qwen2.5:7b") == ModelName("ollama", "qwen2.5:7b")
    assert ModelName.parse("openai:qwen@http://127.0.0.1:8080/v1") == ModelName(
        "openai", "qwen", "http://127.0.0.1:8080/v1"
    )
    assert ModelName.parse("qwen3:8b") is None  # a settings-file name
    assert ModelName.parse("gpt-4.1") is None
    for bad in ("openai:", "ollama: ", "openai:m@ftp://x"):
        with pytest.raises(ConfigurationError) as caught:
            ModelName.parse(bad)
        assert caught.value.code == "invalid_model_name"


def test_keys_and_addresses_come_from_the_usual_variables() -> None:
    provided = named_model("openai:gpt-4.1-mini", env={"OPENAI_API_KEY": KEY})
    assert provided is not None and isinstance(provided.model, OpenAIChatModel)
    (target,) = provided.model.targets
    assert (target.api_base, target.model_id, target.api_key) == (
        "https://api.openai.com/v1",
        "gpt-4.1-mini",
        KEY,
    )
    claude = named_model("anthropic:claude-sonnet-4-5", env={"ANTHROPIC_API_KEY": KEY})
    assert claude is not None and isinstance(claude.model, AnthropicModel)
    ollama = named_model("ollama:qwen2.5", env={"OPENAI_API_KEY": KEY})
    assert ollama is not None and isinstance(ollama.model, OpenAIChatModel)
    (local,) = ollama.model.targets
    assert (local.api_base, local.api_key) == ("http://127.0.0.1:11434/v1", None)
    moved = named_model("ollama:qwen2.5", env={"OLLAMA_HOST": "127.0.0.1:9999"})
    assert moved is not None and moved.model.targets[0].api_base == "http://127.0.0.1:9999/v1"


def test_a_missing_key_names_the_variable_and_never_leaks() -> None:
    with pytest.raises(ConfigurationError) as caught:
        named_model("anthropic:claude-sonnet-4-5", env={"OPENAI_API_KEY": KEY})
    assert caught.value.code == "missing_api_key"
    assert "ANTHROPIC_API_KEY" in caught.value.message and KEY not in caught.value.message


def test_an_explicit_server_gets_no_key(server: OpenAICompatServer) -> None:
    # The OpenAI key never goes to a server named in the model string.
    provided = named_model(f"openai:served@{server.base_url}", env={"OPENAI_API_KEY": KEY})
    assert provided is not None and provided.model.targets[0].api_key is None


def test_agent_model_by_name_runs_through_the_provider(
    server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    server.enqueue(finish("hello by name"))
    result = Runner.run_sync(Agent(model="openai:gpt-4.1-mini"), "Say hello")
    assert result.status is RunStatus.COMPLETED and result.final_output == "hello by name"
    request = server.requests[0]
    assert request.json["model"] == "gpt-4.1-mini"
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_any_compatible_server_by_base_url(server: OpenAICompatServer) -> None:
    server.enqueue(finish("served"))
    agent = Agent(model=f"openai:local-model@{server.base_url}")
    assert Runner.run_sync(agent, "hi").final_output == "served"
    assert server.requests[0].json["model"] == "local-model"


def test_a_server_that_is_not_there_is_named_by_its_address() -> None:
    # A port bound but not listening refuses connections for as long as it is held.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        address = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
        fast = ModelSettings(retry=RetrySettings(max_attempts=1))
        agent = Agent(model=f"openai:qwen@{address}", model_settings=fast)
        result = Runner.run_sync(agent, "hi")
        with_login = address.replace("http://", "http://clerk:hunter2@")
        login = Runner.run_sync(Agent(model=f"openai:q@{with_login}", model_settings=fast), "hi")
    assert result.status == RunStatus.FAILED and result.error is not None
    assert result.error["code"] == "connection_error"
    # The endpoint is "openai" whatever the URL: the address says which server is meant.
    assert result.error["message"] == f"endpoint 'openai' at {address} could not be reached"
    assert login.error is not None and "hunter2" not in login.error["message"]
    assert address in login.error["message"]


def test_anthropic_and_ollama_by_name_over_http(
    server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", server.origin)  # Ollama's own "host:port" variable
    server.enqueue(finish("from ollama"))
    assert Runner.run_sync(Agent(model="ollama:qwen2.5"), "hi").final_output == "from ollama"
    assert server.requests[0].json["model"] == "qwen2.5"
    reply = MessagesReply(tool_uses=[ServerToolCall("task_finish", {"message": "from claude"})])
    with AnthropicCompatServer([reply]) as claude:
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", claude.base_url)
        result = Runner.run_sync(Agent(model="anthropic:claude-sonnet-4-5"), "hi")
        assert result.final_output == "from claude"
        assert claude.requests[0].json["model"] == "claude-sonnet-4-5"
        headers = claude.requests[0].headers
        assert KEY in headers.get("x-api-key", "") + headers.get("authorization", "")


def test_the_cli_takes_the_same_names(server: OpenAICompatServer, tmp_path: Path) -> None:
    server.enqueue(finish("from the cli"))
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.base_url}
    proc = run_cli("-p", "hi", "--model", "openai:gpt-4.1-mini", "--json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["final_output"] == "from the cli"
    assert data["resolved"]["backend"] == "openai" and data["resolved"]["model"] == "gpt-4.1-mini"


def test_contradictory_flags_are_refused(tmp_path: Path) -> None:
    demo = run_cli("-p", "hi", "--backend", "demo", "--model", "foo", cwd=tmp_path, env={})
    assert demo.returncode == 1 and "the demo backend has one model" in demo.stderr
    both = run_cli("-p", "hi", "--backend", "x", "--model", "openai:m", cwd=tmp_path, env={})
    assert both.returncode == 1 and "names its provider already" in both.stderr


def test_the_example_settings_file_works_as_copied(tmp_path: Path) -> None:
    shutil.copy(REPO / "local_settings.example.json", tmp_path / "local_settings.json")
    proc = run_cli("-p", "hi", cwd=tmp_path, env={})
    # It picks its default model; without a key the one thing missing is said plainly.
    assert proc.returncode == 1
    assert "OPENAI_API_KEY" in proc.stderr and "default_backend" not in proc.stderr
