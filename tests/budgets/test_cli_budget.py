"""The CLI's budget flags, as a subprocess against a loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcycle.testing.openai_server import ChatReply, OpenAICompatServer, ServerToolCall, usage
from tests._cli import run_cli


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


def write_settings(tmp_path: Path, base_url: str, pricing: dict[str, Any] | None) -> Path:
    model: dict[str, Any] = {"endpoints": ["loop"]}
    if pricing is not None:
        model["pricing"] = pricing
    settings = {
        "VERSION": "2",
        "endpoints": [{"id": "loop", "api_base": base_url, "api_key": "sk-test"}],
        "backends": {"local": {"models": {"loop-model": model}}},
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    return path


def cli(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--settings-file", str(settings), "-p", "tidy up",
                   "--workspace", str(settings.parent), *args, cwd=settings.parent)  # fmt: skip


def todo_call() -> ChatReply:
    return ChatReply(
        tool_calls=[ServerToolCall("todo_write", {"todos": []})], usage=usage(1000, 200)
    )


def budget_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "budget_exhausted" in line]


def test_token_budget_ends_the_run_with_one_line_and_exit_1(
    server: OpenAICompatServer, tmp_path: Path
) -> None:
    server.enqueue(todo_call(), todo_call(), todo_call())
    proc = cli(write_settings(tmp_path, server.base_url, None), "--max-total-tokens", "2000")
    assert proc.returncode == 1, proc.stderr
    (line,) = budget_lines(proc.stderr)
    assert line == (
        "agentcycle: run failed: budget_exhausted: "
        "Budget exhausted (--max-total-tokens=2000): 2400 tokens used."
    )
    assert len(server.requests) == 2


def test_cost_budget_uses_the_settings_file_price(
    server: OpenAICompatServer, tmp_path: Path
) -> None:
    server.enqueue(todo_call(), todo_call(), todo_call())
    pricing = {"input_per_million": 1.0, "output_per_million": 5.0}  # $0.002 per call
    settings = write_settings(tmp_path, server.base_url, pricing)
    proc = cli(settings, "--max-cost", "0.001")
    assert proc.returncode == 1, proc.stderr
    (line,) = budget_lines(proc.stderr)
    assert "--max-cost=0.001" in line and "$0.002000 spent" in line
    assert len(server.requests) == 1


def test_cost_budget_without_a_price_is_a_configuration_error(
    server: OpenAICompatServer, tmp_path: Path
) -> None:
    proc = cli(write_settings(tmp_path, server.base_url, None), "--max-cost", "1")
    assert proc.returncode == 1
    message = proc.stderr.strip()
    assert message.startswith("agentcycle: --max-cost needs a price")
    assert "RunConfig" not in message and "price_table" not in message
    assert server.requests == []


def test_invalid_budget_values_are_refused(server: OpenAICompatServer, tmp_path: Path) -> None:
    proc = cli(write_settings(tmp_path, server.base_url, None), "--max-total-tokens", "0")
    assert proc.returncode == 1
    assert "--max-total-tokens must be a positive integer" in proc.stderr


def test_json_says_why_a_run_failed(server: OpenAICompatServer, tmp_path: Path) -> None:
    server.enqueue(todo_call(), todo_call(), todo_call())
    settings = write_settings(tmp_path, server.base_url, None)
    proc = cli(settings, "--max-total-tokens", "1000", "--json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "failed" and data["run_id"].startswith("run_")
    assert data["error"]["code"] == "budget_exhausted"
    assert "--max-total-tokens=1000" in data["error"]["message"]
    assert data["usage"]["total_tokens"] == 1200
