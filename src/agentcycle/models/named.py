"""Models by name, without a settings file: ``"openai:gpt-4.1-mini"``, ``"anthropic:..."``,
``"ollama:qwen2.5"``, and any OpenAI-compatible server as ``"openai:MODEL@BASE_URL"``.

Keys and addresses come from the usual environment variables:

========== ================================= ==================== ===========================
provider   default address                   key                  address override
========== ================================= ==================== ===========================
openai     https://api.openai.com/v1         ``OPENAI_API_KEY``   ``OPENAI_BASE_URL``
anthropic  https://api.anthropic.com         ``ANTHROPIC_API_KEY`` ``ANTHROPIC_BASE_URL``
ollama     http://127.0.0.1:11434/v1         none                 ``OLLAMA_HOST``
========== ================================= ==================== ===========================

The key is required only by the providers' own APIs. ``openai:MODEL@BASE_URL`` names a server
explicitly and sends no key (local servers need none; a keyed one belongs in the settings file,
which also keeps failover endpoints, pricing and per-model options). Keys are never shown in
reprs, events or errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from agentcycle.errors import ConfigurationError
from agentcycle.models.base import EndpointTarget, ModelInfo, ModelSettings
from agentcycle.models.provider import ProvidedModel

if TYPE_CHECKING:
    from agentcycle.models.anthropic import AnthropicModel
    from agentcycle.models.openai import OpenAIChatModel

_NO_SETTINGS = ModelSettings()


@dataclass(frozen=True, slots=True)
class _Provider:
    endpoint_type: Literal["openai", "anthropic"]
    api_base: str
    key_env: str | None
    base_env: str


PROVIDERS: Mapping[str, _Provider] = {
    "openai": _Provider("openai", "https://api.openai.com/v1", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    "anthropic": _Provider(
        "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"
    ),
    "ollama": _Provider("openai", "http://127.0.0.1:11434/v1", None, "OLLAMA_HOST"),
}
"""The providers a model name may start with."""


@dataclass(frozen=True, slots=True)
class ModelName:
    """A parsed ``provider:model[@base_url]``."""

    provider: str
    model: str
    base_url: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelName | None:
        """The name's parts, or ``None`` when ``text`` does not start with a known provider
        (it is then a settings-file name). A known provider with nothing after it is an error."""
        prefix, colon, rest = text.partition(":")
        if not colon or prefix not in PROVIDERS:
            return None
        model, at, base_url = rest.partition("@")
        model = model.strip()
        if not model:
            raise ConfigurationError(
                f"model name {text!r} names no model: write {prefix}:MODEL, e.g. "
                f"{_EXAMPLES[prefix]}",
                code="invalid_model_name",
            )
        if at and not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"model name {text!r}: the part after '@' must be an http(s) base URL, e.g. "
                "openai:qwen2.5@http://127.0.0.1:8080/v1",
                code="invalid_model_name",
            )
        return cls(prefix, model, base_url or None)


_EXAMPLES = {
    "openai": "openai:gpt-4.1-mini",
    "anthropic": "anthropic:claude-sonnet-4-5",
    "ollama": "ollama:qwen2.5",
}


def named_model(text: str, env: Mapping[str, str] | None = None) -> ProvidedModel | None:
    """The model ``text`` names, built from the environment; ``None`` when ``text`` is not a
    ``provider:model`` name. Raises ``ConfigurationError`` (``missing_api_key``) when the
    provider's key variable is unset for its own API."""
    name = ModelName.parse(text)
    if name is None:
        return None
    environ = os.environ if env is None else env
    provider = PROVIDERS[name.provider]
    api_base = name.base_url or _base_from_env(name.provider, environ) or provider.api_base
    key: str | None = None
    if name.base_url is None and provider.key_env is not None:
        key = environ.get(provider.key_env) or None
        if key is None and api_base == provider.api_base:
            raise ConfigurationError(
                f"model {text!r} needs an API key: set the environment variable {provider.key_env}",
                code="missing_api_key",
                details={"variable": provider.key_env},
            )
    target = EndpointTarget(
        endpoint_id=name.provider,
        api_base=api_base,
        model_id=name.model,
        endpoint_type=provider.endpoint_type,
        api_key=key,
    )
    if provider.endpoint_type == "anthropic":
        from agentcycle.models.anthropic import AnthropicModel

        model: AnthropicModel | OpenAIChatModel = AnthropicModel(
            (target,), name=name.model, backend=name.provider
        )
    else:
        from agentcycle.models.openai import OpenAIChatModel

        model = OpenAIChatModel((target,), name=name.model, backend=name.provider)
    return ProvidedModel(
        model=model, info=ModelInfo(), settings=_NO_SETTINGS, endpoint=name.provider
    )


def _base_from_env(provider: str, environ: Mapping[str, str]) -> str | None:
    value = (environ.get(PROVIDERS[provider].base_env) or "").strip().rstrip("/")
    if not value:
        return None
    if provider == "ollama":
        # OLLAMA_HOST is "host:port" or a URL, without the OpenAI-compatible /v1 path.
        if not value.startswith(("http://", "https://")):
            value = "http://" + value
        return value + "/v1"
    return value
