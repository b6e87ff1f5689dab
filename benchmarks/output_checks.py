"""What output handling and guardrails cost per run, with an instant scripted model.

Each run is one cycle that finishes with ``task_finish`` (typed where the variant has an
``output_type``). Variants: ``plain`` (no
options), ``guardrails`` (one passing input and one passing output guardrail), ``typed``
(``output_type`` only: the typed ``task_finish`` and the coercion step), ``validator`` (typed,
plus an accepting validator), ``repair`` (typed; the validator rejects once and one repair call
fixes the answer: one extra model call). Prints the best mean µs per run over ``--repeat``
rounds, in wall time and process CPU time, and each variant's extra cost over its baseline
(``plain`` for the first two, ``typed`` for the others).

Run: ``.venv/bin/python benchmarks/output_checks.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from agentcycle import Agent, GuardrailContext, OutputContext, OutputRepair, Reject, Runner
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool, reply


class Verdict(BaseModel):
    approved: bool


PLAIN = call_tool("task_finish", {"message": "m"})
FINISH = call_tool("task_finish", {"message": "m", "output": {"approved": True}})
REJECTED = call_tool("task_finish", {"message": "m", "output": {"approved": False}})
REPAIRED = reply('{"approved": true}')


def _pass_guard(ctx: GuardrailContext, value: Any) -> None:
    return None


def _accept(ctx: OutputContext, output: Verdict) -> Reject | None:
    return None


def _approved(ctx: OutputContext, output: Verdict) -> Reject | None:
    return None if output.approved else Reject("approve it")


def _repair_script(request: ModelRequest) -> ModelResponse:
    return REPAIRED if request.operation == "output_repair" else REJECTED


def _agent(variant: str) -> Agent:
    if variant == "plain":
        return Agent(model=ScriptedModel(lambda r: PLAIN, record_requests=False))
    if variant == "typed":
        return Agent(
            model=ScriptedModel(lambda r: FINISH, record_requests=False), output_type=Verdict
        )
    if variant == "validator":
        return Agent(
            model=ScriptedModel(lambda r: FINISH, record_requests=False),
            output_type=Verdict,
            output_validator=_accept,
        )
    if variant == "guardrails":
        return Agent(
            model=ScriptedModel(lambda r: PLAIN, record_requests=False),
            input_guardrails=[_pass_guard],
            output_guardrails=[_pass_guard],
        )
    return Agent(
        model=ScriptedModel(_repair_script, record_requests=False),
        output_type=Verdict,
        output_validator=_approved,
        output_repair=OutputRepair(),
    )


VARIANTS = ("plain", "guardrails", "typed", "validator", "repair")
BASELINE = {"guardrails": "plain", "typed": "plain", "validator": "typed", "repair": "typed"}
"""What each variant's extra cost is measured against."""


async def _measure(agent: Agent, runs: int) -> tuple[float, float]:
    for _ in range(20):  # warm caches (adapters, tools, imports)
        await Runner.run(agent, "go")
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(runs):
        result = await Runner.run(agent, "go")
        assert result.completed, result.error
    return (
        (time.perf_counter() - wall) / runs * 1e6,
        (time.process_time() - cpu) / runs * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best is shown")
    args = parser.parse_args()
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeat):
        for variant in VARIANTS:  # interleaved, so machine load hits every variant alike
            wall, cpu = asyncio.run(_measure(_agent(variant), args.runs))
            old = best.get(variant)
            best[variant] = (wall, cpu) if old is None else (min(old[0], wall), min(old[1], cpu))
    show: Callable[[float], str] = lambda v: f"{v:9.1f}"  # noqa: E731
    print(f"{'variant':<11} {'wall µs':>9} {'CPU µs':>9} {'+wall':>9} {'+CPU':>9}  over")
    for variant in VARIANTS:
        wall, cpu = best[variant]
        base = BASELINE.get(variant)
        extra = ""
        if base is not None:
            base_wall, base_cpu = best[base]
            extra = f"{show(wall - base_wall)} {show(cpu - base_cpu)}  {base}"
        print(f"{variant:<11} {show(wall)} {show(cpu)} {extra}")


if __name__ == "__main__":
    main()
