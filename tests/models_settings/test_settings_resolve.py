"""Exact model resolution, endpoint targets, keys and adapters."""

from __future__ import annotations

from typing import Any

import pytest

from agentcycle.errors import ConfigurationError, ModelNotFoundError
from agentcycle.models.anthropic import AnthropicModel
from agentcycle.models.base import EndpointTarget, Model, ModelInfo, ModelRef, ModelSettings
from agentcycle.models.openai import OpenAIChatModel
from agentcycle.models.settings import (
    LLMSettings,
    build_model,
    default_model_ref,
    parse_settings,
    resolve_model,
)

ENV = {"TEST_OPENAI_KEY": "sk-from-env", "TEST_ANTHROPIC_KEY": "ak-from-env"}


@pytest.fixture
def settings(sample: dict[str, Any]) -> LLMSettings:
    return parse_settings(sample, source="conf.json")


def test_backend_and_model(settings: LLMSettings, secret: str) -> None:
    resolved = resolve_model(settings, ModelRef.backend("openai", "gpt-4.1"), env=ENV)
    assert (resolved.backend, resolved.model, resolved.model_id) == ("openai", "gpt-4.1", "gpt-4.1")
    assert resolved.targets == (
        EndpointTarget("openai", "https://api.openai.com/v1", "gpt-4.1", "openai", "sk-from-env"),
        EndpointTarget("backup", "http://127.0.0.1:9/v1", "gpt-4.1-b", "openai", secret),
    )
    assert resolved.endpoint_type == "openai"
    assert resolved.info == ModelInfo(
        context_length=1047576,
        max_output_tokens=32768,
        function_call_available=True,
        native_multimodal=True,
    )
    assert resolved.settings == ModelSettings(temperature=0.2, max_tokens=1000)


def test_endpoint_object_overrides_the_model_id(settings: LLMSettings) -> None:
    resolved = resolve_model(settings, ModelRef.backend("local", "qwen3"), env={})
    [target] = resolved.targets
    assert (target.endpoint_id, target.model_id, target.api_key) == ("ollama", "qwen3:8b", None)
    assert resolved.model_id == "qwen3"
    assert resolved.info == ModelInfo(context_length=32768, function_call_available=False)
    assert resolved.settings == ModelSettings()


def test_model_id_defaults_to_its_name(settings: LLMSettings) -> None:
    resolved = resolve_model(settings, ModelRef.backend("openai", "shared"), env=ENV)
    assert resolved.model_id == "shared"
    assert resolved.targets[0].model_id == "shared"


def test_bare_names_use_the_default_backend(settings: LLMSettings, sample: dict[str, Any]) -> None:
    assert resolve_model(settings, "shared", "local", env=ENV).model_id == "shared-local"
    assert resolve_model(settings, ModelRef.named("shared"), "openai", env=ENV).backend == "openai"
    sample["default_backend"] = "local"
    with_default = parse_settings(sample)
    assert resolve_model(with_default, "shared", env=ENV).backend == "local"
    # The caller's default beats the file's; a ref's own backend beats both.
    assert resolve_model(with_default, "shared", "openai", env=ENV).backend == "openai"
    ref = ModelRef.backend("openai", "shared")
    assert resolve_model(with_default, ref, "local", env=ENV).backend == "openai"


def test_bare_name_without_default_backend_must_be_unique(settings: LLMSettings) -> None:
    assert resolve_model(settings, "claude-sonnet", env=ENV).backend == "anthropic"
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model(settings, "shared", env=ENV)
    assert caught.value.message == (
        "model 'shared' exists in several backends (openai, local); name the backend "
        "(settings file conf.json)"
    )
    assert caught.value.details["candidate_backends"] == ["openai", "local"]


def test_unknown_backend_lists_backends(settings: LLMSettings) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model(settings, ModelRef.backend("azure", "gpt-4.1"), env=ENV)
    assert caught.value.message == (
        "unknown backend 'azure'; backends: openai, local, anthropic (settings file conf.json)"
    )
    assert caught.value.code == "model_not_found"
    assert isinstance(caught.value, ConfigurationError)


def test_unknown_model_lists_the_models_of_that_backend(settings: LLMSettings) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model(settings, ModelRef.backend("local", "llama3"), env=ENV)
    assert caught.value.message == (
        "unknown model 'llama3' in backend 'local'; its models: qwen3, shared "
        "(settings file conf.json)"
    )
    assert caught.value.details == {
        "backend": "local",
        "model": "llama3",
        "available_models": ["qwen3", "shared"],
    }
    with pytest.raises(ModelNotFoundError, match=r"models: openai/gpt-4\.1, openai/shared, local/"):
        resolve_model(settings, "llama3", env=ENV)


def test_resolution_is_exact(settings: LLMSettings) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model(settings, ModelRef.backend("openai", "GPT-4.1"), env=ENV)
    assert "did you mean 'gpt-4.1'?" in caught.value.message
    with pytest.raises(ModelNotFoundError, match="unknown backend 'OpenAI'"):
        resolve_model(settings, ModelRef.backend("OpenAI", "gpt-4.1"), env=ENV)
    with pytest.raises(ModelNotFoundError):
        resolve_model(settings, ModelRef.backend("openai", "gpt-4.1 "), env=ENV)


def test_missing_key_variable_is_a_configuration_error(settings: LLMSettings) -> None:
    for env in ({}, {"TEST_OPENAI_KEY": ""}):
        with pytest.raises(ConfigurationError) as caught:
            resolve_model(settings, ModelRef.backend("openai", "gpt-4.1"), env=env)
        assert caught.value.code == "missing_api_key"
        assert "environment variable TEST_OPENAI_KEY is not set" in caught.value.message
        assert caught.value.details == {"endpoint": "openai", "variable": "TEST_OPENAI_KEY"}


def test_keys_come_from_the_process_environment_by_default(
    settings: LLMSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "ak-process")
    resolved = resolve_model(settings, "claude-sonnet")
    assert resolved.targets[0].api_key == "ak-process"


def test_default_model_ref(settings: LLMSettings, sample: dict[str, Any]) -> None:
    assert default_model_ref(settings, "local") == ModelRef.backend("local", "qwen3")
    assert default_model_ref(settings, "anthropic") == ModelRef.backend(
        "anthropic", "claude-sonnet"
    )
    with pytest.raises(ModelNotFoundError, match="backend 'openai' has no default_model; choose"):
        default_model_ref(settings, "openai")
    with pytest.raises(ModelNotFoundError, match="no default_backend; choose one of: openai, "):
        default_model_ref(settings)
    with pytest.raises(ModelNotFoundError, match="unknown backend 'nope'"):
        default_model_ref(settings, "nope")
    sample["default_backend"] = "local"
    assert default_model_ref(parse_settings(sample)) == ModelRef.backend("local", "qwen3")
    only = {
        "VERSION": "2",
        "endpoints": [{"id": "e"}],
        "backends": {"b": {"models": {"m": {"endpoints": ["e"]}}}},
    }
    assert default_model_ref(parse_settings(only)) == ModelRef.backend("b", "m")


def test_build_model_picks_the_adapter_by_endpoint_type(settings: LLMSettings) -> None:
    openai_model = build_model(resolve_model(settings, "gpt-4.1", "openai", env=ENV))
    assert isinstance(openai_model, OpenAIChatModel)
    assert isinstance(openai_model, Model)
    assert (openai_model.name, openai_model.backend) == ("gpt-4.1", "openai")
    claude = build_model(resolve_model(settings, "claude-sonnet", env=ENV))
    assert isinstance(claude, AnthropicModel)
    assert (claude.name, claude.backend) == ("claude-sonnet", "anthropic")
