"""How a run's settings resolve: model, price, workspace, language, and the hooks and
providers layered agent -> runner -> run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

from agentcycle.agent import Agent
from agentcycle.context_providers import ContextProvider
from agentcycle.errors import ConfigurationError
from agentcycle.guardrails import Guardrail, GuardrailOption, as_guardrail
from agentcycle.hooks import RuntimeHook
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.memory.provider import MemoryProvider
from agentcycle.memory.session_store import SessionMemoryStore, WorkspaceSessionMemoryStore
from agentcycle.models.base import Model, ModelRef, ModelSettings
from agentcycle.models.provider import ModelProvider, ProvidedModel, SettingsModelProvider
from agentcycle.models.provider import model_info as declared_info
from agentcycle.pricing import ModelPrice
from agentcycle.run_config import RunConfig
from agentcycle.runtime import prompts
from agentcycle.sessions.base import Session
from agentcycle.workspace.base import WorkspaceBackend

_NO_SETTINGS = ModelSettings()  # immutable: shared by every run of a model instance


def run_language(config: RunConfig) -> str:
    """The run's prompt language (default ``en-US``); an unknown one is refused."""
    language = config.language or "en-US"
    if language not in prompts.LANGUAGES:
        raise ConfigurationError(
            f"unknown language {language!r}; choose one of {', '.join(prompts.LANGUAGES)}"
        )
    return language


def model_price(config: RunConfig, provided: ProvidedModel) -> ModelPrice | None:
    """The model's price: ``RunConfig.price_table`` first, then the settings file's. A cost
    budget without a price could never be enforced, so it is refused here."""
    model = provided.model
    table = config.price_table
    price = (table.price(model.backend, model.name) if table is not None else None) or (
        provided.price
    )
    budget = config.budget
    if price is None and budget is not None and budget.max_cost_usd is not None:
        raise ConfigurationError(
            f"max_cost_usd needs a price for model {model.name!r} (backend "
            f"{model.backend!r}): add it to RunConfig.price_table or give the model a "
            "`pricing` object in the settings file",
            code="missing_price",
            details={"backend": model.backend, "model": model.name},
        )
    return price


def resolve_workspace(value: str | PurePath | WorkspaceBackend | None) -> WorkspaceBackend | None:
    """``RunConfig.workspace`` as a backend: a path means a local directory."""
    if value is None:
        return None
    if isinstance(value, str | PurePath):
        from agentcycle.workspace.local import LocalWorkspaceBackend

        if not Path(value).is_dir():
            raise ConfigurationError(f"workspace {str(value)!r} is not a directory")
        return LocalWorkspaceBackend(Path(value))
    if isinstance(value, WorkspaceBackend):
        return value
    raise ConfigurationError(
        f"workspace must be a directory path or a WorkspaceBackend, got {type(value).__name__}"
    )


def first_set(*values: Any) -> Any:
    """The first of ``values`` that is not ``None``."""
    return next(v for v in values if v is not None)


def positive(name: str, value: int) -> int:
    """``value``, refused unless it is an integer >= 1."""
    if not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {value!r}")
    return value


def resolve_model(agent: Agent, config: RunConfig) -> ProvidedModel:
    """The run's model (``RunConfig.model``, else the agent's), see ``resolve_reference``."""
    chosen: Model | ModelRef | str = first_set(config.model, agent.model, "")
    if chosen == "":
        raise ConfigurationError(
            "no model: set Agent(model=...) or RunConfig(model=...) (a Model instance, a name "
            "such as 'openai:gpt-4.1-mini', or a ModelRef or name from the settings file)"
        )
    return resolve_reference(chosen, config)


def resolve_reference(chosen: Model | ModelRef | str, config: RunConfig) -> ProvidedModel:
    """A model given as an instance (as is), a ``provider:model`` name
    (``"openai:gpt-4.1-mini"``, from the environment), or another name or a ``ModelRef``
    (through the model provider, else the settings file)."""
    if not isinstance(chosen, ModelRef | str):
        return ProvidedModel(model=chosen, info=declared_info(chosen), settings=_NO_SETTINGS)
    if isinstance(chosen, str):
        from agentcycle.models.named import named_model

        named = named_model(chosen)
        if named is not None:
            return named
    provider = config.model_provider or settings_provider(config)
    return provider.get_model(chosen)


def settings_provider(config: RunConfig) -> ModelProvider:
    """A provider over the settings file the config names or the default lookup finds."""
    from agentcycle.models.settings import find_settings_file

    path = find_settings_file(
        str(config.settings_file) if config.settings_file is not None else None
    )
    if path is None:
        raise ConfigurationError(
            "no settings file: name the model with its provider ('openai:gpt-4.1-mini', "
            "'anthropic:...', 'ollama:qwen2.5'), or pass settings_file, set AGENTCYCLE_SETTINGS, "
            "or create ./local_settings.json (see local_settings.example.json)"
        )
    return SettingsModelProvider(path, config.default_backend)


def layered_hooks(agent: Agent, config: RunConfig) -> tuple[RuntimeHook, ...]:
    """The agent's hooks, then the config's (runner's, then run's)."""
    hooks = (*agent.hooks, *config.hooks)
    for hook in hooks:
        if not isinstance(hook, RuntimeHook):
            raise ConfigurationError(
                f"hooks must be RuntimeHook instances, got {type(hook).__name__}"
            )
        _check_timeout(hook)
    return hooks


def layered_guardrails(
    agent_options: Sequence[GuardrailOption], config_options: Sequence[GuardrailOption]
) -> tuple[Guardrail, ...]:
    """The agent's guardrails of one stage, then the config's, each as a ``Guardrail``."""
    return tuple(as_guardrail(option) for option in (*agent_options, *config_options))


def layered_context_providers(agent: Agent, config: RunConfig) -> tuple[ContextProvider, ...]:
    """The agent's context providers, then the config's; each must have ``fragments``."""
    providers = (*agent.context_providers, *config.context_providers)
    for provider in providers:
        if not isinstance(provider, ContextProvider):
            raise ConfigurationError(
                "context providers need an async fragments(ctx) method; "
                f"{type(provider).__name__} has none"
            )
        _check_timeout(provider)
    return providers


def _check_timeout(owner: object) -> None:
    """A hook's or provider's ``timeout`` must be seconds or ``None``: a wrong one would only
    show when the first call fails."""
    timeout = getattr(owner, "timeout", None)
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ConfigurationError(
            f"{type(owner).__name__}.timeout must be a positive number of seconds or None, "
            f"got {timeout!r}"
        )


def layered_memory_providers(agent: Agent, config: RunConfig) -> tuple[MemoryProvider, ...]:
    """The agent's memory providers, then the config's; each must be a ``MemoryProvider``."""
    providers = (*agent.memory_providers, *config.memory_providers)
    for provider in providers:
        if not isinstance(provider, MemoryProvider):
            raise ConfigurationError(
                "memory providers need async search, save, before_compaction and "
                f"after_compaction methods; {type(provider).__name__} lacks some"
            )
    return providers


def session_memory_store(
    memory: MemoryPolicy, session: Session | None, workspace: WorkspaceBackend | None
) -> SessionMemoryStore | None:
    """The store session memory uses in this run, or ``None`` when it does not apply (off, or
    no session)."""
    settings = memory.session_memory
    if settings is None or session is None:
        return None
    if settings.store is not None:
        return settings.store
    if workspace is None:
        raise ConfigurationError(
            "session memory needs a store: pass SessionMemory(store=...) or run with a "
            "workspace (RunConfig.workspace) to keep notes in .agentcycle/memory/"
        )
    return WorkspaceSessionMemoryStore(workspace)
