"""A run that outlives its process: killed with SIGKILL mid-run, finished by another process.

The run keeps its log in a SQLite checkpoint store. A child process starts it and is killed
right after its second cycle is committed (the crash point ``after_commit:2``, the switch the
crash tests use). This process then resumes the run from the store: it waits out the dead
process's short lease, folds the log, and goes on from cycle 3. The invoice tool declares
itself ``non_idempotent``, so it ran once, before the kill, and the event stream carries on
with no gap and no duplicate.

Run: python examples/19_durable_resume.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.runtime.crashpoints import CRASHPOINT_ENV
from agentcycle.runtime.durable import Durability, durable_events
from agentcycle.stores.checkpoint_urls import open_checkpoint_store
from agentcycle.testing import ScriptedModel, call_tool

RUN_ID = "run_invoice_a17"


def build_agent(ledger: Path) -> Agent:
    """The same agent in both processes: send the invoice, note it, then finish."""

    @function_tool(effect_class="non_idempotent", run_in_thread=False)
    def send_invoice(order: str) -> str:
        """Send the invoice for an order (it must not go out twice)."""
        with ledger.open("a") as file:
            file.write(f"{order}\n")
        return f"invoice for {order} sent"

    @function_tool(read_only=True, run_in_thread=False)
    def check_ledger() -> str:
        """Read the sent invoices."""
        return ledger.read_text()

    def step(request: ModelRequest) -> ModelResponse:
        cycle = request.cycle_index or 0
        if cycle == 1:
            return call_tool("send_invoice", {"order": "A-17"})
        if cycle == 2:
            return call_tool("check_ledger", {})
        return call_tool("task_finish", {"message": "Invoice A-17 sent and checked."})

    return Agent(model=ScriptedModel(step), tools=[send_invoice, check_ledger])


def config(store_url: str) -> RunConfig:
    """The run's config: its store, a fixed id, and a short lease (a dead owner's expires in
    a second)."""
    return RunConfig(
        checkpoint_store=store_url, run_id=RUN_ID, durability=Durability(lease_ttl=1.0)
    )


def child(store_url: str, ledger: Path) -> None:
    """Start the run; the crash point kills this process after cycle 2's commit."""
    Runner.run_sync(build_agent(ledger), "Invoice order A-17", config=config(store_url))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store_url = f"sqlite:///{Path(tmp) / 'runs.db'}"
        ledger = Path(tmp) / "ledger.txt"
        ledger.touch()
        env = {**os.environ, CRASHPOINT_ENV: "after_commit:2"}
        killed = subprocess.run(
            [sys.executable, __file__, "--child", store_url, str(ledger)], env=env, check=False
        )
        assert killed.returncode == -signal.SIGKILL
        print("the first process was killed after cycle 2 (SIGKILL)")

        result = asyncio.run(
            Runner.resume_run(build_agent(ledger), RUN_ID, config=config(store_url))
        )
        print(f"resumed here: {result.status.value} - {result.final_output}")
        print("invoices sent:", ledger.read_text().split())

        store = open_checkpoint_store(store_url)
        seqs = [event.seq for event in durable_events(store, RUN_ID)]
        store.close()
        print(f"{len(seqs)} events, seq contiguous: {seqs == list(range(1, len(seqs) + 1))}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], Path(sys.argv[3]))
    else:
        main()
