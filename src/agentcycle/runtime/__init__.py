"""agentcycle.runtime."""
