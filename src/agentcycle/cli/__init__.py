"""agentcycle.cli."""
