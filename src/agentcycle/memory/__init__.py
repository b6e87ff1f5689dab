"""Memory: token accounting, context budget and compaction of a run's history.

``MemoryPolicy`` (on ``Agent`` or ``RunConfig``) configures it; the loop calls the runtime's
context manager (``runtime/context.py``) before each model call, which uses the pieces here:
``HistoryTokens`` (incremental counts), ``context_budget`` (the window minus reserved output and a
safety buffer) and ``Compactor`` (micro, structural, summary and emergency stages).
"""

from __future__ import annotations

from agentcycle.memory.policy import ContextBudget, MemoryPolicy, context_budget

__all__ = ["ContextBudget", "MemoryPolicy", "context_budget"]
