"""agentcycle.tools.builtin."""
