"""agentcycle: an embeddable LLM agent runtime."""
