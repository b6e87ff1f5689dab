"""Opt-in smoke tests against the real providers, by name, the way a new user starts.

They live outside ``tests/`` (the suite ``pytest`` collects by default), so they run only when
asked for, and then need ``AGENTCYCLE_LIVE=1`` and the provider's key (or, for Ollama,
``OLLAMA_HOST`` or a server on the default port): they cost money and need the network.
``AGENTCYCLE_LIVE_OPENAI_MODEL``, ``..._ANTHROPIC_MODEL`` and ``..._OLLAMA_MODEL`` choose the
models (defaults below)::

    AGENTCYCLE_LIVE=1 OPENAI_API_KEY=... .venv/bin/python -m pytest tests_live
"""

from __future__ import annotations

import os
import socket

import pytest

from agentcycle import Agent, Runner
from agentcycle.events import RunStatus

LIVE = os.environ.get("AGENTCYCLE_LIVE") == "1"
OLLAMA_DEFAULT = ("127.0.0.1", 11434)


def _ollama_listening() -> bool:
    """Whether a server answers on Ollama's default address (the provider's fallback when
    ``OLLAMA_HOST`` is unset): only then is the Ollama case asked for."""
    try:
        with socket.create_connection(OLLAMA_DEFAULT, timeout=1):
            return True
    except OSError:
        return False


CASES = [
    ("openai", "gpt-4.1-mini", "OPENAI_API_KEY"),
    ("anthropic", "claude-sonnet-4-5", "ANTHROPIC_API_KEY"),
    ("ollama", "qwen2.5", "OLLAMA_HOST"),
]


@pytest.mark.parametrize(("provider", "default_model", "variable"), CASES)
def test_a_real_model_by_name_finishes_a_small_task(
    provider: str, default_model: str, variable: str
) -> None:
    if not LIVE:
        pytest.skip("live provider tests need AGENTCYCLE_LIVE=1")
    if provider == "ollama":
        if not os.environ.get(variable) and not _ollama_listening():
            pytest.skip("OLLAMA_HOST is not set and nothing listens on 127.0.0.1:11434")
    elif not os.environ.get(variable):
        pytest.skip(f"{variable} is not set")
    model = os.environ.get(f"AGENTCYCLE_LIVE_{provider.upper()}_MODEL", default_model)
    agent = Agent(
        model=f"{provider}:{model}",
        instructions="Answer with task_finish; the message is the single word asked for.",
        max_cycles=4,
    )
    result = Runner.run_sync(agent, "Finish with the word: pineapple")
    assert result.status is RunStatus.COMPLETED, result.error
    assert "pineapple" in str(result.final_output).lower()
    assert result.usage.total_tokens
