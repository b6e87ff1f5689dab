"""A wrong agents file is one line naming the file and the key, exit 1, and nothing runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcycle.cli import main
from agentcycle.cli._agents_file import (
    AgentDefaults,
    build_team,
    load_agents_file,
    parse_agents_file,
)
from agentcycle.errors import AgentsFileError
from agentcycle.testing import ScriptedModel
from agentcycle.testing.openai_server import OpenAICompatServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agents.example.yaml"


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


@pytest.fixture
def settings_file(tmp_path: Path, server: OpenAICompatServer) -> Path:
    model = {"endpoints": ["loop"], "context_length": 8192}
    settings = {
        "VERSION": "2",
        "endpoints": [{"id": "loop", "api_base": server.base_url, "api_key": "sk-test"}],
        "backends": {"local": {"default_model": "front", "models": {"front": model}}},
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    return path


def fails(capsys: pytest.CaptureFixture[str], path: Path, settings_file: Path, *extra: str) -> str:
    """Run the CLI with the agents file ``path``; return its one error line."""
    code = main(["--agents", str(path), "--settings-file", str(settings_file), "-p", "x", *extra])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"agentcycle: {path}: ") or "does not exist" in lines[0]
    assert "Traceback" not in captured.err
    return lines[0]


BAD_FILES = {
    "yaml_syntax": ("agents:\n  triage: [billing\n", "invalid YAML at line 3"),
    "duplicate_agent": (
        "agents:\n  a: {}\n  a: {}\n",
        "invalid YAML at line 3, column 3: duplicate key 'a'",
    ),
    "not_a_mapping": ("- triage\n", "an agents file is a mapping with an 'agents' key, not a list"),
    "empty": ("", "not empty"),
    "no_agents": ("entry: a\n", "agents: missing (an agents file lists its agents under 'agents')"),
    "zero_agents": ("agents: {}\n", "agents: the team needs at least one agent"),
    "unknown_top_key": (
        "agents: {a: {}}\nmodel: x\n",
        "model: unknown key (known: entry, agents)",
    ),
    "unknown_agent_key": (
        "agents:\n  a:\n    tols: [b]\n",
        "agents.a.tols: unknown key (known: description, instructions, backend, model, "
        "max_cycles, agent_type, handoffs, agent_tools, "
        "sub_agents)",
    ),
    "wrong_type": (
        "agents:\n  a:\n    max_cycles: ten\n",
        "agents.a.max_cycles: Input should be a valid integer",
    ),
    "zero_cycles": (
        "agents:\n  a:\n    max_cycles: 0\n",
        "agents.a.max_cycles: Input should be greater than or equal to 1",
    ),
    "agent_type": (
        "agents:\n  a:\n    agent_type: robot\n",
        "agents.a.agent_type: Input should be 'default' or 'computer'",
    ),
    "handoffs_not_a_list": (
        "agents:\n  a:\n    handoffs: b\n  b: {}\n",
        "agents.a.handoffs: Input should be a valid list",
    ),
    "name_not_a_string": ("agents:\n  7: {}\n", "agents: 7 is not a name"),
    "unknown_handoff": (
        "agents:\n  triage:\n    handoffs: [biling]\n  billing: {}\n",
        "agents.triage.handoffs[0]: no agent named 'biling' in this file (agents: triage, "
        "billing); did you mean 'billing'?",
    ),
    "unknown_agent_tool": (
        "agents:\n  triage:\n    agent_tools: [nobody]\n",
        "agents.triage.agent_tools[0]: no agent named 'nobody' in this file (agents: triage)",
    ),
    "unknown_entry": ("entry: front\nagents:\n  triage: {}\n", "entry: no agent named 'front'"),
    "self_handoff": (
        "agents:\n  a:\n    handoffs: [a]\n",
        "agents.a.handoffs[0]: an agent cannot hand off to itself",
    ),
    "self_tool": (
        "agents:\n  a:\n    agent_tools: [a]\n",
        "agents.a.agent_tools[0]: an agent cannot call itself as a tool",
    ),
    "listed_twice": (
        "agents:\n  a:\n    handoffs: [b, b]\n  b: {}\n",
        "agents.a.handoffs[1]: 'b' is listed twice",
    ),
    "tool_cycle": (
        "agents:\n  a:\n    agent_tools: [b]\n  b:\n    handoffs: [c]\n  c:\n    handoffs: [a]\n",
        "agents.a.agent_tools[0]: calling 'b' as a tool can lead back to 'a' (a -> b -> c -> a), "
        "so a run could nest itself without end",
    ),
    "self_sub_agent": (
        "agents:\n  a:\n    sub_agents: [a]\n",
        "agents.a.sub_agents[0]: an agent cannot be its own sub-agent",
    ),
    "sub_agent_cycle": (
        "agents:\n  a:\n    sub_agents: [b]\n  b:\n    agent_tools: [c]\n  c:\n    handoffs: [a]\n",
        "agents.a.sub_agents[0]: giving 'b' sub-tasks can lead back to 'a' (a -> b -> c -> a), "
        "so a run could nest itself without end",
    ),
    "sub_agent_id": (
        "agents:\n  a:\n    sub_agents: [research team]\n  research team: {}\n",
        "agents.a.sub_agents: ",
    ),
    "same_tool_name": (
        "agents:\n  Billing: {}\n  billing: {}\n",
        "agents.billing: its tool name 'billing' is also that of agent 'Billing'; rename one",
    ),
    "nameless": ("agents:\n  '!!': {}\n", "agents.!!: an agent name needs letters or digits"),
    "tool_named_like_a_builtin": (
        "agents:\n  a:\n    agent_tools: [read_file]\n  read_file: {}\n",
        "agents.a.agent_tools: Duplicate tool name 'read_file': tool names must be unique in a "
        "run. An agent offered as a tool is named after the agent; rename it.",
    ),
    "unknown_model": (
        "agents:\n  a:\n    model: gpt-9\n",
        "agents.a.model: unknown model 'gpt-9'; models: local/front",
    ),
    "unknown_backend": ("agents:\n  a:\n    backend: cloud\n", "agents.a.backend: unknown backend"),
    "demo_has_one_model": (
        "agents:\n  a:\n    backend: demo\n    model: big\n",
        "agents.a.model: the demo backend has one model, 'demo-planner'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_wrong_agents_file_is_one_line_and_runs_nothing(
    case: str,
    server: OpenAICompatServer,
    settings_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    text, expected = BAD_FILES[case]
    path = tmp_path / "team.yaml"
    path.write_text(text)
    line = fails(capsys, path, settings_file, "--workspace", str(tmp_path))
    assert expected in line
    assert server.requests == []


def test_json_syntax_duplicates_file_type_and_a_missing_file(
    settings_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "team.json"
    broken.write_text('{"agents": {"a": {},}}')
    assert "invalid JSON at line 1, column 21" in fails(capsys, broken, settings_file)

    twice = tmp_path / "twice.json"
    twice.write_text('{"agents": {"a": {}, "a": {"model": "x"}}}')
    assert "invalid JSON: duplicate key 'a'" in fails(capsys, twice, settings_file)

    toml = tmp_path / "team.toml"
    toml.write_text("[agents.a]\n")
    assert "unsupported agents file type '.toml'; use .yaml, .yml or .json" in fails(
        capsys, toml, settings_file
    )

    missing = tmp_path / "nope.yaml"
    assert f"agents file {missing} does not exist" in fails(capsys, missing, settings_file)


def test_an_agent_naming_a_model_needs_a_settings_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGENTCYCLE_SETTINGS", raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "team.yaml"
    path.write_text("agents:\n  a:\n    model: qwen3\n")
    code = main(["--agents", str(path), "-p", "x"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == (
        f"agentcycle: {path}: agents.a.model: naming a backend or model needs a settings file: "
        "no settings file found (--settings-file, $AGENTCYCLE_SETTINGS or ./local_settings.json)"
    )


def test_several_problems_are_reported_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text("agents:\n  a:\n    max_cycles: x\n    agent_type: 1\n    extra: 2\n")
    with pytest.raises(AgentsFileError) as caught:
        load_agents_file(path)
    message = caught.value.message
    assert "\n" not in message and caught.value.code == "invalid_agents_file"
    assert message.count("agents.a.") == 3
    assert {e.split(":")[0] for e in caught.value.details["errors"]} == {
        "agents.a.max_cycles",
        "agents.a.agent_type",
        "agents.a.extra",
    }


def test_the_example_file_is_valid() -> None:
    team = load_agents_file(EXAMPLE)
    assert team.entry_name == "triage"
    assert list(team.agents) == ["triage", "billing", "researcher"]
    assert team.agents["triage"].handoffs == ["billing"]
    assert team.agents["billing"].handoffs == ["triage"]  # a handoff cycle is fine
    assert team.agents["triage"].agent_tools == ["researcher"]
    assert team.agents["researcher"].max_cycles == 20


def test_a_blank_description_or_instructions_is_left_to_the_defaults() -> None:
    team = parse_agents_file(
        {
            "agents": {
                "lead": {"sub_agents": ["worker"], "handoffs": ["worker"]},
                "worker": {"description": "   ", "instructions": "\n"},
            }
        },
        source="team.yaml",
    )
    defaults = AgentDefaults(instructions="Be useful.", max_cycles=5, agent_type="default")
    lead = build_team(team, defaults, lambda backend, model: ScriptedModel([]))
    worker = lead.sub_agents["worker"]
    assert worker.description == "The agent 'worker'."
    assert worker.agent.instructions == "Be useful."
