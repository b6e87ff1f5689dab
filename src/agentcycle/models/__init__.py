"""agentcycle.models."""
