"""Output validation and repair: the fixed order (guardrail, coercion, validator, one repair,
re-coercion and re-validation, session write, terminal event), the failures it ends in, and
the repair call metered like any model call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from agentcycle import (
    Agent,
    GuardrailContext,
    ModelSettings,
    OutputContext,
    OutputRepair,
    Reject,
    RunBudget,
    RunConfig,
    Runner,
    StaticPriceTable,
    Tripwire,
)
from agentcycle.errors import ConfigurationError, ModelError
from agentcycle.events import (
    TERMINAL_EVENT_TYPES,
    CompletionReason,
    ModelCallCompleted,
    ModelCallFailed,
    ModelCallStarted,
    OutputRejected,
    RunEvent,
    RunStatus,
    parse_event,
)
from agentcycle.messages import TokenUsage
from agentcycle.pricing import ModelPrice
from agentcycle.result import RunResult
from agentcycle.sessions.memory import MemorySession
from agentcycle.testing import ScriptedModel, call_tool, reply


class Verdict(BaseModel):
    approved: bool
    reason: str


def approved_only(ctx: OutputContext, output: Verdict) -> Reject | None:
    if output.approved:
        return None
    return Reject("Only approvals may leave this agent.", code="not_approved")


async def run_collecting(
    agent: Agent, config: RunConfig | None = None, input: str = "review order 7"
) -> tuple[RunResult, list[RunEvent]]:
    handle = await Runner.start(agent, input, config=config)
    result = await handle.result()
    events = [event async for event in handle.events()]
    for event in events:  # every emitted event survives its wire form
        assert parse_event(json.loads(json.dumps(event.to_dict()))) == event
    assert sum(e.type in TERMINAL_EVENT_TYPES for e in events) == 1
    assert events[-1].type in TERMINAL_EVENT_TYPES
    return result, events


def types_after(events: list[RunEvent], first: str) -> list[str]:
    kinds = [e.type for e in events]
    return kinds[kinds.index(first) :]


async def test_the_output_goes_through_the_fixed_order() -> None:
    seen: list[tuple[str, Any]] = []

    def guard(ctx: GuardrailContext, value: Any) -> None:
        seen.append(("guardrail", value))

    async def validator(ctx: OutputContext, output: Verdict) -> Reject | None:
        seen.append(("validator", (output, ctx.repaired)))
        return approved_only(ctx, output)

    model = ScriptedModel(
        [
            reply('{"approved": false, "reason": "stock"}'),
            reply('```json\n{"approved": true, "reason": "stock found"}\n```'),
        ]
    )
    session = MemorySession("s1")
    agent = Agent(
        model=model,
        output_type=Verdict,
        no_tool_policy="finish",
        output_guardrails=[guard],
        output_validator=validator,
        output_repair=OutputRepair(),
    )
    result, events = await run_collecting(agent, RunConfig(session=session))

    assert result.status is RunStatus.COMPLETED
    assert result.final_output == Verdict(approved=True, reason="stock found")
    # The guardrail sees the answer as given, the validator the coerced one, twice.
    assert seen == [
        ("guardrail", '{"approved": false, "reason": "stock"}'),
        ("validator", (Verdict(approved=False, reason="stock"), False)),
        ("validator", (Verdict(approved=True, reason="stock found"), True)),
    ]
    assert types_after(events, "guardrail_checked") == [
        "guardrail_checked",
        "output_rejected",
        "model_call_started",
        "model_call_completed",
        "session_persisted",
        "run_completed",
    ]
    rejected = next(e for e in events if isinstance(e, OutputRejected))
    assert (rejected.error_code, rejected.repaired) == ("not_approved", False)
    repair_call = [e for e in events if isinstance(e, ModelCallStarted)][-1]
    assert repair_call.operation == "output_repair"
    assert [c.operation for c in result.model_calls] == ["agent_cycle", "output_repair"]
    # The repair call offers no tools and shows the model the rejection.
    request = model.requests[1].request
    assert request.tools == () and request.operation == "output_repair"
    prompt = request.messages[-1].content
    assert "review order 7" in prompt and "Only approvals" in prompt and "not_approved" in prompt
    assert '"approved"' in request.messages[0].content  # the output type's schema
    # The session holds the conversation as the model gave it; the run returns the repair.
    stored = await session.get_items()
    assert stored[-1].content == '{"approved": false, "reason": "stock"}'
    completed = events[-1].to_dict()
    assert completed["final_output"] == {"approved": True, "reason": "stock found"}


async def test_without_a_validator_nothing_changes() -> None:
    model = ScriptedModel([call_tool("task_finish", {"message": "done"})])
    result, events = await run_collecting(Agent(model=model))
    assert result.final_output == "done"
    assert not any(e.type in ("output_rejected", "guardrail_checked") for e in events)
    assert [c.operation for c in result.model_calls] == ["agent_cycle"]


async def test_a_typed_task_finish_is_validated_without_a_repair_when_accepted() -> None:
    output = {"approved": True, "reason": "ok"}
    model = ScriptedModel([call_tool("task_finish", {"message": "m", "output": output})])
    agent = Agent(model=model, output_type=Verdict, output_validator=approved_only)
    result, events = await run_collecting(agent)
    assert result.final_output == Verdict(approved=True, reason="ok")
    assert model.calls == 1 and not any(e.type == "output_rejected" for e in events)


async def test_a_validator_that_raises_fails_the_run_without_a_repair() -> None:
    def broken(ctx: OutputContext, output: Any) -> Reject | None:
        raise KeyError("rules")

    model = ScriptedModel([reply("the answer"), reply("never asked")])
    session = MemorySession("s2")
    agent = Agent(
        model=model, no_tool_policy="finish", output_validator=broken, output_repair=OutputRepair()
    )
    result, events = await run_collecting(agent, RunConfig(session=session))
    assert result.status is RunStatus.FAILED
    assert result.completion_reason is CompletionReason.FAILED
    assert result.error is not None and result.error["code"] == "output_validator_failed"
    assert result.error["details"]["error_type"] == "KeyError"
    assert result.partial_output == "the answer"
    assert model.calls == 1  # no repair for a broken validator
    assert not any(e.type == "session_persisted" for e in events)
    assert await session.get_items() == []
    assert events[-1].to_dict()["error_code"] == "output_validator_failed"


async def test_a_validator_returning_something_else_is_a_validator_failure() -> None:
    model = ScriptedModel([reply("the answer")])
    agent = Agent(model=model, no_tool_policy="finish", output_validator=lambda ctx, out: False)
    result, _ = await run_collecting(agent)
    assert result.error is not None and result.error["code"] == "output_validator_failed"
    assert "not Reject or None" in result.error["message"]


async def test_a_rejection_without_a_repair_fails_with_the_candidate() -> None:
    output = {"approved": False, "reason": "no stock"}
    model = ScriptedModel([call_tool("task_finish", {"message": "m", "output": output})])
    agent = Agent(model=model, output_type=Verdict, output_validator=approved_only)
    result, events = await run_collecting(agent)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "output_validation_failed"
    assert result.error["details"]["code"] == "not_approved"
    assert json.loads(result.partial_output or "") == output
    assert types_after(events, "output_rejected") == ["output_rejected", "run_failed"]
    assert json.loads(events[-1].to_dict()["partial_output"]) == output


async def test_a_repair_that_fails_leaves_the_output_rejected() -> None:
    model = ScriptedModel(
        [
            reply('{"approved": false, "reason": "r"}'),
            ModelError("overloaded", code="provider_overloaded"),
        ]
    )
    agent = Agent(
        model=model,
        output_type=Verdict,
        no_tool_policy="finish",
        output_validator=approved_only,
        output_repair=OutputRepair(),
    )
    result, events = await run_collecting(agent)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "output_validation_failed"
    assert result.error["details"]["repair_error"]["code"] == "provider_overloaded"
    assert result.partial_output == '{"approved": false, "reason": "r"}'
    failed = [e for e in events if isinstance(e, ModelCallFailed)]
    assert [(e.operation, e.error_code) for e in failed] == [
        ("output_repair", "provider_overloaded")
    ]
    assert types_after(events, "output_rejected") == [
        "output_rejected",
        "model_call_started",
        "model_call_failed",
        "run_failed",
    ]


async def test_a_repaired_output_still_rejected_fails_with_the_repaired_candidate() -> None:
    model = ScriptedModel([reply("not json at all"), reply('{"approved": false, "reason": "x"}')])
    agent = Agent(
        model=model,
        output_type=Verdict,
        no_tool_policy="finish",
        output_validator=approved_only,
        output_repair=OutputRepair(),
    )
    result, events = await run_collecting(agent)
    assert result.error is not None and result.error["code"] == "output_validation_failed"
    assert result.error["details"]["code"] == "not_approved"
    assert result.partial_output == '{"approved": false, "reason": "x"}'
    rejections = [(e.error_code, e.repaired) for e in events if isinstance(e, OutputRejected)]
    assert rejections == [("invalid_final_output", False), ("not_approved", True)]
    assert model.calls == 2  # at most one repair


async def test_a_repair_under_a_spent_budget_ends_with_the_budget_outcome() -> None:
    model = ScriptedModel(
        [
            reply('{"approved": false, "reason": "r"}', usage=TokenUsage.of(100, 20)),
            reply('{"approved": true, "reason": "r"}'),
        ]
    )
    agent = Agent(
        model=model,
        output_type=Verdict,
        no_tool_policy="finish",
        output_validator=approved_only,
        output_repair=OutputRepair(),
    )
    config = RunConfig(budget=RunBudget(max_total_tokens=100))
    result, events = await run_collecting(agent, config)
    assert result.status is RunStatus.FAILED
    assert result.completion_reason is CompletionReason.BUDGET_EXHAUSTED
    assert result.error is not None and result.error["code"] == "budget_exhausted"
    assert model.calls == 1  # the repair was not made
    assert types_after(events, "output_rejected") == [
        "output_rejected",
        "budget_exhausted",
        "run_failed",
    ]


async def test_the_repair_is_metered_and_priced_like_any_model_call() -> None:
    model = ScriptedModel(
        [
            reply("draft", usage=TokenUsage.of(100, 20)),
            reply("final: source A", usage=TokenUsage.of(50, 10)),
        ]
    )

    def cites(ctx: OutputContext, output: str) -> Reject | None:
        return None if "source" in output else Reject("Cite a source.")

    prices = StaticPriceTable(
        {model.name: ModelPrice(input_per_million=1.0, output_per_million=2.0)}
    )
    agent = Agent(
        model=model, no_tool_policy="finish", output_validator=cites, output_repair=OutputRepair()
    )
    result, events = await run_collecting(
        agent, RunConfig(price_table=prices, budget=RunBudget(max_total_tokens=1000))
    )
    assert result.final_output == "final: source A"
    assert result.usage.total_tokens == 180
    repair = [e for e in events if isinstance(e, ModelCallCompleted)][-1]
    assert repair.operation == "output_repair" and repair.usage.cost_usd is not None
    assert result.usage.cost_usd == pytest.approx((150 * 1.0 + 30 * 2.0) / 1e6)


async def test_a_repair_uses_its_own_model_and_settings() -> None:
    main = ScriptedModel([reply("draft")], name="main-model")
    fixer = ScriptedModel([reply("fixed with source")], name="fixer-model")

    def cites(ctx: OutputContext, output: str) -> Reject | None:
        return None if "source" in output else Reject("Cite a source.")

    repair = OutputRepair(
        model=fixer,
        model_settings=ModelSettings(temperature=0.0),
        instructions="Fix it.",
        max_tokens=321,
    )
    agent = Agent(model=main, no_tool_policy="finish", output_validator=cites, output_repair=repair)
    result, events = await run_collecting(agent)
    assert result.final_output == "fixed with source"
    assert main.calls == 1 and fixer.calls == 1
    request = fixer.requests[0].request
    assert request.settings.temperature == 0.0 and request.settings.max_tokens == 321
    assert request.messages[0].content == "Fix it."
    started = [e for e in events if isinstance(e, ModelCallStarted)][-1]
    assert started.model == "fixer-model"


async def test_a_text_answer_is_coerced_into_the_output_type() -> None:
    model = ScriptedModel([reply('{"approved": true, "reason": "fine"}')])
    agent = Agent(model=model, output_type=Verdict, no_tool_policy="finish")
    result, _ = await run_collecting(agent)
    assert result.final_output == Verdict(approved=True, reason="fine")


async def test_a_text_answer_that_does_not_coerce_fails_without_a_repair() -> None:
    model = ScriptedModel([reply("approved, I think")])
    agent = Agent(model=model, output_type=Verdict, no_tool_policy="finish")
    result, _ = await run_collecting(agent)
    assert result.error is not None and result.error["code"] == "output_validation_failed"
    assert result.error["details"]["code"] == "invalid_final_output"
    assert result.partial_output == "approved, I think"


async def test_an_output_guardrail_comes_before_the_validator() -> None:
    called: list[str] = []

    def validator(ctx: OutputContext, output: Any) -> Reject | None:
        called.append("validator")
        return None

    model = ScriptedModel([reply("the secret is 42")])
    agent = Agent(
        model=model,
        no_tool_policy="finish",
        output_guardrails=[lambda ctx, out: Tripwire("leak") if "secret" in out else None],
        output_validator=validator,
    )
    result, _ = await run_collecting(agent)
    assert result.completion_reason is CompletionReason.GUARDRAIL_TRIPPED
    assert called == []


def _events_of(result_events: list[RunEvent]) -> list[str]:
    return [e.type for e in result_events if not e.type.startswith("checkpoint_")]


def _repairing_agent() -> Agent:
    model = ScriptedModel([reply("draft"), reply("with source")])
    return Agent(
        model=model,
        no_tool_policy="finish",
        output_validator=lambda ctx, out: None if "source" in out else Reject("Cite."),
        output_repair=OutputRepair(),
    )


async def test_streaming_durable_and_plain_runs_see_the_same_events(tmp_path: Path) -> None:
    _, plain = await run_collecting(_repairing_agent())
    streamed = [e async for e in Runner.stream(_repairing_agent(), "review order 7")]
    config = RunConfig(checkpoint_store=f"sqlite:///{tmp_path / 'runs.db'}")
    durable_result, durable = await run_collecting(_repairing_agent(), config)
    assert durable_result.final_output == "with source"
    assert [e.type for e in streamed] == [e.type for e in plain]
    assert _events_of(durable) == _events_of(plain)


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="output_validator"):
        Agent(output_validator="strict")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="output_repair"):
        Agent(output_repair="again")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="something that can reject"):
        Agent(output_repair=OutputRepair())
    with pytest.raises(ConfigurationError, match="max_tokens"):
        OutputRepair(max_tokens=0)
    with pytest.raises(ConfigurationError, match="code"):
        Reject("no", code="")


async def test_after_a_handoff_the_targets_output_policy_judges_the_answer() -> None:
    def cites(ctx: OutputContext, output: str) -> Reject | None:
        assert ctx.agent_name == "billing"
        return None if "source" in output else Reject("Cite a source.", code="no_source")

    billing = Agent(
        name="billing",
        model=ScriptedModel([reply("Refunded.")]),
        no_tool_policy="finish",
        output_validator=cites,
    )
    triage = Agent(
        name="triage",
        model=ScriptedModel([call_tool("transfer_to_billing", {"input": "refund A-17"})]),
        handoffs=[billing],
    )
    result, _ = await run_collecting(triage)
    assert result.agent_name == "billing"
    assert result.error is not None and result.error["details"]["code"] == "no_source"


async def test_a_threaded_run_repairs_the_same_way() -> None:
    result, events = await run_collecting(_repairing_agent(), RunConfig(execution="thread"))
    _, plain = await run_collecting(_repairing_agent())
    assert result.final_output == "with source"
    assert [e.type for e in events] == [e.type for e in plain]
