"""``--agents FILE``: a team run from the terminal against the loopback OpenAI server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests._cli import run_cli

from agentcycle.cli import main
from agentcycle.testing.openai_server import (
    ChatReply,
    OpenAICompatServer,
    ServerToolCall,
    usage,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agents.example.yaml"


@pytest.fixture
def server() -> Iterator[OpenAICompatServer]:
    with OpenAICompatServer() as srv:
        yield srv


@pytest.fixture
def settings_file(tmp_path: Path, server: OpenAICompatServer) -> Path:
    """Backend ``local`` with two models: ``front`` (the default) and ``back``."""

    def model(served: str) -> dict[str, Any]:
        return {"endpoints": [{"endpoint_id": "loop", "model_id": served}], "context_length": 8192}

    settings = {
        "VERSION": "2",
        "endpoints": [{"id": "loop", "api_base": server.base_url, "api_key": "sk-test"}],
        "backends": {
            "local": {
                "default_model": "front",
                "models": {"front": model("served-front"), "back": model("served-back")},
            }
        },
    }
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    return path


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    (path / "orders.txt").write_text("order 7: paid twice\n")
    return path


TEAM = """
entry: triage
agents:
  triage:
    instructions: Route requests.
    handoffs: [billing]
    agent_tools: [researcher]
  billing:
    description: Payments and refunds.
    instructions: You handle refunds.
    model: back
  researcher:
    description: Reads the workspace.
    instructions: Look things up.
    agent_type: computer
    max_cycles: 3
"""


def write(tmp_path: Path, text: str, name: str = "team.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def call(name: str, arguments: dict[str, Any], text: str = "") -> ChatReply:
    return ChatReply(text=text, tool_calls=[ServerToolCall(name, arguments)])


def finish(message: str, text: str = "") -> ChatReply:
    return call("task_finish", {"message": message}, text)


def run(
    capsys: pytest.CaptureFixture[str], *args: str, prompt: str = "help"
) -> tuple[int, str, str]:
    code = main([*args, "--prompt", prompt])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def offered(body: dict[str, Any]) -> set[str]:
    return {tool["function"]["name"] for tool in body["tools"]}


def test_triage_hands_off_to_billing_which_answers_with_its_own_model(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.enqueue(
        call("transfer_to_billing", {"input": "Customer was charged twice for order 7."}),
        finish("Refunded order 7.", text="Refunding now."),
    )
    code, out, err = run(
        capsys,
        "--agents", str(write(tmp_path, TEAM)), "--settings-file", str(settings_file),
        "--workspace", str(workspace),
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == "Refunded order 7."
    lines = err.splitlines()
    assert "  -> handed off to billing: Customer was charged twice for order 7." in lines
    assert "transfer_to_billing" not in err  # the handoff is its one line
    assert lines[-3:-1] == [
        "Refunding now.",
        '  -> task_finish({"message": "Refunded order 7."})',
    ]
    assert lines[-1].startswith("completed · 2 cycles · ")  # the closing summary
    triage, billing = (request.json for request in server.requests)
    assert (triage["model"], billing["model"]) == ("served-front", "served-back")
    assert "transfer_to_billing" in offered(triage) and "researcher" in offered(triage)
    assert "transfer_to_billing" not in offered(billing)
    assert billing["messages"][0]["content"].startswith("You handle refunds.")


def test_json_names_the_final_agent_and_its_model(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.enqueue(call("transfer_to_billing", {"input": "refund"}), finish("Refunded."))
    code, out, err = run(
        capsys,
        "--agents", str(write(tmp_path, TEAM)), "--settings-file", str(settings_file),
        "--workspace", str(workspace), "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert (data["agent_name"], data["final_output"]) == ("billing", "Refunded.")
    assert data["resolved"] == {"backend": "local", "model": "back", "endpoint": "loop"}
    assert err == ""


def test_an_agent_tool_child_runs_and_its_lines_are_attributed_to_it(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.enqueue(
        call("researcher", {"task_description": "How often was order 7 paid?"}),
        call("read_file", {"path": "orders.txt"}, text="Checking the orders.\nOne moment."),
        finish("Order 7 was paid twice."),
        finish("Order 7 was paid twice; billing will refund it."),
    )
    code, out, err = run(
        capsys,
        "--agents", str(write(tmp_path, TEAM)), "--settings-file", str(settings_file),
        "--workspace", str(workspace), "--temperature", "0.3",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == "Order 7 was paid twice; billing will refund it."
    assert err.splitlines()[:-1] == [
        '  -> researcher({"task_description": "How often was order 7 paid?"})',
        "    [researcher] Checking the orders.",
        "    [researcher] One moment.",
        '    [researcher] -> read_file({"path": "orders.txt"})',
        "    [researcher]    = 1 line",  # a child's results are previewed too
        '    [researcher] -> task_finish({"message": "Order 7 was paid twice."})',
        "     = Order 7 was paid twice.",  # the agent tool's result, previewed
        '  -> task_finish({"message": "Order 7 was paid twice; billing will refund it."})',
    ]
    parent, child, _, last = (request.json for request in server.requests)
    assert child["messages"][-1] == {"role": "user", "content": "How often was order 7 paid?"}
    assert "bash" in offered(child) and "bash" not in offered(parent)  # agent_type: computer
    assert child["temperature"] == parent["temperature"] == 0.3  # CLI flags reach children
    tool_result = last["messages"][-1]
    assert tool_result["role"] == "tool" and tool_result["content"] == "Order 7 was paid twice."


def test_a_child_that_runs_out_of_cycles_is_reported_under_its_name(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    look = call("read_file", {"path": "orders.txt"})
    server.enqueue(
        call("researcher", {"task_description": "Read the orders forever."}),
        look,
        look,
        look,  # researcher's max_cycles: 3
        finish("The researcher gave up."),
    )
    code, out, err = run(
        capsys,
        "--agents", str(write(tmp_path, TEAM)), "--settings-file", str(settings_file),
        "--workspace", str(workspace),
    )  # fmt: skip
    assert code == 0, err
    assert "    [researcher] ended max_cycles" in err.splitlines()
    failed = [line for line in err.splitlines() if "researcher failed" in line]
    assert failed == [
        "     researcher failed: sub_run_failed: The sub-agent 'researcher' ended max_cycles: "
        "The run used all 3 cycles …"
    ]
    assert out.strip() == "The researcher gave up."


def test_verbose_events_of_the_child_carry_its_name_and_parent(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.enqueue(
        call("researcher", {"task_description": "check"}),
        finish("checked"),
        call("transfer_to_billing", {"input": "refund"}),
        finish("Refunded."),
    )
    code, out, err = run(
        capsys,
        "--agents", str(write(tmp_path, TEAM)), "--settings-file", str(settings_file),
        "--workspace", str(workspace), "--events",
    )  # fmt: skip
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    root = events[0]["run_id"]
    child = [e for e in events if e.get("parent_run_id") == root]
    assert child and {e["agent_name"] for e in child} == {"researcher"}
    started = next(e for e in events if e["type"] == "sub_run_started")
    assert {e["run_id"] for e in child} == {started["child_run_id"]}
    assert started["child_agent_name"] == "researcher"
    handoff = next(e for e in events if e["type"] == "handoff_completed")
    assert (handoff["source_agent"], handoff["target_agent"]) == ("triage", "billing")
    assert events[-1]["type"] == "run_completed" and events[-1]["agent_name"] == "billing"


def test_a_json_agents_file_and_cli_defaults_for_agents_that_set_nothing(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    team = {"agents": {"solo": None, "helper": {"model": "front"}}}
    path = write(tmp_path, json.dumps(team), name="team.json")
    server.enqueue(finish("Done alone."))
    code, out, err = run(
        capsys,
        "--agents", str(path), "--settings-file", str(settings_file), "--model", "back",
        "--workspace", str(workspace), "--agent-type", "computer",
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == "Done alone."
    body = server.requests[0].json
    assert body["model"] == "served-back"  # --model is the default of the first agent
    assert "bash" in offered(body)
    assert body["messages"][0]["content"].startswith("You are agentcycle")


def test_the_example_file_runs_with_the_demo_backend(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "--agents", str(EXAMPLE), "--backend", "demo", "--workspace", str(workspace), "--json",
        prompt="Summarise the orders",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert (data["status"], data["agent_name"]) == ("completed", "triage")
    assert data["resolved"]["backend"] == "demo"


def test_the_example_team_as_a_subprocess(
    server: OpenAICompatServer, settings_file: Path, workspace: Path
) -> None:
    server.enqueue(
        call("researcher", {"task_description": "Find order 7."}),
        finish("order 7: paid twice"),
        call("transfer_to_billing", {"input": "Order 7 was paid twice; refund one payment."}),
        finish("I refunded the second payment for order 7."),
    )
    proc = run_cli("--agents", str(EXAMPLE), "--settings-file", str(settings_file),
                   "--prompt", "I was charged twice for order 7", cwd=workspace)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "I refunded the second payment for order 7."
    assert proc.stderr.splitlines()[:-1] == [
        '  -> researcher({"task_description": "Find order 7."})',
        '    [researcher] -> task_finish({"message": "order 7: paid twice"})',
        "     = order 7: paid twice",
        "  -> handed off to billing: Order 7 was paid twice; refund one payment.",
        '  -> task_finish({"message": "I refunded the second payment for order 7."})',
    ]
    system = server.requests[0].json["messages"][0]["content"]
    assert system.startswith("You are the front desk of a small shop.")


def test_a_session_continues_with_the_agent_in_control_on_the_whole_conversation(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.enqueue(
        call("transfer_to_billing", {"input": "refund"}),
        call("ask_user", {"question": "Which order?"}),
        finish("Order 7 is refunded."),
    )
    team = str(write(tmp_path, TEAM))
    common = ["--agents", team, "--settings-file", str(settings_file), "--workspace",
              str(workspace), "--session", "chat-1"]  # fmt: skip
    code, out, err = run(capsys, *common, prompt="I want a refund")
    assert code == 3, err
    assert "Which order?" in out

    code, out, err = run(capsys, *common, prompt="Order 7.")
    assert code == 0, err
    assert "earlier messages) with billing" in err
    third = server.requests[2].json
    assert third["model"] == "served-back"  # billing answers the question it asked
    assert third["messages"][0]["content"].startswith("You handle refunds.")
    assert any("transfer_to_billing" in json.dumps(m) for m in third["messages"])
    assert third["messages"][-1]["content"] == "Order 7."


def test_skills_dirs_reach_child_runs_and_max_cycles_bounds_the_entry_agent(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    skill = tmp_path / "skills" / "refunds"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text(
        "---\nname: refunds\ndescription: How refunds are made.\n---\nRefund to the card.\n"
    )
    server.enqueue(
        call("researcher", {"task_description": "check"}),
        finish("checked"),
        call("read_file", {"path": "orders.txt"}),
    )
    code, _, err = run(
        capsys,
        "--agents", str(write(tmp_path, TEAM)), "--settings-file", str(settings_file),
        "--workspace", str(workspace), "--skills-dir", str(tmp_path / "skills"),
        "--max-cycles", "2",
    )  # fmt: skip
    assert code == 4, err  # triage has no max_cycles of its own: --max-cycles applies
    assert "stopped after 2 cycles" in err
    parent, child, _ = (request.json for request in server.requests)
    assert "activate_skill" in offered(parent) and "activate_skill" in offered(child)
    assert "refunds" in child["messages"][0]["content"]


def test_the_run_budget_counts_the_child_runs(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.enqueue(
        ChatReply(
            tool_calls=[ServerToolCall("researcher", {"task_description": "check"})],
            usage=usage(60, 10),
        ),
        ChatReply(
            tool_calls=[ServerToolCall("read_file", {"path": "orders.txt"})], usage=usage(60, 10)
        ),
    )
    code, _, err = run(
        capsys,
        "--agents", str(write(tmp_path, TEAM)), "--settings-file", str(settings_file),
        "--workspace", str(workspace), "--max-total-tokens", "100",
    )  # fmt: skip
    assert code == 1, err
    lines = err.splitlines()
    assert "    [researcher] ended failed (budget_exhausted)" in lines
    assert lines[-2].startswith("agentcycle: run failed: budget_exhausted:")
    assert lines[-1].startswith("failed · ")
    assert len(server.requests) == 2  # the child's call crossed the run's budget


def test_sub_agents_take_tasks_from_create_sub_task(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    team = """
agents:
  lead:
    instructions: Delegate.
    sub_agents: [researcher]
  researcher:
    description: Reads the workspace.
    instructions: Look things up.
    model: back
"""
    server.enqueue(
        call("create_sub_task", {"agent_id": "researcher", "task_description": "Check order 7."}),
        call("read_file", {"path": "orders.txt"}),
        finish("Order 7 was paid twice."),
        finish("The researcher found order 7 paid twice."),
    )
    code, out, err = run(
        capsys,
        "--agents", str(write(tmp_path, team)), "--settings-file", str(settings_file),
        "--workspace", str(workspace),
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == "The researcher found order 7 paid twice."
    assert '    [researcher] -> read_file({"path": "orders.txt"})' in err.splitlines()
    parent, child, _, last = (request.json for request in server.requests)
    assert {"create_sub_task", "sub_task_status"} <= offered(parent)
    assert "researcher" in json.dumps(parent["tools"])  # the model is told its sub-agents
    assert child["model"] == "served-back" and parent["model"] == "served-front"
    assert "Check order 7." in child["messages"][-1]["content"]
    assert "Order 7 was paid twice." in last["messages"][-1]["content"]


def test_a_resumed_team_run_keeps_its_sampling_flags_for_the_agent_in_control(
    server: OpenAICompatServer,
    settings_file: Path,
    workspace: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Billing takes over, asks the user and the run waits; resumed, billing goes on with the
    # sampling flags the run was started with (resume takes none of its own).
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    team = ("--agents", str(write(tmp_path, TEAM)), "--settings-file", str(settings_file),
            "--workspace", str(workspace), "--store", url)  # fmt: skip
    server.enqueue(
        call("transfer_to_billing", {"input": "Charged twice for order 7."}),
        call("ask_user", {"question": "Which of the two payments should I refund?"}),
    )
    code, _, err = run(capsys, *team, "--temperature", "0.25", "--top-p", "0.5")
    assert code == 3, err  # waiting for the user
    run_id = err.split("agentcycle: run ", 1)[1].split()[0]
    server.enqueue(finish("Refunded the second payment."))
    code, out, err = run(capsys, "resume", run_id, *team, prompt="The second one.")
    assert code == 0, err
    assert out.strip() == "Refunded the second payment."
    bodies = [request.json for request in server.requests]
    assert [b["model"] for b in bodies] == ["served-front", "served-back", "served-back"]
    assert [(b["temperature"], b["top_p"]) for b in bodies] == [(0.25, 0.5)] * 3
    assert bodies[2]["messages"][-1]["content"] == "The second one."
