"""agentcycle.tools."""
