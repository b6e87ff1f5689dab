"""Multi-agent: handoffs, agents as tools, configured sub-agents and the child runs behind them.

The definitions users write live beside ``Agent`` (``Handoff``/``handoff``, ``SubAgent``) and are
re-exported here with the helpers a host needs; the machinery (``_child_runs``, ``_sub_tasks``,
``_sub_task_tools``, ``_sub_task_views``) plugs into the loop only through the child-run protocol
``tools.base.ChildRuns`` and the handoff switcher of the run environment.
"""

from __future__ import annotations

from agentcycle.handoffs import Handoff, agent_in_control, agent_slug, handoff
from agentcycle.sub_agents import SubAgent, SubTaskInfo

__all__ = ["Handoff", "SubAgent", "SubTaskInfo", "agent_in_control", "agent_slug", "handoff"]
