"""Which settings file is used: flag, then AGENTCYCLE_SETTINGS, then ./local_settings.*."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentcycle.errors import SettingsFileError
from agentcycle.models.settings import find_settings_file, load_settings


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}", encoding="utf-8")
    return path


def test_explicit_path_wins(tmp_path: Path) -> None:
    explicit = touch(tmp_path / "conf" / "mine.toml")
    from_env = touch(tmp_path / "env.json")
    touch(tmp_path / "local_settings.json")
    env = {"AGENTCYCLE_SETTINGS": str(from_env)}
    assert find_settings_file(str(explicit), env=env, cwd=tmp_path) == explicit
    assert find_settings_file(explicit, env=env, cwd=tmp_path) == explicit


def test_relative_paths_are_taken_from_cwd(tmp_path: Path) -> None:
    explicit = touch(tmp_path / "conf" / "mine.py")
    assert find_settings_file("conf/mine.py", env={}, cwd=tmp_path) == explicit
    env = {"AGENTCYCLE_SETTINGS": "conf/mine.py"}
    assert find_settings_file(None, env=env, cwd=tmp_path) == explicit


def test_environment_variable_beats_local_files(tmp_path: Path) -> None:
    from_env = touch(tmp_path / "elsewhere" / "s.json")
    touch(tmp_path / "local_settings.json")
    env = {"AGENTCYCLE_SETTINGS": str(from_env)}
    assert find_settings_file(None, env=env, cwd=tmp_path) == from_env


def test_local_files_in_order_json_toml_py(tmp_path: Path) -> None:
    assert find_settings_file(None, env={}, cwd=tmp_path) is None
    py = touch(tmp_path / "local_settings.py")
    assert find_settings_file(None, env={}, cwd=tmp_path) == py
    toml = touch(tmp_path / "local_settings.toml")
    assert find_settings_file(None, env={}, cwd=tmp_path) == toml
    json_file = touch(tmp_path / "local_settings.json")
    assert find_settings_file(None, env={}, cwd=tmp_path) == json_file


def test_empty_values_count_as_unset(tmp_path: Path) -> None:
    local = touch(tmp_path / "local_settings.toml")
    assert find_settings_file("", env={"AGENTCYCLE_SETTINGS": ""}, cwd=tmp_path) == local


def test_a_named_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    touch(tmp_path / "local_settings.json")
    with pytest.raises(SettingsFileError, match=r"settings file .*missing\.json does not exist"):
        find_settings_file("missing.json", env={}, cwd=tmp_path)
    with pytest.raises(SettingsFileError, match=r"AGENTCYCLE_SETTINGS names .*gone\.toml"):
        find_settings_file(None, env={"AGENTCYCLE_SETTINGS": "gone.toml"}, cwd=tmp_path)


def test_a_named_path_that_is_not_a_regular_file_says_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "settings.json"
    os.mkfifo(fifo)  # opening it would wait for a writer: the lookup must only stat it
    folder = tmp_path / "conf.toml"
    folder.mkdir()
    with pytest.raises(SettingsFileError) as from_flag:
        find_settings_file("settings.json", env={}, cwd=tmp_path)
    assert from_flag.value.message == (
        f"settings file {fifo} is a named pipe (FIFO), not a regular file"
    )
    assert from_flag.value.details == {"path": str(fifo), "kind": "fifo"}
    with pytest.raises(SettingsFileError) as from_env:
        find_settings_file(None, env={"AGENTCYCLE_SETTINGS": str(fifo)}, cwd=tmp_path)
    assert from_env.value.message == (
        f"AGENTCYCLE_SETTINGS names {fifo}, which is a named pipe (FIFO), not a regular file"
    )
    with pytest.raises(SettingsFileError, match=r"conf\.toml, which is a directory, not a"):
        find_settings_file(None, env={"AGENTCYCLE_SETTINGS": "conf.toml"}, cwd=tmp_path)
    with pytest.raises(SettingsFileError, match=r"/dev/null is a character device"):
        find_settings_file("/dev/null", env={}, cwd=tmp_path)
    # Loading the path directly (the SDK's own entry) refuses it the same way, unopened.
    with pytest.raises(SettingsFileError, match=r"settings\.json: the settings file is a named"):
        load_settings(fifo)


def test_a_local_settings_name_that_is_not_a_file_is_an_error_not_skipped(
    tmp_path: Path,
) -> None:
    (tmp_path / "local_settings.json").mkdir()
    touch(tmp_path / "local_settings.toml")
    with pytest.raises(SettingsFileError, match=r"local_settings\.json is a directory"):
        find_settings_file(None, env={}, cwd=tmp_path)


def test_defaults_are_the_process_environment_and_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGENTCYCLE_SETTINGS", raising=False)
    assert find_settings_file(None) is None
    local = touch(tmp_path / "local_settings.json")
    assert find_settings_file(None) == local
    other = touch(tmp_path / "other.json")
    monkeypatch.setenv("AGENTCYCLE_SETTINGS", str(other))
    assert find_settings_file(None) == other
