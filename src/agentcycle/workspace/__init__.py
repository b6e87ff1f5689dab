"""agentcycle.workspace."""
