"""API keys never appear in reprs, errors or logs."""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from typing import Any

import pytest

from agentcycle.errors import AgentcycleError, ConfigurationError, SettingsFileError
from agentcycle.models.base import ModelRef
from agentcycle.models.settings import (
    build_model,
    load_settings,
    parse_settings,
    resolve_model,
)

ENV_KEY = "sk-env-ALSO-SECRET-1b2c"
ENV = {"TEST_OPENAI_KEY": ENV_KEY, "TEST_ANTHROPIC_KEY": ENV_KEY}


def shown(error: AgentcycleError) -> str:
    """Everything a host might print or log about an error."""
    return "\n".join(
        [
            str(error),
            repr(error),
            json.dumps(error.to_dict(), default=str),
            "".join(traceback.format_exception(error)),
        ]
    )


def test_objects_do_not_show_keys(
    tmp_path: Path, sample: dict[str, Any], secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "local_settings.json"
    path.write_text(json.dumps(sample), encoding="utf-8")
    settings = load_settings(path)
    gpt = resolve_model(settings, ModelRef.backend("openai", "gpt-4.1"), env=ENV)
    claude = resolve_model(settings, "claude-sonnet", env=ENV)
    assert gpt.targets[1].api_key == secret  # the key is there for the adapter ...
    texts = [
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        repr(settings.endpoint("backup")),
        str(settings.endpoint("backup")),
        repr(gpt),
        str(gpt),
        repr(gpt.targets),
        repr(claude),
        repr(build_model(gpt)),
        repr(build_model(claude)),
        caplog.text,
    ]
    for text in texts:  # ... but nowhere to be seen
        assert secret not in text
        assert ENV_KEY not in text


@pytest.mark.parametrize(
    "change",
    [
        lambda s, k: s["endpoints"][1].update(api_kye=k),
        lambda s, k: s["endpoints"][1].update(api_key=[k]),
        lambda s, k: s["endpoints"][1].update(api_key={"value": k}, endpoint_type="gemini"),
        lambda s, k: s["endpoints"][1].update(api_key_env="TEST_OPENAI_KEY"),
        lambda s, k: s.update(VERSION=k),
        lambda s, k: s["endpoints"][1].update(api_key_env=k),
    ],
)
def test_settings_errors_do_not_show_keys(sample: dict[str, Any], secret: str, change: Any) -> None:
    change(sample, secret)
    with pytest.raises(SettingsFileError) as caught:
        parse_settings(sample, source="conf.json")
    assert secret not in shown(caught.value)


def test_file_errors_do_not_show_keys(tmp_path: Path, secret: str) -> None:
    files = {
        "a.json": f'{{"VERSION": "2", "endpoints": [{{"id": "e", "api_key": "{secret}"}}], }}',
        "b.toml": f'VERSION = "2"\n[[endpoints]]\nid = "e"\napi_key = "{secret}\n',
        "c.py": f'LLM_SETTINGS = {{"VERSION": "2", "api_key": "{secret}" + x}}\n',
        "d.py": f'LLM_SETTINGS = {{"VERSION": "2", "api_key": "{secret}"\n',
    }
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(SettingsFileError) as caught:
            load_settings(path)
        assert secret not in shown(caught.value), name


def test_resolution_errors_do_not_show_keys(sample: dict[str, Any], secret: str) -> None:
    settings = parse_settings(sample)
    with pytest.raises(ConfigurationError) as missing:
        resolve_model(settings, ModelRef.backend("openai", "gpt-4.1"), env={})
    with pytest.raises(ConfigurationError) as unknown:
        resolve_model(settings, ModelRef.backend("openai", "gpt-5"), env=ENV)
    for error in (missing.value, unknown.value):
        assert secret not in shown(error)
        assert ENV_KEY not in shown(error)
