"""The OpenTelemetry processor: GenAI semantic-convention spans, checked with the SDK's
in-memory exporter."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentcycle import Agent, RunConfig, Runner
from agentcycle.testing import ScriptedModel
from agentcycle.tracing.otel import OpenTelemetryTraceProcessor

from .conftest import Recorder, lookup, tool_script


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


async def test_genai_spans_nest_under_the_hosts_span(
    provider: TracerProvider, exporter: InMemorySpanExporter, recorder: Recorder
) -> None:
    tracer = provider.get_tracer("host")
    agent = Agent(name="weather", model=ScriptedModel(tool_script()), tools=[lookup])
    config = RunConfig(trace_processors=[OpenTelemetryTraceProcessor(provider), recorder])
    with tracer.start_as_current_span("host request") as host:
        handle = await Runner.start(agent, "go", config=config)
    await handle.result()

    finished = exporter.get_finished_spans()
    assert [s.name for s in finished if "agentcycle.span_id" not in s.attributes] == [
        "host request"
    ]
    spans = {
        s.attributes["agentcycle.span_id"]: s
        for s in finished
        if "agentcycle.span_id" in s.attributes
    }
    assert len(spans) == len(recorder.ended) == 13
    ours = {s.span_id: s for s in recorder.ended}
    for span_id, otel in spans.items():
        mine = ours[span_id]
        assert otel.name == mine.name
        assert otel.start_time == int(mine.start_time * 1e9)
        assert otel.end_time == int(mine.end_time * 1e9)
        expected_parent = (
            spans[mine.parent_span_id].context.span_id
            if mine.parent_span_id
            else host.get_span_context().span_id
        )
        assert otel.parent is not None and otel.parent.span_id == expected_parent
        assert otel.context.trace_id == host.get_span_context().trace_id

    run = next(s for s in spans.values() if s.attributes["agentcycle.span.kind"] == "run")
    assert run.name == "invoke_agent weather"
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["gen_ai.agent.name"] == "weather"
    assert run.attributes["gen_ai.usage.input_tokens"] == 480
    assert run.attributes["agentcycle.run_id"] == handle.run_id
    assert run.status.status_code is StatusCode.OK

    chats = [s for s in spans.values() if s.attributes["agentcycle.span.kind"] == "model_call"]
    assert len(chats) == 4
    for chat in chats:
        assert chat.kind is SpanKind.CLIENT and chat.name == "chat scripted"
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.request.model"] == "scripted"
        assert chat.attributes["gen_ai.provider.name"] == "scripted"
        assert chat.attributes["gen_ai.usage.input_tokens"] == 120
        assert chat.attributes["gen_ai.usage.output_tokens"] == 30
        assert chat.attributes["gen_ai.usage.cache_read.input_tokens"] == 100

    tools = [s for s in spans.values() if s.attributes["agentcycle.span.kind"] == "tool_call"]
    assert [t.attributes["gen_ai.tool.name"] for t in tools] == [
        "lookup",
        "lookup",
        "nope",
        "task_finish",
    ]
    assert all(t.attributes["gen_ai.operation.name"] == "execute_tool" for t in tools)
    assert all(t.attributes["gen_ai.tool.call.id"].startswith("call_") for t in tools)
    assert all(t.kind is SpanKind.INTERNAL for t in tools)
    unknown = tools[2]
    assert unknown.status.status_code is StatusCode.ERROR
    assert unknown.attributes["error.type"] == "tool_not_found"


async def test_a_failed_run_is_an_error_span(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    from agentcycle.errors import ModelError

    agent = Agent(model=ScriptedModel([ModelError("quota", code="rate_limited")]))
    processor = OpenTelemetryTraceProcessor(tracer=provider.get_tracer("agentcycle"))
    await Runner.run(agent, "go", config=RunConfig(trace_processors=[processor]))
    finished = {s.attributes["agentcycle.span.kind"]: s for s in exporter.get_finished_spans()}
    for kind in ("model_call", "run"):
        assert finished[kind].status.status_code is StatusCode.ERROR
        assert finished[kind].attributes["error.type"] == "rate_limited"
    assert finished["model_call"].status.description == "quota"


def test_import_agentcycle_does_not_import_opentelemetry() -> None:
    code = (
        "import sys, agentcycle\n"
        "from agentcycle import Agent, RunConfig, Runner\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
