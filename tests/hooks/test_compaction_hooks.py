"""The compaction hook points are called around every memory compaction of a run."""

from __future__ import annotations

from typing import Any

from agentcycle import Agent, Runner, function_tool
from agentcycle.events import RunStatus
from agentcycle.hooks import CompactionEnd, CompactionStart, HookContext, RuntimeHook
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.testing import ScriptedModel, call_tool, reply


@function_tool(run_in_thread=False)
def fetch(n: int) -> str:
    """Fetch one page."""
    return f"page {n}: " + " ".join(f"word{n}_{i}" for i in range(300))


def fetching(request: ModelRequest) -> ModelResponse:
    if request.operation == "memory_compaction":
        return reply("Summary: pages were fetched.")
    index = request.cycle_index or 0
    if index < 20:
        return call_tool("fetch", {"n": index})
    return call_tool("task_finish", {"message": "done"})


def agent(*hooks: RuntimeHook) -> Agent:
    model = ScriptedModel(fetching, context_length=6_000, max_output_tokens=1_000)
    return Agent(model=model, tools=[fetch], max_cycles=20, hooks=hooks)


class Watch(RuntimeHook):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, int]] = []

    async def before_compaction(self, ctx: HookContext, compaction: CompactionStart) -> None:
        self.calls.append(("before", compaction, len(ctx.messages)))

    async def after_compaction(self, ctx: HookContext, compaction: CompactionEnd) -> None:
        self.calls.append(("after", compaction, len(ctx.messages)))


async def test_every_compaction_is_framed_by_the_hooks_with_the_events_facts() -> None:
    watch = Watch()
    handle = await Runner.start(agent(watch), "fetch them all")
    result = await handle.result()
    assert result.completed
    events = [e async for e in handle.events() if e.type.startswith("memory_compact")]
    assert len(events) >= 4 and len(watch.calls) == len(events)
    for (point, payload, seen), event in zip(watch.calls, events, strict=True):
        if event.type == "memory_compact_started":
            assert point == "before"
            assert payload == CompactionStart(
                trigger=event.trigger,
                message_count=event.message_count,
                estimated_tokens=event.estimated_tokens,
            )
            assert seen == event.message_count  # called before the history is rewritten
        else:
            assert point == "after"
            assert payload == CompactionEnd(
                mode=event.mode,
                before_count=event.before_count,
                after_count=event.after_count,
                reclaimed_tokens=event.reclaimed_tokens,
                dropped=tuple(event.dropped),
            )
            assert seen == event.after_count  # and after it was


async def test_a_failing_compaction_hook_ends_the_run_as_hook_failed() -> None:
    class Broken(RuntimeHook):
        async def before_compaction(self, ctx: HookContext, compaction: CompactionStart) -> None:
            raise RuntimeError("no compaction today")

    handle = await Runner.start(agent(Broken()), "fetch them all")
    result = await handle.result()
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "hook_failed"
    assert "before_compaction" in result.error["message"]
    diagnostics = [e async for e in handle.events() if e.type == "diagnostic"]
    assert [d.details["point"] for d in diagnostics] == ["before_compaction"]
