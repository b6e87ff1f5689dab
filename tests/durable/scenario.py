"""A durable scenario shared by the in-process tests and the crash subprocesses.

Cycle k (1..cycles) calls ``append_line`` (non-idempotent: appends ``Lk`` to ``a.txt``) and
``append_keyed`` (idempotent: appends ``Lk`` to ``b.txt`` unless its idempotency key is in
``b.keys``); then the model finishes. The model decides from the request alone (cycle = the
number of assistant messages + 1) with fixed tool call ids, so a process that resumes the run
answers exactly as the one that died would have; each call is logged to ``model.log``.

    python -m tests.durable.scenario start|resume STORE_URL RUN_ID DIR [CYCLES] [--verify]
        [--hang-at=CYCLE] [--thread]
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agentcycle import Agent, RunConfig, Runner
from agentcycle.messages import AssistantMessage, ToolCall, ToolResult
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.runtime.approvals import ApprovalDecision, ApprovalRequest
from agentcycle.runtime.durable import Durability
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.tools.base import SideEffect, ToolContext

LEASE_TTL = 0.3
_TEXT = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}


class _FileTool:
    """What both scenario tools declare: one ``text`` argument, a write to ``path``."""

    parameters = _TEXT
    side_effect = SideEffect.WRITE
    read_only = False
    needs_approval = False
    timeout_seconds = None

    def __init__(self, path: Path) -> None:
        self.path = path


class AppendLine(_FileTool):
    """Appends a line to a file: acting twice writes it twice (non-idempotent)."""

    name = "append_line"
    description = "Append a line to file a."
    effect_class = "non_idempotent"

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        with self.path.open("a") as f:
            f.write(arguments["text"] + "\n")
        return ToolResult.success("appended")


class VerifyingAppendLine(AppendLine):
    """``AppendLine`` that can tell whether a line was written."""

    def verify(self, key: str, arguments: dict[str, Any]) -> ToolResult | bool:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        return ToolResult.success("appended") if arguments["text"] in lines else False


class AppendKeyed(_FileTool):
    """Appends a line unless its idempotency key was seen (idempotent)."""

    name = "append_keyed"
    description = "Append a line to file b, once per key."
    effect_class = "idempotent"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.keys = path.with_suffix(".keys")
        self.invocations = 0

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        self.invocations += 1
        seen = self.keys.read_text().split() if self.keys.exists() else []
        if ctx.idempotency_key not in seen:
            with self.path.open("a") as f:
                f.write(arguments["text"] + "\n")
            with self.keys.open("a") as f:
                f.write(ctx.idempotency_key + "\n")
        return ToolResult.success("appended")


class HangingAppendKeyed(AppendKeyed):
    """``AppendKeyed`` that, in cycle ``hang_at``, does its work, says ``READY`` on stdout and
    never returns: the test kills the process from outside there."""

    def __init__(self, path: Path, hang_at: int) -> None:
        super().__init__(path)
        self.hang_at = hang_at

    async def invoke(self, ctx: ToolContext, arguments: dict[str, Any]) -> ToolResult:
        result = await super().invoke(ctx, arguments)
        if ctx.cycle_index == self.hang_at:
            print("READY", flush=True)
            await asyncio.Event().wait()
        return result


def model(directory: Path, cycles: int) -> ScriptedModel:
    """The scenario's model (see the module docstring)."""

    def step(request: ModelRequest) -> ModelResponse:
        k = 1 + sum(isinstance(m, AssistantMessage) for m in request.messages)
        with (directory / "model.log").open("a") as f:
            f.write(f"{k}\n")
        if k > cycles:
            return call_tool("task_finish", {"message": f"done after {cycles}"})
        text = json.dumps({"text": f"L{k}"})
        calls = (
            ToolCall(id=f"c{k}_a", name="append_line", arguments=text),
            ToolCall(id=f"c{k}_b", name="append_keyed", arguments=text),
        )
        return ModelResponse(tool_calls=calls, finish_reason="tool_calls")

    return ScriptedModel(step)


class LoggedApprovals:
    """Allows every call, writing its tool call id to ``approvals.log`` first."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "approvals.log"

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        with self.path.open("a") as f:
            f.write(f"{request.tool_call_id}\n")
        return ApprovalDecision.allow()


def agent(
    directory: Path,
    cycles: int,
    *,
    verify: bool = False,
    hang_at: int = 0,
    approve: bool = False,
) -> Agent:
    """The scenario's agent, its files in ``directory``; with ``approve``, ``append_line``
    needs an approval (see ``LoggedApprovals``)."""
    line = (VerifyingAppendLine if verify else AppendLine)(directory / "a.txt")
    if approve:
        line.needs_approval = True  # type: ignore[misc]
    keyed = HangingAppendKeyed(directory / "b.txt", hang_at) if hang_at else None
    return Agent(
        name="durable",
        model=model(directory, cycles),
        tools=[line, keyed or AppendKeyed(directory / "b.txt")],
        max_cycles=cycles + 2,
    )


def config(store: Any, run_id: str | None = None, **fields: Any) -> RunConfig:
    """A durable run config with a short lease (a dead owner's lease expires fast)."""
    return RunConfig(
        checkpoint_store=store,
        run_id=run_id,
        durability=fields.pop("durability", Durability(lease_ttl=LEASE_TTL)),
        **fields,
    )


async def _main(argv: list[str]) -> None:
    mode, url, run_id, directory = argv[:4]
    cycles = int(argv[4]) if len(argv) > 4 and argv[4].isdigit() else 3
    hang = [int(a.split("=")[1]) for a in argv if a.startswith("--hang-at=")]
    approve = "--approve" in argv
    the_agent = agent(
        Path(directory), cycles, verify="--verify" in argv, hang_at=sum(hang), approve=approve
    )
    fields: dict[str, Any] = {"execution": "thread" if "--thread" in argv else "inline"}
    if approve:
        fields["approval_provider"] = LoggedApprovals(Path(directory))
    if mode == "start":
        result = await Runner.run(the_agent, "go", config=config(url, run_id, **fields))
    else:
        result = await Runner.resume_run(the_agent, run_id, config=config(url, **fields))
    print(json.dumps({"status": str(result.status)}))


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:]))
