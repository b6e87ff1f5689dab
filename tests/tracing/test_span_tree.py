"""Spans derived from events: run -> cycles -> model and tool calls, with token usage."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.errors import ModelError
from agentcycle.events import (
    CycleStarted,
    ModelCallStarted,
    RunCancelled,
    RunStatus,
    SubRunCompleted,
    SubRunStarted,
    ToolCallCompleted,
    ToolCallPlanned,
)
from agentcycle.stores import JsonlRunEventStore
from agentcycle.testing import ScriptedModel, call_tool
from agentcycle.testing.event_store_conformance import cycle, finish, replayed, start_run
from agentcycle.tracing import JsonlTraceExporter, Span, spans_from_events

from .conftest import Recorder, lookup, tool_script


def by_kind(spans: list[Span], kind: str) -> list[Span]:
    return [s for s in spans if s.kind == kind]


async def traced_run(recorder: Recorder, **config: object) -> list:
    agent = Agent(name="weather", model=ScriptedModel(tool_script()), tools=[lookup])
    handle = await Runner.start(
        agent, "go", config=RunConfig(trace_processors=[recorder], **config)
    )
    assert (await handle.result()).status is RunStatus.COMPLETED
    return [e async for e in handle.events()]


async def test_the_span_tree_of_a_run(recorder: Recorder) -> None:
    events = await traced_run(recorder)
    spans = recorder.ended
    (run,) = by_kind(spans, "run")
    assert run.parent_span_id is None and run.name == "invoke_agent weather"
    assert run.status == "ok" and spans[-1] is run  # the run span ends last
    assert run.attributes["status"] == "completed"
    assert run.trace_id == events[0].trace_id and run.span_id == events[0].event_id

    cycles = by_kind(spans, "cycle")
    assert [c.name for c in cycles] == ["cycle 1", "cycle 2", "cycle 3", "cycle 4"]
    assert all(c.parent_span_id == run.span_id for c in cycles)

    calls = by_kind(spans, "model_call")
    assert [c.parent_span_id for c in calls] == [c.span_id for c in cycles]
    assert all(c.name == "chat scripted" and c.attributes["backend"] == "scripted" for c in calls)
    assert all(c.attributes["usage.input_tokens"] == 120 for c in calls)
    assert all(c.attributes["usage.output_tokens"] == 30 for c in calls)
    assert all(c.attributes["usage.cached_tokens"] == 100 for c in calls)
    assert "usage.reasoning_tokens" not in calls[0].attributes  # unknown stays absent

    tools = by_kind(spans, "tool_call")
    parents = {c.span_id: n for n, c in enumerate(cycles, start=1)}
    assert [(parents[t.parent_span_id], t.name) for t in tools] == [
        (1, "execute_tool lookup"),
        (2, "execute_tool lookup"),
        (2, "execute_tool nope"),
        (4, "execute_tool task_finish"),
    ]
    unknown = tools[2]
    assert (unknown.status, unknown.error_code) == ("error", "tool_not_found")
    assert unknown.attributes["execution_started"] is False
    assert tools[0].attributes["tool_status"] == "success" and tools[0].status == "ok"

    assert all(c.attributes["usage.total_tokens"] == 150 for c in cycles)
    assert run.attributes["usage.input_tokens"] == 480
    assert run.attributes["usage.cached_tokens"] == 400

    for span in spans:  # every span lies inside its parent's interval
        if span.parent_span_id is not None:
            parent = next(s for s in spans if s.span_id == span.parent_span_id)
            assert parent.start_time <= span.start_time <= span.end_time <= parent.end_time


async def test_processors_see_each_span_open_then_close(recorder: Recorder) -> None:
    await traced_run(recorder)
    assert len(recorder.started) == len(recorder.ended) == 13
    assert all(s.end_time is None and s.status == "unset" for s in recorder.started)
    for span in recorder.ended:
        assert recorder.calls.index(("start", span.span_id)) < recorder.calls.index(
            ("end", span.span_id)
        )


async def test_spans_rebuilt_from_a_replayed_store_are_identical(
    recorder: Recorder, tmp_path: Path
) -> None:
    store = JsonlRunEventStore(tmp_path / "events.jsonl")
    events = await traced_run(recorder, event_store=store)
    stored = await replayed(store, events[0].run_id)
    assert spans_from_events(stored) == recorder.ended
    assert spans_from_events(events) == recorder.ended


async def test_jsonl_trace_exporter_writes_every_span(recorder: Recorder, tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    exporter = JsonlTraceExporter(path)
    agent = Agent(model=ScriptedModel(tool_script()), tools=[lookup])
    config = RunConfig(trace_processors=[exporter, recorder])
    await Runner.run(agent, "go", config=config)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [span.to_dict() for span in recorder.ended]
    assert lines[-1]["kind"] == "run" and lines[-1]["status"] == "ok"


async def test_a_failed_model_call_and_run(recorder: Recorder) -> None:
    error = ModelError("quota", code="rate_limited")
    agent = Agent(model=ScriptedModel([error]))
    result = await Runner.run(agent, "go", config=RunConfig(trace_processors=[recorder]))
    assert result.status is RunStatus.FAILED
    (call,) = by_kind(recorder.ended, "model_call")
    assert (call.status, call.error_code, call.error_message) == ("error", "rate_limited", "quota")
    assert call.attributes["retryable"] is False
    (run,) = by_kind(recorder.ended, "run")
    assert (run.status, run.error_code) == ("error", "rate_limited")


async def test_a_cancelled_run_closes_its_open_spans(recorder: Recorder) -> None:
    release = asyncio.Event()

    @function_tool
    async def wait_for_release() -> str:
        """Block until the test releases it."""
        await release.wait()
        return "released"

    agent = Agent(
        model=ScriptedModel([call_tool("wait_for_release", {})]), tools=[wait_for_release]
    )
    handle = await Runner.start(agent, "go", config=RunConfig(trace_processors=[recorder]))
    async for event in handle.events():
        if event.type == "tool_call_started":
            break
    await handle.cancel("stop")
    spans = recorder.ended
    (tool,) = by_kind(spans, "tool_call")
    assert (tool.status, tool.error_code) == ("error", "tool_call_skipped")  # paired on cancel
    (run,) = by_kind(spans, "run")
    assert (run.status, run.error_code, run.error_message) == ("error", "cancelled", "stop")
    assert len(recorder.started) == len(spans)


async def test_a_resumed_run_is_a_new_run_span_in_the_same_trace(recorder: Recorder) -> None:
    config = RunConfig(trace_processors=[recorder])
    asking = Agent(model=ScriptedModel([call_tool("ask_user", {"question": "?"})]))
    waiting = await Runner.run(asking, "go", config=config)
    done = Agent(model=ScriptedModel([call_tool("task_finish", {"message": "ok"})]))
    await Runner.resume(done, waiting.to_state(), input="answer", config=config)
    first, second = by_kind(recorder.ended, "run")
    assert first.attributes["status"] == "wait_user" and "resume_attempt" not in first.attributes
    assert second.attributes["resume_attempt"] == 1 and second.attributes["status"] == "completed"
    assert first.trace_id == second.trace_id and first.run_id == second.run_id


def test_a_child_run_hangs_under_the_tool_call_that_started_it() -> None:
    parent = start_run("run_parent")
    parent.emit(ToolCallPlanned, cycle_index=1, tool_call_id="c1", tool_name="delegate")
    parent.emit(SubRunStarted, cycle_index=1, parent_tool_call_id="c1", child_run_id="run_child")
    child = start_run("run_child", parent=parent)
    cycle(child, 1)
    finish(child)
    parent.emit(SubRunCompleted, cycle_index=1, child_run_id="run_child", status="completed")
    parent.emit(
        ToolCallCompleted,
        cycle_index=1,
        tool_call_id="c1",
        tool_name="delegate",
        status="success",
        directive="continue",
    )
    finish(parent)
    spans = {(s.run_id, s.kind): s for s in spans_from_events(parent.backlog)}
    delegate = spans[("run_parent", "tool_call")]
    child_run = spans[("run_child", "run")]
    assert child_run.parent_span_id == delegate.span_id
    assert child_run.trace_id == spans[("run_parent", "run")].trace_id
    assert spans[("run_child", "cycle")].parent_span_id == child_run.span_id
    assert child_run.end_time <= delegate.end_time


async def test_a_failing_processor_is_dropped_and_the_run_goes_on(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def on_span_start(self, span: Span) -> None:
            raise RuntimeError("exporter down")

        def on_span_end(self, span: Span) -> None:
            raise AssertionError("never reached: dropped at the first failure")

    with caplog.at_level(logging.ERROR, logger="agentcycle.tracing.builder"):
        agent = Agent(model=ScriptedModel(tool_script()), tools=[lookup])
        config = RunConfig(trace_processors=[Broken(), recorder])
        result = await Runner.run(agent, "go", config=config)
    assert result.status is RunStatus.COMPLETED
    assert len(recorder.ended) == 13
    assert sum("trace processor" in r.getMessage() for r in caplog.records) == 1


def test_nothing_is_imported_when_tracing_and_stores_are_off() -> None:
    code = (
        "import sys\n"
        "from agentcycle import Agent, Runner\n"
        "from agentcycle.testing import ScriptedModel, call_tool\n"
        "agent = Agent(model=ScriptedModel([call_tool('task_finish', {'message': 'x'})]))\n"
        "assert Runner.run_sync(agent, 'go').final_output == 'x'\n"
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry', 'agentcycle.tracing',"
        " 'agentcycle.stores', 'agentcycle.runtime.event_recorder'))]\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_spans_still_open_at_the_terminal_event_are_closed_as_cancelled() -> None:
    bus = start_run("run_a")
    bus.emit(CycleStarted, cycle_index=1)
    bus.emit(ModelCallStarted, cycle_index=1, call_id="mc_1", operation_id="op_1", model="m")
    bus.emit(RunCancelled, reason="host stop")
    spans = {s.kind: s for s in spans_from_events(bus.backlog)}
    call = spans["model_call"]
    assert (call.status, call.error_code, call.error_message) == (
        "error",
        "cancelled",
        "run cancelled",
    )
    assert call.end_time == bus.backlog[-1].created_at
    assert spans["cycle"].end_time == call.end_time and spans["run"].error_code == "cancelled"
