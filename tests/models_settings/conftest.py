"""Settings data shared by the settings tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

SECRET = "sk-live-DO-NOT-LEAK-7f3a9c"
# A literal key in the sample settings; no repr, error or log may contain it.

SAMPLE: dict[str, Any] = {
    "VERSION": "2",
    "endpoints": [
        {
            "id": "openai",
            "api_base": "https://api.openai.com/v1",
            "api_key_env": "TEST_OPENAI_KEY",
            "endpoint_type": "openai",
        },
        {"id": "backup", "api_base": "http://127.0.0.1:9/v1", "api_key": SECRET},
        {"id": "ollama", "api_base": "http://127.0.0.1:11434/v1"},
        {
            "id": "claude",
            "api_base": "https://api.anthropic.com",
            "api_key_env": "TEST_ANTHROPIC_KEY",
            "endpoint_type": "anthropic",
        },
    ],
    "backends": {
        "openai": {
            "models": {
                "gpt-4.1": {
                    "id": "gpt-4.1",
                    "endpoints": ["openai", {"endpoint_id": "backup", "model_id": "gpt-4.1-b"}],
                    "context_length": 1047576,
                    "max_output_tokens": 32768,
                    "function_call_available": True,
                    "native_multimodal": True,
                    "settings": {"temperature": 0.2, "max_tokens": 1000},
                },
                "shared": {"endpoints": ["openai"]},
            }
        },
        "local": {
            "default_model": "qwen3",
            "models": {
                "qwen3": {
                    "id": "qwen3",
                    "endpoints": [{"endpoint_id": "ollama", "model_id": "qwen3:8b"}],
                    "context_length": 32768,
                    "function_call_available": False,
                },
                "shared": {"id": "shared-local", "endpoints": ["ollama"]},
            },
        },
        "anthropic": {
            "models": {
                "claude-sonnet": {"id": "claude-sonnet-4-5", "endpoints": ["claude"]},
            }
        },
    },
}


@pytest.fixture
def sample() -> dict[str, Any]:
    """A fresh copy of the sample settings mapping."""
    return copy.deepcopy(SAMPLE)


@pytest.fixture
def secret() -> str:
    """The literal API key inside the sample settings."""
    return SECRET


SAMPLE_TOML = f"""
VERSION = "2"

[[endpoints]]
id = "openai"
api_base = "https://api.openai.com/v1"
api_key_env = "TEST_OPENAI_KEY"
endpoint_type = "openai"

[[endpoints]]
id = "backup"
api_base = "http://127.0.0.1:9/v1"
api_key = "{SECRET}"

[[endpoints]]
id = "ollama"
api_base = "http://127.0.0.1:11434/v1"

[[endpoints]]
id = "claude"
api_base = "https://api.anthropic.com"
api_key_env = "TEST_ANTHROPIC_KEY"
endpoint_type = "anthropic"

[backends.openai.models."gpt-4.1"]
id = "gpt-4.1"
endpoints = ["openai", {{ endpoint_id = "backup", model_id = "gpt-4.1-b" }}]
context_length = 1047576
max_output_tokens = 32768
function_call_available = true
native_multimodal = true
settings = {{ temperature = 0.2, max_tokens = 1000 }}

[backends.openai.models.shared]
endpoints = ["openai"]

[backends.local]
default_model = "qwen3"

[backends.local.models.qwen3]
id = "qwen3"
endpoints = [{{ endpoint_id = "ollama", model_id = "qwen3:8b" }}]
context_length = 32768
function_call_available = false

[backends.local.models.shared]
id = "shared-local"
endpoints = ["ollama"]

[backends.anthropic.models.claude-sonnet]
id = "claude-sonnet-4-5"
endpoints = ["claude"]
"""


@pytest.fixture
def sample_toml() -> str:
    """The sample settings as TOML text."""
    return SAMPLE_TOML
