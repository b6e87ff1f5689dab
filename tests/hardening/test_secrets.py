"""Keys planted in the host environment, the settings file in use and a ``.env`` never reach
the model, the events, the stores, the logs or any repr, whatever the agent tries."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig, Runner
from agentcycle.events import RunStatus
from agentcycle.messages import ToolMessage
from agentcycle.models.provider import SettingsModelProvider
from agentcycle.runtime.policy import ApprovalMode, ToolPolicy
from agentcycle.sessions import SQLiteSession
from agentcycle.stores import JsonlRunEventStore
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.builtin._secrets import shell_environment

ENV_KEY = "sk-env-4f9a8b7c6d5e4f3a2b1c"
CUSTOM_TOKEN = "tok-custom-0a1b2c3d4e5f"
SETTINGS_KEY = "sk-settings-9z8y7x6w5v4u"
DOTENV_KEY = "sk_live_dotenv_1q2w3e4r5t6y"
NAMED_SETTINGS_KEY = "sk-named-settings-7u8i9o0p"
KEYS = (ENV_KEY, CUSTOM_TOKEN, SETTINGS_KEY, DOTENV_KEY, NAMED_SETTINGS_KEY)


def settings_text(key: str) -> str:
    return json.dumps(
        {
            "backends": {
                "openai": {
                    "endpoints": [{"id": "e", "api_base": "http://127.0.0.1:9", "api_key": key}],
                    "models": {"m": {"id": "m", "endpoints": ["e"]}},
                }
            }
        }
    )


ATTEMPTS = [
    ("bash", {"command": "env"}),
    ("bash", {"command": "cat .env local_settings.json team/models.json; printenv"}),
    ("bash", {"command": "echo $OPENAI_API_KEY $MY_SERVICE_TOKEN", "run_in_background": True}),
    ("read_file", {"path": ".env"}),
    ("read_file", {"path": "local_settings.json"}),
    ("read_file", {"path": "team/models.json"}),
    ("read_file", {"path": "innocent.txt"}),  # a symlink to .env
    ("edit_file", {"path": ".env", "old_string": "sk", "new_string": "xx"}),
    ("search_files", {"pattern": "sk", "include_sensitive": True, "include_hidden": True}),
    ("search_files", {"pattern": "sk", "include_hidden": True, "output_mode": "content"}),
    ("search_files", {"pattern": "sk-", "literal": True, "output_mode": "content"}),
]


async def test_no_key_leaves_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", ENV_KEY)
    monkeypatch.setenv("MY_SERVICE_TOKEN", CUSTOM_TOKEN)
    workspace = tmp_path / "ws"
    (workspace / "team").mkdir(parents=True)
    (workspace / ".env").write_text(f"STRIPE_SECRET_KEY={DOTENV_KEY}\nDEBUG=1\n")
    (workspace / "local_settings.json").write_text(settings_text(SETTINGS_KEY))
    named = workspace / "team" / "models.json"  # the settings file in use, by RunConfig
    named.write_text(settings_text(NAMED_SETTINGS_KEY))
    (workspace / "innocent.txt").symlink_to(".env")
    (workspace / "notes.md").write_text("task notes: sk is not a key\n")
    model = ScriptedModel(
        [call_tool(name, args) for name, args in ATTEMPTS]
        + [call_tool("task_finish", {"message": "done"})]
    )
    events_path = tmp_path / "events.jsonl"
    session = SQLiteSession("s", tmp_path / "session.sqlite3")
    config = RunConfig(
        workspace=workspace,
        # Unsandboxed: the redaction net under test is what stands between `cat .env` and the
        # model when commands run with the caller's rights (the sandbox masks the file).
        sandbox="off",
        settings_file=named,
        policy=ToolPolicy.of(approval_mode=ApprovalMode.NEVER),
        event_store=JsonlRunEventStore(events_path),
        session=session,
    )
    events = []
    agent = Agent(model=model, shell_tools=True, max_cycles=20)
    handle = await Runner.start(agent, "leak", config=config)
    async for event in handle.events():
        events.append(event)
    result = await handle.result()
    assert result.status is RunStatus.COMPLETED
    stored = await session.get_items()

    bodies = [json.loads(m.content) for m in result.messages if isinstance(m, ToolMessage)]
    codes = [body.get("error_code") for body in bodies]
    # The workspace tools refuse secret files outright (the symlink too).
    assert codes[3:9] == ["sensitive_path"] * 6
    # The shell ran, its environment had no keys, and what it read of files was scrubbed.
    assert "PATH=" in bodies[0]["output"] and "[REDACTED]" not in bodies[0]["output"]
    assert "[REDACTED]" in bodies[1]["output"]

    haystacks = {
        "model requests": repr([r.messages for r in model.requests]),
        "events": repr(events) + json.dumps([e.to_dict() for e in events], default=str),
        "event store": events_path.read_text(),
        "session store": (tmp_path / "session.sqlite3").read_bytes().decode("latin-1")
        + repr(stored),
        "result repr": repr(result),
        "state json": result.to_state().to_json(),
        "logs": caplog.text,
    }
    for where, text in haystacks.items():
        for key in KEYS:
            assert key not in text, f"{key} leaked into the {where}"


def test_the_shell_environment_is_an_allow_list() -> None:
    host = {
        "PATH": "/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "AWS_SECRET_ACCESS_KEY": "x" * 20,
        "GITHUB_TOKEN": "y" * 20,
        "MYAPP_MODE": "fast",
        "MYAPP_TOKEN": "z" * 20,
        "DEPLOY_KEY": "k" * 20,
        "RANDOM_THING": "1",
    }
    env = shell_environment(host, ("MYAPP_*", "DEPLOY_KEY"))
    assert env == {
        "PATH": "/bin",
        "HOME": "/h",
        "LC_ALL": "C",
        "MYAPP_MODE": "fast",
        "DEPLOY_KEY": "k" * 20,
    }


async def test_sensitive_files_can_be_allowed_per_run(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MODE=debug\n")
    model = ScriptedModel(
        [call_tool("read_file", {"path": ".env"}), call_tool("task_finish", {"message": "ok"})]
    )
    config = RunConfig(workspace=tmp_path, read_sensitive_files=True)
    result = await Runner.run(Agent(model=model), "x", config=config)
    body = json.loads(next(m for m in result.messages if isinstance(m, ToolMessage)).content)
    assert "MODE=debug" in body["content"]


PROVIDER_KEY = "sk-provider-literal-5t6y7u8i"


@pytest.mark.parametrize("sandbox", ["off", "workspace-write"])
async def test_the_settings_file_a_provider_read_is_closed_and_its_keys_scrubbed(
    tmp_path: Path,
    sandbox: str,
) -> None:
    """The CLI passes a model provider, not ``settings_file``: its file is still protected."""
    workspace = tmp_path / "ws"
    (workspace / "conf").mkdir(parents=True)
    llm = workspace / "conf" / "llm.json"  # a name the sensitive-path rules do not know
    llm.write_text(
        json.dumps(
            {
                "VERSION": "2",
                "endpoints": [
                    {"id": "e", "api_base": "http://127.0.0.1:9/v1", "api_key": PROVIDER_KEY}
                ],
                "backends": {"b": {"models": {"m": {"endpoints": ["e"]}}}},
            }
        )
    )
    model = ScriptedModel(
        [
            call_tool("read_file", {"path": "conf/llm.json"}),
            call_tool("bash", {"command": "cat conf/llm.json"}),
            call_tool("task_finish", {"message": "done"}),
        ]
    )
    config = RunConfig(
        workspace=workspace,
        model_provider=SettingsModelProvider(llm),
        policy=ToolPolicy.of(approval_mode=ApprovalMode.NEVER),
        sandbox=sandbox,
    )
    result = await Runner.run(Agent(model=model, shell_tools=True), "x", config=config)
    bodies = [json.loads(m.content) for m in result.messages if isinstance(m, ToolMessage)]
    assert bodies[0]["error_code"] == "sensitive_path"
    if sandbox == "off":  # the redaction net catches the key in the output
        assert "[REDACTED]" in bodies[1]["output"]
    else:  # the sandbox shows the file empty: there is nothing to redact
        assert bodies[1]["ok"] is True
        assert "backends" not in bodies[1]["output"]
    assert PROVIDER_KEY not in repr(result) + result.to_state().to_json()
    assert PROVIDER_KEY not in repr(config)
