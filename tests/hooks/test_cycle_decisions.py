"""``after_cycle`` decisions: steer the next model call with messages, or stop the run as a
typed failure."""

from __future__ import annotations

import asyncio
from typing import Any

from agentcycle import Agent, RunConfig, Runner
from agentcycle.events import Diagnostic, RunEvent, RunFailed, RunStatus
from agentcycle.hooks import Continue, CycleEnd, HookContext, RuntimeHook, Steer, Stop
from agentcycle.messages import UserMessage
from agentcycle.testing import ScriptedModel, call_tool, reply


def run(agent: Agent, hooks: list[RuntimeHook]) -> tuple[Any, list[RunEvent]]:
    async def main() -> tuple[Any, list[RunEvent]]:
        handle = await Runner.start(agent, "go", config=RunConfig(hooks=hooks))
        result = await handle.result()
        return result, [e async for e in handle.events()]

    return asyncio.run(main())


class SteerOnce(RuntimeHook):
    def __init__(self, *messages: str | UserMessage) -> None:
        self.messages = messages

    async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> Steer | Continue:
        return Steer(list(self.messages)) if cycle.cycle_index == 1 else Continue()


def test_steer_adds_messages_before_the_next_model_call_and_keeps_them_in_state() -> None:
    model = ScriptedModel(
        [call_tool("todo_write", {"todos": []}), call_tool("task_finish", {"message": "ok"})]
    )
    hooks: list[RuntimeHook] = [
        SteerOnce("run the tests first"),
        SteerOnce(UserMessage(content="and be brief")),
    ]
    result, events = run(Agent(model=model), hooks)
    assert result.completed
    second = model.requests[1].messages
    assert [m.content for m in second[-2:]] == ["run the tests first", "and be brief"]
    assert second[-2].synthetic is True and second[-1].synthetic is False
    # Part of cycle 1's record: a checkpoint of the run keeps them.
    assert [m.role for m in result.state.cycles[0].messages] == [
        "assistant",
        "tool",
        "user",
        "user",
    ]
    applied = [e for e in events if isinstance(e, Diagnostic) and e.code == "hook_steering_applied"]
    assert len(applied) == 1 and applied[0].details["messages"] == 2


def test_steering_a_cycle_that_ended_the_run_is_ignored_and_reported() -> None:
    class AlwaysSteer(RuntimeHook):
        async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> Steer:
            return Steer("one more thing")

    model = ScriptedModel([call_tool("task_finish", {"message": "ok"})])
    result, events = run(Agent(model=model), [AlwaysSteer()])
    assert result.completed and result.final_output == "ok"
    assert not any(m.content == "one more thing" for m in result.messages)
    ignored = next(e for e in events if isinstance(e, Diagnostic) and e.code.startswith("hook_"))
    assert ignored.code == "hook_steering_ignored" and ignored.level == "warning"
    assert ignored.details["ending"] == "completed"


class StopAt(RuntimeHook):
    def __init__(self, cycle_index: int) -> None:
        self.cycle_index = cycle_index

    async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> Stop | None:
        if cycle.cycle_index == self.cycle_index:
            return Stop("off_topic", "The agent drifted off topic.", details={"cycle": 2})
        return None


def test_stop_ends_the_run_as_a_typed_failure_with_the_hooks_code() -> None:
    model = ScriptedModel([reply("thinking"), reply("about cats"), reply("never reached")])
    result, events = run(Agent(model=model), [StopAt(2)])
    assert result.status is RunStatus.FAILED
    assert result.error == {
        "code": "off_topic",
        "message": "The agent drifted off topic.",
        "details": {"cycle": 2},
    }
    assert result.partial_output == "about cats"
    assert model.calls == 2 and result.cycles == 2  # the stopped cycle is committed
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.error_code == "off_topic"


def test_stop_overrides_a_cycle_that_would_complete_the_run() -> None:
    model = ScriptedModel([call_tool("task_finish", {"message": "leaked secret"})])
    result, _ = run(Agent(model=model), [StopAt(1)])
    assert result.status is RunStatus.FAILED and result.error is not None
    assert result.error["code"] == "off_topic"


def test_the_first_stop_wins_and_later_hooks_still_see_the_cycle() -> None:
    seen: list[int] = []

    class Watcher(RuntimeHook):
        async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> None:
            seen.append(cycle.cycle_index)

    class StopWith(RuntimeHook):
        def __init__(self, code: str) -> None:
            self.code = code

        async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> Stop:
            return Stop(self.code)

    result, _ = run(
        Agent(model=ScriptedModel([reply("x")])),
        [StopWith("first"), StopWith("second"), Watcher()],
    )
    assert result.error is not None and result.error["code"] == "first"
    assert seen == [1]


def test_the_last_cycle_before_max_cycles_is_reported_as_ending() -> None:
    endings: list[RunStatus | None] = []

    class Watch(RuntimeHook):
        async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> Steer:
            endings.append(cycle.ending)
            return Steer("keep going")

    model = ScriptedModel([reply("a"), reply("b")])
    result, events = run(Agent(model=model, max_cycles=2), [Watch()])
    assert result.status is RunStatus.MAX_CYCLES
    assert endings == [None, RunStatus.MAX_CYCLES]
    codes = [e.code for e in events if isinstance(e, Diagnostic) and e.code.startswith("hook_")]
    assert codes == ["hook_steering_applied", "hook_steering_ignored"]
