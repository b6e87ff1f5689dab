"""Loading settings files: three formats, never executing code, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentcycle.errors import ConfigurationError, SettingsFileError
from agentcycle.models.base import ModelSettings
from agentcycle.models.settings import LLMSettings, load_settings, parse_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_three_formats_load_the_same_settings(
    tmp_path: Path, sample: dict[str, Any], sample_toml: str
) -> None:
    from_json = load_settings(write(tmp_path / "s.json", json.dumps(sample)))
    from_toml = load_settings(write(tmp_path / "s.toml", sample_toml))
    from_py = load_settings(write(tmp_path / "s.py", f"LLM_SETTINGS = {sample!r}\n"))
    assert from_json.model_dump() == from_toml.model_dump() == from_py.model_dump()
    assert from_json.source == str(tmp_path / "s.json")
    assert [e.id for e in from_json.endpoints] == ["openai", "backup", "ollama", "claude"]
    gpt = from_json.backends["openai"].models["gpt-4.1"]
    assert [(e.endpoint_id, e.model_id) for e in gpt.endpoints] == [
        ("openai", None),
        ("backup", "gpt-4.1-b"),
    ]
    assert gpt.settings == ModelSettings(temperature=0.2, max_tokens=1000)
    assert from_json.backends["local"].default_model == "qwen3"


def test_python_file_is_parsed_not_executed(tmp_path: Path, sample: dict[str, Any]) -> None:
    marker = tmp_path / "executed.txt"
    source = (
        "import os\n"
        f"open({str(marker)!r}, 'w').write('ran')\n"
        f"os.makedirs({str(tmp_path / 'made')!r})\n"
        "OTHER = compute_something()\n"
        f"LLM_SETTINGS: dict = {sample!r}\n"
        "raise SystemExit('a settings file must never run')\n"
    )
    settings = load_settings(write(tmp_path / "local_settings.py", source))
    assert isinstance(settings, LLMSettings)
    assert not marker.exists()
    assert not (tmp_path / "made").exists()


def test_python_file_last_assignment_wins(tmp_path: Path, sample: dict[str, Any]) -> None:
    first = {"VERSION": "2", "backends": {}}
    source = f"LLM_SETTINGS = {first!r}\nLLM_SETTINGS = {sample!r}\n"
    assert "openai" in load_settings(write(tmp_path / "s.py", source)).backends


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ('{"VERSION": "2", "backends": load()}', "contains a function call at line 2, column 45"),
        ('{"VERSION": "2", "backends": BACKENDS}', "contains the name 'BACKENDS' at line 2"),
        ('{"VERSION": "2", "k": os.environ["K"]}', "contains a subscript at line 2, column 38"),
        ('{"VERSION": "2", "k": f"{x}"}', "contains an f-string"),
        ('{"VERSION": "2", **EXTRA}', "contains the name 'EXTRA'"),
    ],
)
def test_non_literal_python_settings_are_rejected(
    tmp_path: Path, value: str, fragment: str
) -> None:
    path = write(tmp_path / "s.py", f"import os\nLLM_SETTINGS = {value}\n")
    with pytest.raises(SettingsFileError) as caught:
        load_settings(path)
    message = caught.value.message
    assert message.startswith(f"{path}: LLM_SETTINGS must be a plain literal")
    assert fragment in message
    assert "api_key_env" in message


def test_non_literal_expression_is_described_without_its_content(
    tmp_path: Path, secret: str
) -> None:
    source = f'LLM_SETTINGS = {{"VERSION": "2", "key": "{secret[:8]}" + "{secret[8:]}"}}\n'
    with pytest.raises(SettingsFileError) as caught:
        load_settings(write(tmp_path / "s.py", source))
    assert "an operator expression" in caught.value.message
    assert secret[8:] not in caught.value.message


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("s.py", "SETTINGS = {}\n", "no top-level `LLM_SETTINGS = {...}` assignment found"),
        ("s.py", "LLM_SETTINGS = {\n", "Python syntax error at line 1"),
        ("s.json", '{"VERSION": "2",\n "backends": }', "invalid JSON at line 2, column 14"),
        ("s.toml", 'VERSION = "2"\nbackends = \n', "invalid TOML"),
        ("s.json", "[1, 2]", "the settings must be a mapping"),
        ("s.yaml", "VERSION: 2", "unsupported settings file type '.yaml'"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, text: str, fragment: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(SettingsFileError) as caught:
        load_settings(path)
    assert fragment in caught.value.message
    assert str(path) in caught.value.message
    assert caught.value.code == "invalid_settings_file"
    assert isinstance(caught.value, ConfigurationError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsFileError, match="settings file not found"):
        load_settings(tmp_path / "nope.json")


def invalid(data: dict[str, Any]) -> SettingsFileError:
    with pytest.raises(SettingsFileError) as caught:
        parse_settings(data, source="conf.json")
    return caught.value


def test_unknown_fields_are_rejected_with_their_path(sample: dict[str, Any]) -> None:
    sample["endpoints"][0]["api_kye"] = "x"
    sample["backends"]["openai"]["models"]["gpt-4.1"]["context_lenght"] = 5
    error = invalid(sample)
    assert error.message.startswith("conf.json: invalid settings: ")
    assert "endpoints[0].api_kye: Extra inputs are not permitted" in error.message
    assert "backends.openai.models.gpt-4.1.context_lenght: Extra inputs" in error.message
    assert {"field": "endpoints[0].api_kye", "message": "Extra inputs are not permitted"} in (
        error.details["errors"]
    )
    assert error.details["path"] == "conf.json"


@pytest.mark.parametrize("version", ["1", 2, None])
def test_version_must_be_2(sample: dict[str, Any], version: Any) -> None:
    sample["VERSION"] = version
    assert 'VERSION: VERSION must be the string "2"' in invalid(sample).message


def test_version_is_required(sample: dict[str, Any]) -> None:
    del sample["VERSION"]
    assert "VERSION: Field required" in invalid(sample).message


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            lambda s: s["backends"]["local"]["models"]["qwen3"]["endpoints"].append("nowhere"),
            "backends.local.models.qwen3.endpoints[1]: unknown endpoint 'nowhere' "
            "(endpoints: openai, backup, ollama, claude)",
        ),
        (lambda s: s["endpoints"].append({"id": "openai"}), "duplicate endpoint id 'openai'"),
        (
            lambda s: s["endpoints"][0].update(api_key="k"),
            "endpoints[0]: set api_key or api_key_env, not both",
        ),
        (
            lambda s: s["backends"]["openai"]["models"]["shared"]["endpoints"].append("claude"),
            "backends.openai.models.shared.endpoints: all endpoints of one model must have the "
            "same endpoint_type (found anthropic, openai)",
        ),
        (
            lambda s: s.update(default_backend="azure"),
            "default_backend 'azure' is not a backend (openai, local, anthropic)",
        ),
        (
            lambda s: s["backends"]["local"].update(default_model="llama"),
            "backends.local: default_model 'llama' is not one of the backend's models "
            "(qwen3, shared)",
        ),
        (
            lambda s: s["endpoints"][2].update(endpoint_type="gemini"),
            "endpoints[2].endpoint_type: Input should be 'openai' or 'anthropic'",
        ),
        (
            lambda s: s["backends"]["local"]["models"]["qwen3"].update(endpoints=[]),
            "backends.local.models.qwen3.endpoints: Tuple should have at least 1 item",
        ),
        (
            lambda s: s["backends"]["openai"]["models"]["gpt-4.1"]["settings"].update(temp=1),
            "backends.openai.models.gpt-4.1.settings.temp: Extra inputs are not permitted",
        ),
        (
            lambda s: s["endpoints"][0].update(api_key_env="not a variable"),
            "endpoints[0].api_key_env: String should match pattern",
        ),
    ],
)
def test_shape_errors_name_the_failing_field(
    sample: dict[str, Any], change: Any, fragment: str
) -> None:
    change(sample)
    assert fragment in invalid(sample).message


def test_model_id_defaults_to_the_model_name(sample: dict[str, Any]) -> None:
    settings = parse_settings(sample)
    assert settings.backends["openai"].models["shared"].id is None
    assert settings.source is None
