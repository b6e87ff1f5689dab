"""The models behind the server's turns: ``--scripted-model FILE`` (offline replies played in
order) or a settings file's model (``--settings-file``, ``--backend``, ``--model``), resolved
through the same settings provider the CLI uses."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcycle._json import dumps
from agentcycle.errors import ConfigurationError, ModelError
from agentcycle.messages import ToolCall
from agentcycle.models._playback import play_response
from agentcycle.models.base import NO_USAGE, ModelInfo, ModelRequest, ModelResponse, ModelStreamItem

if TYPE_CHECKING:
    from agentcycle.models.base import Model, ModelRef
    from agentcycle.models.provider import SettingsModelProvider

SCRIPTED_SUMMARY = {"id": "scripted", "provider": "scripted", "supportsTools": True}
"""``model/list``'s answer with ``--scripted-model``."""


class ReplayModel:
    """Plays recorded replies, one per model call, in order, across every turn of the
    server; once they are exhausted a call fails (``script_exhausted``)."""

    def __init__(self, replies: Sequence[ModelResponse], chunk_chars: int = 0) -> None:
        self._replies = list(replies)
        self._position = 0
        self._chunk = chunk_chars
        self.info = ModelInfo()

    @property
    def name(self) -> str:
        """``scripted``."""
        return "scripted"

    @property
    def backend(self) -> str | None:
        """``scripted``."""
        return "scripted"

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamItem]:
        """Stream the next reply like a provider would (text and tool-call deltas)."""
        if self._position >= len(self._replies):
            raise ModelError(
                f"the scripted model ran out of replies after {len(self._replies)}",
                code="script_exhausted",
            )
        reply = self._replies[self._position]
        self._position += 1
        async for item in play_response(reply, self._chunk):
            yield item


def load_script(path: Path, chunk_chars: int = 0) -> ReplayModel:
    """The model of ``--scripted-model FILE``: a JSON list of ``{"content": str,
    "tool_calls": [{"id", "name", "arguments": object}]}``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"--scripted-model {str(path)!r}: {exc}") from None
    if not isinstance(raw, list):
        raise ConfigurationError("--scripted-model must hold a JSON list of replies")
    return ReplayModel([_reply(index, entry) for index, entry in enumerate(raw)], chunk_chars)


def _reply(index: int, entry: Any) -> ModelResponse:
    if not isinstance(entry, dict) or not isinstance(entry.get("content", ""), str):
        raise ConfigurationError(f"--scripted-model reply {index}: expected {{content, ...}}")
    try:
        calls = tuple(
            ToolCall(id=str(c["id"]), name=str(c["name"]), arguments=dumps(c["arguments"]))
            for c in entry.get("tool_calls") or []
        )
    except (KeyError, TypeError):
        raise ConfigurationError(
            f"--scripted-model reply {index}: tool_calls need id, name and arguments"
        ) from None
    return ModelResponse(
        text=entry.get("content") or "",
        tool_calls=calls,
        usage=NO_USAGE,
        finish_reason="tool_calls" if calls else "stop",
    )


def settings_model(
    settings_file: str | None, backend: str | None, model: str | None
) -> tuple[Model | ModelRef, SettingsModelProvider, list[dict[str, Any]]]:
    """The model the flags name in the settings file (``$AGENTCYCLE_SETTINGS`` or
    ``./local_settings.*`` without ``--settings-file``), its provider, and ``model/list``'s
    summaries of every model in the file."""
    from agentcycle.models.base import ModelRef
    from agentcycle.models.provider import SettingsModelProvider
    from agentcycle.models.settings import default_model_ref, find_settings_file

    if settings_file is not None and not Path(settings_file).is_file():
        raise ConfigurationError(f"settings file {settings_file!r} does not exist")
    path = find_settings_file(settings_file)
    if path is None:
        raise ConfigurationError(
            "no settings file found (--settings-file, $AGENTCYCLE_SETTINGS or "
            "./local_settings.json); use --scripted-model FILE to run offline"
        )
    provider = SettingsModelProvider(path, default_backend=backend)
    ref = (
        ModelRef(model=model, backend_name=backend)
        if model is not None
        else default_model_ref(provider.settings, backend)
    )
    provider.get_model(ref)  # a wrong name fails now, before stdin is read
    return ref, provider, _summaries(provider)


def _summaries(provider: SettingsModelProvider) -> list[dict[str, Any]]:
    models = []
    for backend, config in sorted(provider.settings.backends.items()):
        for name, model in sorted(config.models.items()):
            summary: dict[str, Any] = {
                "id": f"{backend}/{name}",
                "supportsTools": model.function_call_available,
                "provider": backend,
                "displayName": name,
            }
            if model.context_length is not None:
                summary["contextLength"] = model.context_length
            models.append(summary)
    return models
