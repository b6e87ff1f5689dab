"""The guardrail and output parts of a compiled run: the input guardrails' verdicts (taken
before any model is resolved), the stand-in model of a run they blocked, and each agent's
output policy (output guardrails, ``output_type`` adapter, validator, resolved repair)."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter

from agentcycle.agent import Agent
from agentcycle.assembly._resolution import (
    first_set,
    layered_guardrails,
    model_price,
    resolve_reference,
)
from agentcycle.guardrails import GuardrailContext
from agentcycle.models.base import Model, ModelInfo, ModelRef, ModelSettings
from agentcycle.models.provider import ProvidedModel
from agentcycle.outputs import OutputRepair
from agentcycle.run_config import RunConfig
from agentcycle.runtime._guardrails import GuardrailCheck, UnresolvedModel, run_guardrails
from agentcycle.runtime.environment import NO_OUTPUT_CHECKS, OutputPolicy, RepairCall


async def check_input(
    agent: Agent, config: RunConfig, run_id: str, run_input: Any, language: str
) -> tuple[GuardrailCheck, ...]:
    """The input guardrails' verdicts on the run's input (the agent's, then the config's)."""
    guardrails = layered_guardrails(agent.input_guardrails, config.input_guardrails)
    if not guardrails:
        return ()
    ctx = GuardrailContext(
        run_id=run_id,
        agent_name=agent.name,
        stage="input",
        context=config.context,
        language=language,
    )
    return await run_guardrails(guardrails, ctx, run_input)


def unresolved_model(agent: Agent, config: RunConfig) -> ProvidedModel:
    """The model of a run an input guardrail blocked, named as the agent (or config) names
    it, never resolved."""
    chosen = first_set(config.model, agent.model, "")
    if isinstance(chosen, ModelRef):
        name, backend = chosen.model, chosen.backend_name
    elif isinstance(chosen, str):
        name, backend = chosen or "unresolved", None
    else:
        name, backend = chosen.name, chosen.backend
    return ProvidedModel(
        model=UnresolvedModel(name, backend), info=ModelInfo(), settings=ModelSettings()
    )


def output_policy(agent: Agent, config: RunConfig, models: list[Model]) -> OutputPolicy:
    """What the agent does with its final output (``agentcycle.outputs``). A repair model is
    added to ``models`` (the run tree's, closed with it)."""
    guardrails = layered_guardrails(agent.output_guardrails, config.output_guardrails)
    output_type = agent.output_type
    adapter = None if output_type is None or output_type is str else _adapter(output_type)
    validator = agent.output_validator
    if not guardrails and adapter is None and validator is None:
        return NO_OUTPUT_CHECKS
    repair = agent.output_repair
    return OutputPolicy(
        guardrails=guardrails,
        adapter=adapter,
        validator=validator,
        repair=_repair_call(repair, config, models) if repair is not None else None,
    )


def _adapter(output_type: Any) -> TypeAdapter[Any]:
    try:
        return _cached_adapter(output_type)
    except TypeError:  # an unhashable type: built per run
        return TypeAdapter(output_type)


@functools.lru_cache(maxsize=64)
def _cached_adapter(output_type: Any) -> TypeAdapter[Any]:
    # Building an adapter costs about a millisecond for a small model; types are constants.
    return TypeAdapter(output_type)


def _repair_call(repair: OutputRepair, config: RunConfig, models: list[Model]) -> RepairCall:
    """The repair, with its own model resolved like the agent's (``None``: the agent's)."""
    if repair.model is None:
        return RepairCall(
            model=None,
            settings=repair.model_settings or ModelSettings(),
            price=None,
            instructions=repair.instructions,
            max_tokens=repair.max_tokens,
        )
    provided = resolve_reference(repair.model, config)
    if not any(model is provided.model for model in models):
        models.append(provided.model)
    return RepairCall(
        model=provided.model,
        settings=provided.settings.merge(repair.model_settings),
        price=model_price(config, provided),
        instructions=repair.instructions,
        max_tokens=repair.max_tokens,
    )
