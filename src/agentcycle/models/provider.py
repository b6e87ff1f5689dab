"""Model providers: how a model name becomes a ``Model`` instance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from agentcycle.models.base import Model, ModelInfo, ModelRef, ModelSettings
from agentcycle.pricing import ModelPrice

if TYPE_CHECKING:
    from agentcycle.models.settings import LLMSettings


@dataclass(frozen=True, slots=True)
class ProvidedModel:
    """A model ready to call, with its limits, provider-level settings and price (if known)."""

    model: Model
    info: ModelInfo
    settings: ModelSettings
    endpoint: str | None = None
    price: ModelPrice | None = None


@runtime_checkable
class ModelProvider(Protocol):
    """Resolves model names to callable models."""

    def get_model(self, ref: ModelRef | str) -> ProvidedModel:
        """The model for ``ref``; raises ``ModelNotFoundError`` listing what exists."""
        ...


class SettingsModelProvider:
    """Resolves names against an ``LLM_SETTINGS`` file (exact names, no aliasing)."""

    def __init__(self, settings: LLMSettings | str | Path, default_backend: str | None = None):
        from agentcycle.models.settings import load_settings

        self.settings = (
            load_settings(Path(settings)) if isinstance(settings, str | Path) else settings
        )
        self.default_backend = default_backend

    def get_model(self, ref: ModelRef | str) -> ProvidedModel:
        """Resolve ``ref`` and build the adapter for its endpoint type."""
        from agentcycle.models.settings import build_model, resolve_model

        resolved = resolve_model(self.settings, ref, self.default_backend)
        return ProvidedModel(
            model=build_model(resolved),
            info=resolved.info,
            settings=resolved.settings,
            endpoint=resolved.targets[0].endpoint_id if resolved.targets else None,
            price=resolved.price,
        )


def model_info(model: Model) -> ModelInfo:
    """The limits a model instance declares (``info`` attribute), or unknown limits."""
    info = getattr(model, "info", None)
    return info if isinstance(info, ModelInfo) else ModelInfo()
