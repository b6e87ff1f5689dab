"""Public test helpers: the scripted model, loopback model servers, conformance suites."""

from __future__ import annotations

from agentcycle.testing.scripted import RecordedRequest, ScriptedModel, call_tool, reply

__all__ = ["RecordedRequest", "ScriptedModel", "call_tool", "reply"]
