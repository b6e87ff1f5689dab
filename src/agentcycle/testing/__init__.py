"""agentcycle.testing."""
