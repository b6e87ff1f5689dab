"""The CLI as a subprocess with no settings file and no key: the offline demo backend."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from tests._cli import run_cli

from agentcycle.cli import build_parser, build_resume_parser


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "README.md").write_text("# Sample project\n\nA tiny project.\n")
    (tmp_path / "main.py").write_text("print('hello')\n")
    return tmp_path


def test_without_settings_the_demo_runs_and_shows_its_tool_calls(workspace: Path) -> None:
    proc = run_cli("--prompt", "Summarise this project", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert "offline demo model" in proc.stderr
    for call in ("todo_write", "find_files", "read_file", "write_file", "task_finish"):
        assert f"-> {call}(" in proc.stderr, call
    assert "fixed plan" in proc.stdout and "openai:gpt-4.1-mini" in proc.stdout
    report = (workspace / "REPORT.md").read_text()
    assert "Request: Summarise this project" in report
    assert "- `README.md`" in report and "- `main.py`" in report
    assert "**Sample project**" in report and "> A tiny project." in report
    assert "### `main.py` (1 line)\n" in report
    assert "- `README.md` (" in report and "REPORT.md" not in report.split("## Key files")[0]


def test_a_second_demo_run_reads_and_replaces_its_report(workspace: Path) -> None:
    first = run_cli("-p", "summarise", "--backend", "demo", cwd=workspace)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(
        "Wrote REPORT.md: I listed 2 top-level entries and read README.md, main.py. "
    )
    earlier_lines = len((workspace / "REPORT.md").read_text().splitlines())
    proc = run_cli("-p", "report again", "--backend", "demo", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert '-> read_file({"path": "REPORT.md"})' in proc.stderr
    assert "failed" not in proc.stderr
    # The final message says what this run did: it read the earlier report and replaced it.
    assert proc.stdout.startswith(
        "Replaced REPORT.md with a new report: I listed 3 top-level entries and read "
        "README.md, main.py and the earlier REPORT.md. "
    )
    report = (workspace / "REPORT.md").read_text()
    assert "Request: report again" in report
    # The earlier report is in the listing, said to be what it is, and its reading is told.
    assert "- `REPORT.md` (" in report and "this report as an earlier run wrote it)" in report
    assert (
        f"\nAlso read: the earlier `REPORT.md` ({earlier_lines} lines), which this report "
        "replaces.\n\n---\n" in report
    )


def test_folders_are_marked_in_the_layout(workspace: Path) -> None:
    (workspace / "src").mkdir()
    (workspace / "src" / "app.py").write_text("x = 1\n")
    assert run_cli("-p", "summarise", "--backend", "demo", cwd=workspace).returncode == 0
    report = (workspace / "REPORT.md").read_text()
    assert "- `src/`\n" in report and "(1 folder, 2 files)" in report


def test_dependency_and_build_folders_are_named_not_passed_over(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# App\n")
    for heavy in ("node_modules/left-pad", "build", ".github"):
        (tmp_path / heavy).mkdir(parents=True)
        (tmp_path / heavy / "x.js").write_text("x\n")
    proc = run_cli("-p", "Summarise this project", "--backend", "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "I listed 1 top-level entry and read README.md." in proc.stdout
    report = (tmp_path / "REPORT.md").read_text()
    assert "Top level: 1 entry (0 folders, 1 file)." in report
    assert (
        "Not looked into (version control, dependencies, caches, build output): `build`, "
        "`node_modules`.\n" in report
    )


def test_a_request_the_demo_cannot_do_is_declined_plainly(workspace: Path) -> None:
    proc = run_cli("-p", "create hello.txt", "--backend", "demo", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    assert "cannot do “create hello.txt”" in proc.stdout
    assert not (workspace / "REPORT.md").exists() and not (workspace / "hello.txt").exists()


def test_an_empty_folder_gets_a_report(tmp_path: Path) -> None:
    proc = run_cli("-p", "Summarise this project", "--backend", "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Wrote REPORT.md: I found the workspace empty. ")
    assert "The workspace is empty" in (tmp_path / "REPORT.md").read_text()
    again = run_cli("-p", "Summarise this project", "--backend", "demo", cwd=tmp_path)
    assert again.returncode == 0 and "failed" not in again.stderr
    assert again.stdout.startswith(
        "Replaced REPORT.md with a new report: I listed 1 top-level entry and read the "
        "earlier REPORT.md. "
    )
    report = (tmp_path / "REPORT.md").read_text()
    assert "No text files to read at the top of the workspace.\n\nAlso read: the earlier" in report


def test_the_report_quotes_the_projects_own_name_from_its_manifest(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "widget"\nversion = "2.1"\n\n'
        '[[tool.importlinter.contracts]]\nname = "widget layers"\n'
    )
    proc = run_cli("-p", "Summarise this project", "--backend", "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = (tmp_path / "REPORT.md").read_text()
    assert 'name = "widget"' in report and 'version = "2.1"' in report
    assert "widget layers" not in report


def test_a_folder_too_large_to_list_at_once(tmp_path: Path) -> None:
    for index in range(1_500):
        (tmp_path / f"note_{index:04d}.txt").write_text(f"note {index}\n")
    for attempt in ("first", "second"):
        proc = run_cli("-p", "Summarise this project", "--backend", "demo", cwd=tmp_path)
        assert proc.returncode == 0 and "failed" not in proc.stderr, (attempt, proc.stderr)
    report = (tmp_path / "REPORT.md").read_text()
    assert "Top level: at least" in report and "### `note_0000.txt` (1 line)\n" in report
    assert "- … and more\n" in report and "more more" not in report


def test_a_missing_workspace_folder_is_created_and_reported(tmp_path: Path) -> None:
    proc = run_cli("-p", "summarise", "--workspace", "ws/new", "--backend", "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "created the workspace folder ws/new" in proc.stderr
    assert (tmp_path / "ws" / "new" / "REPORT.md").is_file()


def test_json_output_reports_status_and_resolution(workspace: Path) -> None:
    proc = run_cli("--prompt", "hi", "--backend", "demo", "--json", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "completed"
    assert data["completion_reason"] == "tool_finish"
    assert data["resolved"] == {"backend": "demo", "model": "demo-planner", "endpoint": None}
    assert data["cycles"] >= 2
    assert data["agent_name"] == "agentcycle"
    assert data["run_id"].startswith("run_")
    assert data["pending_approvals"] == [] and data["error"] is None
    assert set(data) == {
        "status",
        "agent_name",
        "final_output",
        "completion_reason",
        "cycles",
        "usage",
        "resolved",
        "run_id",
        "pending_approvals",
        "error",
    }


def test_json_names_the_approvals_a_run_waits_for(workspace: Path) -> None:
    proc = run_cli("-p", "summarise", "--backend", "demo", "--approval", "always", "--json",
                   cwd=workspace)  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    data = json.loads(proc.stdout)
    assert data["status"] == "wait_user"
    (pending,) = data["pending_approvals"]
    assert pending["tool_name"] == "find_files" and pending["request_id"].startswith("apr_")


def test_json_is_one_object_for_configuration_errors_too(workspace: Path) -> None:
    proc = run_cli("-p", "hi", "--model", "anthropic:claude", "--json", cwd=workspace)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["status"] == "failed" and data["run_id"] is None
    assert data["error"]["code"] == "missing_api_key"
    assert "ANTHROPIC_API_KEY" in data["error"]["message"]


def test_events_are_json_lines_on_stdout(workspace: Path) -> None:
    proc = run_cli("--prompt", "hi", "--backend", "demo", "--events", cwd=workspace)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types[-1] == "run_completed"
    assert "assistant_delta" in types and "tool_call_started" in types
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_tool_results_are_previewed_and_the_run_summed_up(workspace: Path) -> None:
    proc = run_cli("-p", "summarise", "--backend", "demo", cwd=workspace)
    lines = proc.stderr.splitlines()
    listing = lines.index('  -> find_files({"path": ".", "glob": "*", "max_results": 200})')
    assert lines[listing + 1] == "     = 2 entries"
    assert "     = README.md: 3 lines" in lines
    assert re.fullmatch(r"completed · 6 cycles · \d+\.\d s", lines[-1])
    assert "\x1b[" not in proc.stderr  # piped: plain text


def test_version_and_an_empty_prompt(workspace: Path) -> None:
    version = run_cli("--version", cwd=workspace)
    assert version.returncode == 0 and version.stdout.startswith("agentcycle 0.")
    empty = run_cli("-p", " ", cwd=workspace)
    assert empty.returncode == 2 and "the prompt is empty" in empty.stderr


def test_max_cycles_exit_code(workspace: Path) -> None:
    proc = run_cli("--prompt", "hi", "--backend", "demo", "--max-cycles", "1", cwd=workspace)
    assert proc.returncode == 4
    assert "stopped after 1 cycle without finishing" in proc.stderr


def test_bad_configuration_is_one_line_and_exit_1(workspace: Path) -> None:
    proc = run_cli("--prompt", "hi", "--backend", "openai", cwd=workspace)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0
    assert "no settings file found" in proc.stderr and "agents." not in proc.stderr
    assert "Traceback" not in proc.stderr

    missing = run_cli("--prompt", "hi", "--settings-file", "nope.json", cwd=workspace)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    empty = run_cli("--prompt", "hi", "--settings-file", "", cwd=workspace)
    assert (empty.returncode, empty.stderr) == (1, "agentcycle: --settings-file needs a path\n")

    os.mkfifo(workspace / "fifo.json")  # never opened: a read would wait for a writer
    fifo = run_cli(
        "-p", "hi", "--model", "m", cwd=workspace, env={"AGENTCYCLE_SETTINGS": "fifo.json"}
    )
    assert fifo.returncode == 1
    assert fifo.stderr == (
        f"agentcycle: AGENTCYCLE_SETTINGS names {workspace / 'fifo.json'}, which is a named pipe "
        "(FIFO), not a regular file\n"
    )
    folder = run_cli("-p", "hi", "--settings-file", ".", "--json", cwd=workspace)
    assert folder.returncode == 1
    assert json.loads(folder.stdout)["error"] == {
        "code": "invalid_settings_file",
        "message": f"settings file {workspace} is a directory, not a regular file",
    }

    bad_ws = run_cli("--prompt", "hi", "--workspace", "README.md", cwd=workspace)
    assert bad_ws.returncode == 1 and "not a directory" in bad_ws.stderr


def test_help_lists_the_flags(workspace: Path) -> None:
    proc = run_cli("--help", cwd=workspace)
    assert proc.returncode == 0
    for flag in ("--prompt", "--backend", "--settings-file", "--max-cycles", "--json"):
        assert flag in proc.stdout
    # The other commands are found from the help, not only from the docs.
    for command in ("agentcycle resume", "agentcycle runs", "agentcycle worker", "app-server"):
        assert command in " ".join(proc.stdout.split()), command


def test_the_cli_page_names_every_flag_and_choice() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for action in build_parser()._actions:
        flags = [flag for flag in action.option_strings if flag.startswith("--")]
        if not flags or flags == ["--help"]:
            continue
        assert any(f"`{flag}" in page for flag in flags), flags
        if action.choices is not None:
            assert "|".join(str(choice) for choice in action.choices) in page, flags


def test_every_flag_of_a_run_and_of_resume_says_what_it_does() -> None:
    for parser in (build_parser(), build_resume_parser()):
        for action in parser._actions:
            if action.option_strings:
                assert action.help, action.option_strings


@pytest.mark.parametrize(
    "command", [("-p", "x", "--bogus"), ("resume", "run_x", "--store", "memory:", "--bogus")]
)
def test_json_output_holds_even_for_bad_flags(command: tuple[str, ...], workspace: Path) -> None:
    proc = run_cli(*command, "--json", cwd=workspace)
    assert proc.returncode == 2
    assert json.loads(proc.stdout) == {
        "status": "failed",
        "run_id": None,
        "error": {"code": "usage_error", "message": "unrecognized arguments: --bogus"},
    }
    assert proc.stderr.endswith("error: unrecognized arguments: --bogus\n"), proc.stderr


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0", "must be a whole number of 1 or more, not '0'"),
        ("abc", "must be a whole number of 1 or more, not 'abc'"),
    ],
)
def test_a_cycle_limit_below_one_is_a_usage_error(value: str, says: str, workspace: Path) -> None:
    proc = run_cli("-p", "x", "--max-cycles", value, cwd=workspace)
    assert proc.returncode == 2
    assert proc.stderr.endswith(f"error: argument --max-cycles: {says}\n"), proc.stderr


def test_an_unknown_provider_in_a_model_name_is_named(workspace: Path) -> None:
    proc = run_cli("--prompt", "hi", "--model", "foo:bar", cwd=workspace)
    assert proc.returncode == 1
    assert (
        "for the model name 'foo:bar', and 'foo' is not a provider agentcycle knows "
        "(openai, anthropic, ollama)"
    ) in proc.stderr, proc.stderr
