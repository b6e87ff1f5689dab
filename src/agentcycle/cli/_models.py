"""Which model each agent of a CLI run uses: the flags' choice, or an agent's own
``backend`` / ``model`` from the agents file, both resolved through one settings file."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TextIO

from agentcycle.errors import ConfigurationError
from agentcycle.models.base import Model, ModelRef
from agentcycle.models.demo import DEMO_BACKEND, DEMO_MODEL, DemoModel
from agentcycle.models.provider import ProvidedModel, SettingsModelProvider

if TYPE_CHECKING:
    from agentcycle.models.settings import LLMSettings

_NO_SETTINGS_FILE = (
    "no settings file found (--settings-file, $AGENTCYCLE_SETTINGS or ./local_settings.json)"
)


class SharedModels:
    """A model provider that resolves each model once per CLI run: every agent naming it (a
    handoff target, the child run of an agent tool) shares one model and its HTTP clients.
    The run records the models it uses, so ``RunHandle.release_model_clients`` closes them."""

    def __init__(self, provider: SettingsModelProvider) -> None:
        self._provider = provider
        self._models: dict[ModelRef | str, ProvidedModel] = {}

    @property
    def settings(self) -> LLMSettings:
        """The settings file's contents."""
        return self._provider.settings

    def get_model(self, ref: ModelRef | str) -> ProvidedModel:
        """The model for ``ref``, resolved on first use; raises ``ModelNotFoundError``."""
        provided = self._models.get(ref)
        if provided is None:
            provided = self._models[ref] = self._provider.get_model(ref)
        return provided


class ModelChoice:
    """The CLI's model resolution. The settings file is looked up when first needed, so the
    demo backend never reads one."""

    def __init__(self, args: argparse.Namespace, err: TextIO) -> None:
        self._args = args
        self._err = err
        self._provider: SharedModels | None = None
        self._looked_up = False
        self._default: Model | ModelRef | None = None

    @property
    def provider(self) -> SharedModels | None:
        """The settings file's models, if a settings file was needed and found."""
        return self._provider

    def default(self) -> Model | ModelRef:
        """The model the flags choose (``--backend``, ``--model``): for the single agent, and
        for every agent of an agents file that names none."""
        if self._default is None:
            self._default = self._choose_default()
        return self._default

    def for_agent(self, backend: str | None, model: str | None) -> Model | ModelRef:
        """The model for an agent's ``backend`` and ``model`` keys, resolved now so a wrong
        name fails before anything runs. Either unset falls back to the flags' choice."""
        if backend is None and model is None:
            return self.default()
        direct = _direct(backend, model)
        if direct is not None:
            return direct
        provider = self._settings()
        if provider is None:
            raise ConfigurationError(
                f"naming a backend or model needs a settings file: {_NO_SETTINGS_FILE}"
            )
        ref = _ref(provider, backend, model)
        provider.get_model(ref)
        return ref

    def _choose_default(self) -> Model | ModelRef:
        args = self._args
        direct = _direct(args.backend, args.model or None)
        if direct is not None:
            return direct
        provider = self._settings()
        if provider is None:
            if args.backend or args.model:
                raise ConfigurationError(
                    f"{_NO_SETTINGS_FILE}{_unknown_provider(args.model)}; name a model with its "
                    "provider instead (--model openai:gpt-4.1-mini, anthropic:claude-sonnet-4-5, "
                    "ollama:qwen2.5), or use --backend demo for the offline demo"
                )
            print(
                "agentcycle: no model chosen; running the offline demo model, which follows a "
                "fixed plan (for a real one: --model openai:gpt-4.1-mini with OPENAI_API_KEY "
                "set, or --model ollama:qwen2.5)",
                file=self._err,
            )
            return DemoModel()
        return _ref(provider, args.backend, args.model or None)

    def _settings(self) -> SharedModels | None:
        if self._looked_up:
            return self._provider
        self._looked_up = True
        args = self._args
        if args.settings_file is not None and not args.settings_file.strip():
            raise ConfigurationError("--settings-file needs a path")
        from agentcycle.models.settings import find_settings_file

        path = find_settings_file(args.settings_file)
        if path is not None:
            # With --backend demo, an agent's bare model name resolves by the file's defaults.
            backend = args.backend if args.backend != DEMO_BACKEND else None
            self._provider = SharedModels(SettingsModelProvider(path, default_backend=backend))
        return self._provider


def _unknown_provider(model: str | None) -> str:
    """For a ``provider:model`` name whose provider agentcycle does not know (it was then
    taken for a settings-file name): what to add to the error."""
    if model is None or ":" not in model:
        return ""
    from agentcycle.models.named import PROVIDERS

    prefix = model.split(":", 1)[0]
    return (
        f" for the model name {model!r}, and {prefix!r} is not a provider agentcycle knows "
        f"({', '.join(PROVIDERS)})"
    )


def _direct(backend: str | None, model: str | None) -> Model | None:
    """The demo model, or a ``provider:model`` name built from the environment; ``None`` for
    names the settings file resolves. Contradictory flags are refused, never ignored."""
    if backend == DEMO_BACKEND:
        if model not in (None, DEMO_MODEL):
            raise ConfigurationError(
                f"the demo backend has one model, {DEMO_MODEL!r}: drop --backend demo to run "
                f"{model!r}, or drop --model"
            )
        return DemoModel()
    if model is None:
        return None
    from agentcycle.models.named import ModelName, named_model

    if ModelName.parse(model) is None:
        return None
    if backend is not None:
        raise ConfigurationError(
            f"model {model!r} names its provider already; drop the backend ({backend!r})"
        )
    named = named_model(model)
    assert named is not None  # parsed above
    return named.model


def _ref(provider: SharedModels, backend: str | None, model: str | None) -> ModelRef:
    """``model`` on ``backend``; without a model, the backend's default in the settings file."""
    if model is not None:
        return ModelRef(model=model, backend_name=backend)
    from agentcycle.models.settings import default_model_ref

    return default_model_ref(provider.settings, backend)
