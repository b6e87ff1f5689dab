"""A whole run through the Anthropic Messages adapter, resolved from a settings file, over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

from agentcycle import Agent, ModelRef, RunConfig, Runner, function_tool
from agentcycle.events import RunStatus
from agentcycle.messages import ToolMessage
from agentcycle.testing.anthropic_server import (
    AnthropicCompatServer,
    MessagesReply,
    ServerToolCall,
    usage,
)


@function_tool
def weather(city: str) -> str:
    """Today's weather for a city."""
    return f"{city}: sunny"


async def test_settings_file_resolves_an_anthropic_endpoint(tmp_path: Path) -> None:
    with AnthropicCompatServer() as server:
        server.enqueue(
            MessagesReply(
                thinking="Check the weather first.",
                text="Looking it up.",
                tool_uses=[ServerToolCall("weather", {"city": "Oslo"})],
                usage=usage(200, 30, cache_read_input_tokens=120),
            ),
            MessagesReply(tool_uses=[ServerToolCall("task_finish", {"message": "Oslo: sunny"})]),
        )
        settings = {
            "VERSION": "2",
            "endpoints": [
                {
                    "id": "claude",
                    "api_base": server.base_url,
                    "api_key": "sk-ant-test",
                    "endpoint_type": "anthropic",
                }
            ],
            "backends": {
                "anthropic": {"models": {"sonnet": {"id": "claude-test", "endpoints": ["claude"]}}}
            },
        }
        path = tmp_path / "settings.json"
        path.write_text(json.dumps(settings))
        handle = await Runner.start(
            Agent(model=ModelRef.backend("anthropic", "sonnet"), tools=[weather]),
            "weather in Oslo?",
            config=RunConfig(settings_file=path),
        )
        result = await handle.result()
        await handle.release_model_clients()
        events = [e async for e in handle.events()]
        first = server.requests[0].json
    assert result.status is RunStatus.COMPLETED and result.final_output == "Oslo: sunny"
    assert (result.backend, result.model) == ("anthropic", "sonnet")
    assert next(m for m in result.messages if isinstance(m, ToolMessage)).content == "Oslo: sunny"
    assert result.model_calls[0].usage.cached_tokens == 120
    assert "".join(e.delta for e in events if e.type == "reasoning_delta") == (
        "Check the weather first."
    )
    assert first["model"] == "claude-test" and first["stream"] is True
    assert "task_finish" in [t["name"] for t in first["tools"]]
    assert isinstance(first["system"], str | list)
