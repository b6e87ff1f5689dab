"""Settings files (the ``LLM_SETTINGS`` shape) and exact model resolution.

A settings file lists endpoints (where to send requests, with which key) and backends (named
groups of models, each model served by one or more endpoints in failover order)::

    {
      "VERSION": "2",
      "default_backend": "openai",                       # optional
      "endpoints": [
        {"id": "openai", "api_base": "https://api.openai.com/v1",
         "api_key_env": "OPENAI_API_KEY", "endpoint_type": "openai"},
        {"id": "ollama", "api_base": "http://127.0.0.1:11434/v1", "api_key": "ollama"}
      ],
      "backends": {
        "openai": {
          "default_model": "gpt-4.1",                    # optional
          "models": {
            "gpt-4.1": {
              "id": "gpt-4.1",                           # optional, defaults to the name
              "endpoints": ["openai", {"endpoint_id": "ollama", "model_id": "qwen3:8b"}],
              "context_length": 1047576, "max_output_tokens": 32768,
              "function_call_available": true, "native_multimodal": true,
              "settings": {"temperature": 0.2,           # optional ModelSettings fields
                           "tool_choice": "auto"},       # (llama.cpp wants tool_choice set)
              "stream": true,                            # optional; false: never stream
              "pricing": {"input_per_million": 2.0,      # optional ModelPrice, USD per 1M
                          "output_per_million": 8.0,
                          "cached_input_per_million": 0.5}
            }
          }
        }
      }
    }

The same shape is accepted as ``.json``, ``.toml`` or ``.py`` (a literal assigned to
``LLM_SETTINGS``; parsed, never executed). Beyond the ecosystem's shape this module accepts,
all optional: a top-level ``default_backend``; a per-backend ``default_model``; a per-model
``settings`` object (``ModelSettings`` fields, the provider layer of the settings merge); a
per-model ``id`` defaulting to the model's name; a per-model ``pricing`` object (``ModelPrice``
fields: ``input_per_million``, ``output_per_million``, optional ``cached_input_per_million`` and
``cache_write_per_million``, in US dollars), which makes runs of the model report their cost
(``RunConfig.price_table`` overrides it); a per-model ``stream`` (default ``true``; ``false``
for OpenAI-compatible servers that cannot stream, or stream tool calls badly), which an
Anthropic endpoint refuses. ``endpoint_type`` defaults to ``openai``; an
endpoint may have ``api_key``, ``api_key_env`` or neither (local servers), never both. Unknown
fields are errors. All endpoints of one model must share an ``endpoint_type``.

Resolution is exact: no aliases, no case folding. Keys are looked up when a model is resolved
(``api_key_env`` names an environment variable) and are never shown in reprs or errors.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from agentcycle._validation import field_path, one_line
from agentcycle.errors import ConfigurationError, ModelNotFoundError, SettingsFileError
from agentcycle.models._settings_loader import read_settings_data, settings_path_problem
from agentcycle.models.base import EndpointTarget, Model, ModelInfo, ModelRef, ModelSettings
from agentcycle.pricing import ModelPrice

SETTINGS_ENV_VAR = "AGENTCYCLE_SETTINGS"
"""Environment variable naming the settings file when no explicit path is given."""
DEFAULT_SETTINGS_NAMES = ("local_settings.json", "local_settings.toml", "local_settings.py")
"""Files looked for in the working directory, in this order."""

_MAX_REPORTED_ERRORS = 8


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EndpointConfig(_Config):
    """One place models are served from. ``api_key`` is a ``SecretStr`` (masked in reprs);
    ``api_key_env`` names an environment variable read at resolution time."""

    id: str = Field(min_length=1)
    api_base: str | None = None
    api_key: SecretStr | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    endpoint_type: Literal["openai", "anthropic"] = "openai"

    @model_validator(mode="after")
    def _one_key_source(self) -> EndpointConfig:
        if self.api_key is not None and self.api_key_env is not None:
            raise ValueError("set api_key or api_key_env, not both")
        return self


class EndpointRef(_Config):
    """A model's use of an endpoint, optionally with the model id that endpoint expects."""

    endpoint_id: str = Field(min_length=1)
    model_id: str | None = None


class ModelConfig(_Config):
    """One model of a backend: its id, endpoints in failover order, limits and settings."""

    id: str | None = None
    """The model id sent to endpoints; defaults to the model's name in the backend."""
    endpoints: tuple[EndpointRef, ...] = Field(min_length=1)
    context_length: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    function_call_available: bool = True
    native_multimodal: bool = False
    settings: ModelSettings | None = None
    pricing: ModelPrice | None = None
    """US dollars per million tokens; runs of this model then report their cost."""
    stream: bool = True
    """``false`` for servers that cannot stream (OpenAI-compatible endpoints only)."""

    @field_validator("endpoints", mode="before")
    @classmethod
    def _bare_ids(cls, value: Any) -> Any:
        # An endpoint may be named by its id alone.
        if isinstance(value, list | tuple):
            return [{"endpoint_id": item} if isinstance(item, str) else item for item in value]
        return value


class BackendConfig(_Config):
    """A named group of models."""

    models: dict[str, ModelConfig]
    default_model: str | None = None

    @model_validator(mode="after")
    def _default_exists(self) -> BackendConfig:
        if self.default_model is not None and self.default_model not in self.models:
            raise ValueError(
                f"default_model {self.default_model!r} is not one of the backend's models "
                f"({_listing(self.models)})"
            )
        return self


class LLMSettings(_Config):
    """A validated settings file. Build it with ``load_settings`` or ``parse_settings``."""

    version: Literal["2"] = Field(alias="VERSION")
    endpoints: tuple[EndpointConfig, ...] = ()
    backends: dict[str, BackendConfig]
    default_backend: str | None = None

    _source: str | None = PrivateAttr(default=None)

    @property
    def source(self) -> str | None:
        """The file these settings were read from, if any."""
        return self._source

    def endpoint(self, endpoint_id: str) -> EndpointConfig:
        """The endpoint with ``endpoint_id``; ``KeyError`` if there is none."""
        for endpoint in self.endpoints:
            if endpoint.id == endpoint_id:
                return endpoint
        raise KeyError(endpoint_id)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        if value != "2":
            raise ValueError('VERSION must be the string "2"')
        return value

    @model_validator(mode="after")
    def _references(self) -> LLMSettings:
        types: dict[str, str] = {}
        for endpoint in self.endpoints:
            if endpoint.id in types:
                raise ValueError(f"endpoints: duplicate endpoint id {endpoint.id!r}")
            types[endpoint.id] = endpoint.endpoint_type
        for backend_name, backend in self.backends.items():
            for model_name, model in backend.models.items():
                where = f"backends.{backend_name}.models.{model_name}.endpoints"
                kinds = set()
                for index, ref in enumerate(model.endpoints):
                    if ref.endpoint_id not in types:
                        raise ValueError(
                            f"{where}[{index}]: unknown endpoint {ref.endpoint_id!r} "
                            f"(endpoints: {_listing(types)})"
                        )
                    kinds.add(types[ref.endpoint_id])
                if len(kinds) > 1:
                    raise ValueError(
                        f"{where}: all endpoints of one model must have the same endpoint_type "
                        f"(found {', '.join(sorted(kinds))})"
                    )
                if not model.stream and kinds == {"anthropic"}:
                    raise ValueError(
                        f"backends.{backend_name}.models.{model_name}.stream: the Anthropic "
                        "adapter always streams; remove stream: false"
                    )
        if self.default_backend is not None and self.default_backend not in self.backends:
            raise ValueError(
                f"default_backend {self.default_backend!r} is not a backend "
                f"({_listing(self.backends)})"
            )
        return self


# --------------------------------------------------------------------------- loading


def parse_settings(data: Mapping[str, Any], *, source: str | None = None) -> LLMSettings:
    """Validate a settings mapping. Raises ``SettingsFileError`` naming ``source`` and each
    failing field (values are never echoed: they may be keys)."""
    label = source or "settings"
    try:
        settings = LLMSettings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append({"field": field_path(error["loc"]), "message": message})
        shown = [f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems]
        text = one_line(shown, _MAX_REPORTED_ERRORS)
        raise SettingsFileError(
            f"{label}: invalid settings: {text}", details={"path": source, "errors": problems}
        ) from None
    settings._source = source
    return settings


def load_settings(path: str | os.PathLike[str]) -> LLMSettings:
    """Read and validate a ``.json``, ``.toml`` or ``.py`` settings file.

    Raises ``SettingsFileError`` (with the path and the failing field) for anything wrong.
    """
    file = Path(path)
    return parse_settings(read_settings_data(file), source=str(file))


def find_settings_file(
    explicit: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Path | None:
    """The settings file to use, or ``None`` when there is none.

    Precedence: ``explicit`` (a flag or ``RunConfig.settings_file``), then the
    ``AGENTCYCLE_SETTINGS`` environment variable, then ``local_settings.json``, ``.toml`` and
    ``.py`` in ``cwd`` (first that exists). Relative paths are taken relative to ``cwd``
    (default: the working directory). An explicit path or environment value naming a file
    that does not exist, or naming something that is not a regular file (a directory, a FIFO:
    never opened, so never waited on), is a ``SettingsFileError`` saying which, not a
    fallback; so is a ``local_settings.*`` that exists but is not a regular file.
    """
    environ = os.environ if env is None else env
    base = Path.cwd() if cwd is None else cwd
    if explicit:
        path = base / Path(explicit).expanduser()
        _check_settings_path(path, f"settings file {path}")
        return path
    named = environ.get(SETTINGS_ENV_VAR)
    if named:
        path = base / Path(named).expanduser()
        _check_settings_path(path, f"{SETTINGS_ENV_VAR} names {path}, which")
        return path
    for name in DEFAULT_SETTINGS_NAMES:
        path = base / name
        problem = settings_path_problem(path)
        if problem is None:
            return path
        if problem[0] != "missing":
            raise _settings_path_error(path, f"settings file {path}", problem)
    return None


def _check_settings_path(path: Path, subject: str) -> None:
    """Raise ``SettingsFileError`` "``subject`` does not exist / is a directory ..." unless
    ``path`` is a regular file."""
    problem = settings_path_problem(path)
    if problem is not None:
        raise _settings_path_error(path, subject, problem)


def _settings_path_error(path: Path, subject: str, problem: tuple[str, str]) -> SettingsFileError:
    kind, words = problem
    return SettingsFileError(f"{subject} {words}", details={"path": str(path), "kind": kind})


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A settings-file model made concrete: ids, endpoint targets with keys, limits, settings.

    ``targets`` are in failover order; their ``api_key`` never appears in ``repr``.
    """

    backend: str
    model: str
    model_id: str
    targets: tuple[EndpointTarget, ...]
    info: ModelInfo
    settings: ModelSettings
    price: ModelPrice | None = None
    stream: bool = True

    @property
    def endpoint_type(self) -> Literal["openai", "anthropic"]:
        """The wire API of the first target; it decides the adapter."""
        return self.targets[0].endpoint_type


def default_model_ref(settings: LLMSettings, backend: str | None = None) -> ModelRef:
    """The model to use when none is named: ``backend`` (else ``default_backend``, else the
    only backend) and that backend's ``default_model`` (else its only model).

    Raises ``ModelNotFoundError`` listing the choices when there is no single answer.
    """
    name = backend or settings.default_backend
    if name is None:
        if len(settings.backends) != 1:
            raise ModelNotFoundError(
                "no backend chosen and the settings file has no default_backend; choose one of: "
                f"{_listing(settings.backends)}{_from(settings)}",
                details={"available_backends": list(settings.backends)},
            )
        name = next(iter(settings.backends))
    config = _backend(settings, name)
    model = config.default_model
    if model is None:
        if len(config.models) != 1:
            raise ModelNotFoundError(
                f"no model chosen and backend {name!r} has no default_model; choose one of: "
                f"{_listing(config.models)}{_from(settings)}",
                details={"backend": name, "available_models": list(config.models)},
            )
        model = next(iter(config.models))
    return ModelRef.backend(name, model)


def resolve_model(
    settings: LLMSettings,
    ref: ModelRef | str,
    default_backend: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
) -> ResolvedModel:
    """Resolve ``ref`` exactly against ``settings``.

    A string is a bare model name. The backend is the ref's own, else ``default_backend``,
    else the settings file's ``default_backend``; with none of them, a bare name resolves when
    exactly one backend has that model. Raises ``ModelNotFoundError`` (listing what exists)
    for unknown or ambiguous names and ``ConfigurationError`` (code ``missing_api_key``) when
    an endpoint's ``api_key_env`` variable is unset or empty.
    """
    if isinstance(ref, str):
        ref = ModelRef.named(ref)
    backend_name = ref.backend_name or default_backend or settings.default_backend
    if backend_name is None:
        backend_name = _unique_backend(settings, ref.model)
    backend = _backend(settings, backend_name)
    model = backend.models.get(ref.model)
    if model is None:
        raise ModelNotFoundError(
            f"unknown model {ref.model!r} in backend {backend_name!r}"
            f"{_suggest(ref.model, backend.models)}; its models: {_listing(backend.models)}"
            f"{_from(settings)}",
            details={
                "backend": backend_name,
                "model": ref.model,
                "available_models": list(backend.models),
            },
        )
    model_id = model.id or ref.model
    environ = os.environ if env is None else env
    targets = tuple(
        _target(settings.endpoint(use.endpoint_id), use.model_id or model_id, environ, ref)
        for use in model.endpoints
    )
    return ResolvedModel(
        backend=backend_name,
        model=ref.model,
        model_id=model_id,
        targets=targets,
        info=ModelInfo(
            context_length=model.context_length,
            max_output_tokens=model.max_output_tokens,
            function_call_available=model.function_call_available,
            native_multimodal=model.native_multimodal,
        ),
        settings=model.settings or ModelSettings(),
        price=model.pricing,
        stream=model.stream,
    )


def build_model(resolved: ResolvedModel) -> Model:
    """The adapter for ``resolved``'s endpoint type (SDKs are imported lazily)."""
    if resolved.endpoint_type == "anthropic":
        from agentcycle.models.anthropic import AnthropicModel

        return AnthropicModel(
            resolved.targets,
            name=resolved.model,
            backend=resolved.backend,
            settings=resolved.settings,
        )
    from agentcycle.models.openai import OpenAIChatModel

    return OpenAIChatModel(
        resolved.targets,
        name=resolved.model,
        backend=resolved.backend,
        settings=resolved.settings,
        stream=resolved.stream,
        context_length=resolved.info.context_length,
    )


def _target(
    endpoint: EndpointConfig, model_id: str, environ: Mapping[str, str], ref: ModelRef
) -> EndpointTarget:
    key: str | None = None
    if endpoint.api_key is not None:
        key = endpoint.api_key.get_secret_value()
    elif endpoint.api_key_env is not None:
        key = environ.get(endpoint.api_key_env) or None
        if key is None:
            raise ConfigurationError(
                f"environment variable {endpoint.api_key_env} is not set (or empty); endpoint "
                f"{endpoint.id!r} of model {ref.model!r} reads its API key from it",
                code="missing_api_key",
                details={"endpoint": endpoint.id, "variable": endpoint.api_key_env},
            )
    return EndpointTarget(
        endpoint_id=endpoint.id,
        api_base=endpoint.api_base,
        model_id=model_id,
        endpoint_type=endpoint.endpoint_type,
        api_key=key,
    )


def _backend(settings: LLMSettings, name: str) -> BackendConfig:
    backend = settings.backends.get(name)
    if backend is None:
        raise ModelNotFoundError(
            f"unknown backend {name!r}{_suggest(name, settings.backends)}; backends: "
            f"{_listing(settings.backends)}{_from(settings)}",
            details={"backend": name, "available_backends": list(settings.backends)},
        )
    return backend


def _unique_backend(settings: LLMSettings, model: str) -> str:
    owners = [name for name, backend in settings.backends.items() if model in backend.models]
    if len(owners) == 1:
        return owners[0]
    everything = [f"{b}/{m}" for b, backend in settings.backends.items() for m in backend.models]
    if not owners:
        names = [m for backend in settings.backends.values() for m in backend.models]
        raise ModelNotFoundError(
            f"unknown model {model!r}{_suggest(model, names)}; models: {_listing(everything)}"
            f"{_from(settings)}",
            details={"model": model, "available_models": everything},
        )
    raise ModelNotFoundError(
        f"model {model!r} exists in several backends ({', '.join(owners)}); name the backend"
        f"{_from(settings)}",
        details={"model": model, "candidate_backends": owners},
    )


def _listing(names: Iterable[str]) -> str:
    listed = ", ".join(names)
    return listed or "(none)"


def _suggest(name: str, names: Iterable[str]) -> str:
    candidates = list(names)
    same_but_case = [n for n in candidates if n.casefold() == name.casefold()]
    close = same_but_case or difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (names are exact; did you mean {close[0]!r}?)" if close else ""


def _from(settings: LLMSettings) -> str:
    return f" (settings file {settings.source})" if settings.source else ""
