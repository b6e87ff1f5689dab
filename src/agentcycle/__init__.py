"""agentcycle: an embeddable LLM agent runtime.

A run ends only on an explicit signal — the model calls ``task_finish`` (completed) or
``ask_user`` (waiting for input) — or on an explicit policy, limit, failure or cancellation.

    from agentcycle import Agent, Runner
    from agentcycle.testing import ScriptedModel, call_tool

    agent = Agent(model=ScriptedModel([call_tool("task_finish", {"message": "hi"})]))
    print(Runner.run_sync(agent, "Say hi").final_output)

Public names load on first use so ``import agentcycle`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Agent": "agentcycle.agent",
    "StopAtTools": "agentcycle.agent",
    "Handoff": "agentcycle.handoffs",
    "handoff": "agentcycle.handoffs",
    "agent_in_control": "agentcycle.handoffs",
    "InstructionsContext": "agentcycle.context_providers",
    "Runner": "agentcycle.runner",
    "ChatSession": "agentcycle.chat",
    "SyncChatSession": "agentcycle.chat",
    "RunConfig": "agentcycle.run_config",
    "RunHandle": "agentcycle.handle",
    "SyncRunHandle": "agentcycle.sync_handle",
    "SubmittedRun": "agentcycle.submitted",
    "RunResult": "agentcycle.result",
    "RunState": "agentcycle.state",
    "NoToolPolicy": "agentcycle.state",
    "RunStatus": "agentcycle.events",
    "CompletionReason": "agentcycle.events",
    "RunEvent": "agentcycle.events",
    "Model": "agentcycle.models.base",
    "ModelRef": "agentcycle.models.base",
    "ModelSettings": "agentcycle.models.base",
    "RetrySettings": "agentcycle.models.base",
    "ModelProvider": "agentcycle.models.provider",
    "SettingsModelProvider": "agentcycle.models.provider",
    "Tool": "agentcycle.tools.base",
    "ToolContext": "agentcycle.tools.base",
    "SideEffect": "agentcycle.tools.base",
    "function_tool": "agentcycle.tools.function_tool",
    "ToolResult": "agentcycle.messages",
    "Finish": "agentcycle.messages",
    "AskUser": "agentcycle.messages",
    "HandOff": "agentcycle.messages",
    "ActivateSkill": "agentcycle.messages",
    "AttachImage": "agentcycle.messages",
    "TokenUsage": "agentcycle.messages",
    "AgentcycleError": "agentcycle.errors",
    "BudgetExhaustedError": "agentcycle.errors",
    "RunBudget": "agentcycle.budget",
    "ModelPrice": "agentcycle.pricing",
    "PriceTable": "agentcycle.pricing",
    "StaticPriceTable": "agentcycle.pricing",
    "ToolPolicy": "agentcycle.runtime.policy",
    "ApprovalMode": "agentcycle.runtime.policy",
    "ApprovalDecision": "agentcycle.runtime.approvals",
    "ApprovalRequest": "agentcycle.runtime.approvals",
    "ApprovalProvider": "agentcycle.runtime.approvals",
    "ApprovalRule": "agentcycle.runtime.approval_rules",
    "ApprovalRules": "agentcycle.runtime.approval_rules",
    "RuntimeHook": "agentcycle.hooks",
    "ContextProvider": "agentcycle.context_providers",
    "PromptFragment": "agentcycle.context_providers",
    "SubAgent": "agentcycle.sub_agents",
    "SubTaskInfo": "agentcycle.sub_agents",
    "Guardrail": "agentcycle.guardrails",
    "GuardrailContext": "agentcycle.guardrails",
    "Tripwire": "agentcycle.guardrails",
    "OutputContext": "agentcycle.outputs",
    "OutputRepair": "agentcycle.outputs",
    "Reject": "agentcycle.outputs",
}

__all__ = [
    "ActivateSkill",
    "Agent",
    "AgentcycleError",
    "ApprovalDecision",
    "ApprovalMode",
    "ApprovalProvider",
    "ApprovalRequest",
    "ApprovalRule",
    "ApprovalRules",
    "AskUser",
    "AttachImage",
    "BudgetExhaustedError",
    "ChatSession",
    "CompletionReason",
    "ContextProvider",
    "Finish",
    "Guardrail",
    "GuardrailContext",
    "HandOff",
    "Handoff",
    "InstructionsContext",
    "Model",
    "ModelPrice",
    "ModelProvider",
    "ModelRef",
    "ModelSettings",
    "NoToolPolicy",
    "OutputContext",
    "OutputRepair",
    "PriceTable",
    "PromptFragment",
    "Reject",
    "RetrySettings",
    "RunBudget",
    "RunConfig",
    "RunEvent",
    "RunHandle",
    "RunResult",
    "RunState",
    "RunStatus",
    "Runner",
    "RuntimeHook",
    "SettingsModelProvider",
    "SideEffect",
    "StaticPriceTable",
    "StopAtTools",
    "SubAgent",
    "SubTaskInfo",
    "SubmittedRun",
    "SyncChatSession",
    "SyncRunHandle",
    "TokenUsage",
    "Tool",
    "ToolContext",
    "ToolPolicy",
    "ToolResult",
    "Tripwire",
    "agent_in_control",
    "function_tool",
    "handoff",
]

if TYPE_CHECKING:
    from agentcycle.agent import Agent, StopAtTools
    from agentcycle.budget import RunBudget
    from agentcycle.chat import ChatSession, SyncChatSession
    from agentcycle.context_providers import ContextProvider, InstructionsContext, PromptFragment
    from agentcycle.errors import AgentcycleError, BudgetExhaustedError
    from agentcycle.events import CompletionReason, RunEvent, RunStatus
    from agentcycle.guardrails import Guardrail, GuardrailContext, Tripwire
    from agentcycle.handle import RunHandle
    from agentcycle.handoffs import Handoff, agent_in_control, handoff
    from agentcycle.hooks import RuntimeHook
    from agentcycle.messages import (
        ActivateSkill,
        AskUser,
        AttachImage,
        Finish,
        HandOff,
        TokenUsage,
        ToolResult,
    )
    from agentcycle.models.base import Model, ModelRef, ModelSettings, RetrySettings
    from agentcycle.models.provider import ModelProvider, SettingsModelProvider
    from agentcycle.outputs import OutputContext, OutputRepair, Reject
    from agentcycle.pricing import ModelPrice, PriceTable, StaticPriceTable
    from agentcycle.result import RunResult
    from agentcycle.run_config import RunConfig
    from agentcycle.runner import Runner
    from agentcycle.runtime.approval_rules import ApprovalRule, ApprovalRules
    from agentcycle.runtime.approvals import ApprovalDecision, ApprovalProvider, ApprovalRequest
    from agentcycle.runtime.policy import ApprovalMode, ToolPolicy
    from agentcycle.state import NoToolPolicy, RunState
    from agentcycle.sub_agents import SubAgent, SubTaskInfo
    from agentcycle.submitted import SubmittedRun
    from agentcycle.sync_handle import SyncRunHandle
    from agentcycle.tools.base import SideEffect, Tool, ToolContext
    from agentcycle.tools.function_tool import function_tool


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentcycle' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
