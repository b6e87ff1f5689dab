"""Every numbered example runs offline and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EXPECTED = {
    "01_hello.py": "completed - Hello from agentcycle!",
    "02_function_tools.py": "order 456: processing (follow up: True)",
    "03_streaming_events.py": "run completed: Plan done.",
    "04_ask_user.py": "waiting for the user: Deploy to which environment?",
    "05_session.py": "second run remembered: Your name is Ada.",
    "06_hooks.py": "cycle 2: refund -> Refunded 50 to order 123 on card **** 1234.",
    "07_skills.py": "deploy while the skill is active: tool_not_allowed",
    "08_memory_provider.py": "new conversation recalled: Invoices are exported as CSV",
    "09_agent_as_tool.py": "tokens: 458 in all, 140 by the researcher",
    "10_handoff.py": "Billing finished: Refunded order A-17.",
    "11_sub_tasks.py": "after waiting: researcher-1 completed, researcher-2 completed, "
    "researcher-3 completed",
    "12_app_server_host.py": "turn completed: Counted them.",
    "13_mcp_tools.py": "notes__lookup -> Deploys go out on Tuesdays after the 10:00 stand-up.",
    "14_sandbox.py": "Read-only file system\nread .env: ok: 0\nnetwork: failed",
    "15_output_validation.py": "repaired verdict: A-17 approved=True",
    "16_guardrails.py": "events: assistant_message -> guardrail_checked -> guardrail_tripped "
    "-> run_failed",
    "17_prompt_bundles.py": "resumed with the same bundle: True -> Approved.",
    "18_interactive_session.py": "follow-up answered: You asked me to skip db, cache.",
    "19_durable_resume.py": "resumed here: completed - Invoice A-17 sent and checked.\n"
    "invoices sent: ['A-17']\n33 events, seq contiguous: True",
}


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("[0-9][0-9]_*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert EXPECTED[name] in proc.stdout
