"""A failing hook is contained: its run ends as the typed failure ``hook_failed`` naming the
hook and the point (with a diagnostic event), other runs go on, nothing hangs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.errors import ConfigurationError, HookFailedError
from agentcycle.events import (
    TERMINAL_EVENT_TYPES,
    Diagnostic,
    RunCancelled,
    RunEvent,
    RunFailed,
    RunStatus,
)
from agentcycle.hooks import (
    CompactionEnd,
    CompactionStart,
    CycleEnd,
    HookContext,
    RunEnd,
    RuntimeHook,
)
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.runtime._hooks import HookDispatcher
from agentcycle.runtime.event_bus import EventBus
from agentcycle.testing import ScriptedModel, call_tool

RUN_POINTS = [
    "before_run",
    "before_cycle",
    "before_model_call",
    "after_model_call",
    "after_cycle",
    "after_run",
]


class FailsAt(RuntimeHook):
    """Raises at one point; with ``wrong=True`` returns a value of the wrong type instead."""

    def __init__(self, point: str, *, wrong: bool = False) -> None:
        self.point = point
        self.wrong = wrong

    def _maybe_fail(self, point: str) -> Any:
        if point != self.point:
            return None
        if self.wrong:
            return 42
        raise ValueError(f"broken at {point}")

    async def before_run(self, ctx: HookContext) -> None:
        self._maybe_fail("before_run")

    async def after_run(self, ctx: HookContext, end: RunEnd) -> None:
        self._maybe_fail("after_run")

    async def before_cycle(self, ctx: HookContext, cycle_index: int) -> None:
        self._maybe_fail("before_cycle")

    async def after_cycle(self, ctx: HookContext, cycle: CycleEnd) -> Any:
        return self._maybe_fail("after_cycle")

    async def before_model_call(self, ctx: HookContext, request: ModelRequest) -> Any:
        return self._maybe_fail("before_model_call")

    async def after_model_call(
        self, ctx: HookContext, request: ModelRequest, response: ModelResponse
    ) -> Any:
        return self._maybe_fail("after_model_call")

    @property
    def name(self) -> str:
        return "guard"


def finishing_model() -> ScriptedModel:
    return ScriptedModel([call_tool("task_finish", {"message": "done"})])


async def run_with(hooks: list[RuntimeHook]) -> tuple[Any, list[RunEvent]]:
    handle = await Runner.start(Agent(model=finishing_model()), "go", config=RunConfig(hooks=hooks))
    result = await handle.result()
    return result, [e async for e in handle.events()]


@pytest.mark.parametrize("point", RUN_POINTS)
def test_a_raising_hook_fails_its_run_with_hook_failed(point: str) -> None:
    async def main() -> None:
        (result, events), (other, _) = await asyncio.gather(
            run_with([FailsAt(point)]), run_with([])
        )
        assert other.completed  # a run without the hook, on the same event loop, is unharmed
        assert result.status is RunStatus.FAILED
        assert result.error["code"] == "hook_failed"
        assert result.error["message"] == (
            f"Hook 'guard' failed in {point}: ValueError: broken at {point}."
        )
        assert result.error["details"]["point"] == point
        terminal = [e for e in events if e.type in TERMINAL_EVENT_TYPES]
        assert len(terminal) == 1 and isinstance(terminal[0], RunFailed)
        assert terminal[0].error_code == "hook_failed"
        diagnostic = next(e for e in events if isinstance(e, Diagnostic))
        assert diagnostic.code == "hook_failed" and diagnostic.level == "error"
        assert diagnostic.details == {
            "hook": "guard",
            "point": point,
            "error_type": "ValueError",
            "error": f"broken at {point}",
        }

    asyncio.run(main())


@pytest.mark.parametrize("point", ["before_model_call", "after_model_call", "after_cycle"])
def test_a_hook_returning_the_wrong_type_fails_its_run(point: str) -> None:
    result, _ = asyncio.run(run_with([FailsAt(point, wrong=True)]))
    assert result.status is RunStatus.FAILED and result.error["code"] == "hook_failed"
    assert "returned int" in result.error["message"]


def test_a_failing_after_run_still_lets_every_after_run_hook_run() -> None:
    ends: list[RunEnd] = []

    class Closes(RuntimeHook):
        async def after_run(self, ctx: HookContext, end: RunEnd) -> None:
            ends.append(end)

    result, _ = asyncio.run(run_with([FailsAt("after_run"), Closes()]))
    assert result.error["code"] == "hook_failed"
    assert [e.status for e in ends] == [RunStatus.COMPLETED]  # it saw the run as it ended


def test_a_hook_failing_before_the_model_call_leaves_no_model_call() -> None:
    model = finishing_model()
    result = Runner.run_sync(
        Agent(model=model), "go", config=RunConfig(hooks=[FailsAt("before_model_call")])
    )
    assert result.error["code"] == "hook_failed" and model.calls == 0


@function_tool(run_in_thread=False)
async def wait_forever() -> str:
    """Block until cancelled."""
    await asyncio.Event().wait()
    return "unreachable"


class Ends(RuntimeHook):
    def __init__(self, *, fail: bool = False) -> None:
        self.ends: list[RunEnd] = []
        self.fail = fail

    async def after_run(self, ctx: HookContext, end: RunEnd) -> None:
        self.ends.append(end)
        if self.fail:
            raise RuntimeError("cleanup failed")


@pytest.mark.parametrize("fail", [False, True])
def test_after_run_sees_a_cancelled_run_which_stays_cancelled(fail: bool) -> None:
    hook = Ends(fail=fail)

    async def main() -> list[RunEvent]:
        model = ScriptedModel([call_tool("wait_forever", {})])
        handle = await Runner.start(
            Agent(model=model, tools=[wait_forever]), "go", config=RunConfig(hooks=[hook])
        )
        async for event in handle.events():
            if event.type == "tool_call_started":
                break
        await handle.cancel("host stopped it")
        result = await handle.result()
        assert result.status is RunStatus.CANCELLED
        return [e async for e in handle.events()]

    events = asyncio.run(main())
    assert [e.status for e in hook.ends] == [RunStatus.CANCELLED]
    assert isinstance(events[-1], RunCancelled)
    failures = [e for e in events if isinstance(e, Diagnostic) and e.code == "hook_failed"]
    assert len(failures) == (1 if fail else 0)


def test_a_hanging_hook_does_not_hang_cancellation() -> None:
    entered = asyncio.Event()

    class Hangs(RuntimeHook):
        async def before_model_call(self, ctx: HookContext, request: ModelRequest) -> None:
            entered.set()
            await asyncio.Event().wait()

    ends = Ends()

    async def main() -> Any:
        handle = await Runner.start(
            Agent(model=finishing_model()), "go", config=RunConfig(hooks=[Hangs(), ends])
        )
        await entered.wait()
        await asyncio.wait_for(handle.cancel("stuck hook"), timeout=10)
        return await handle.result()

    result = asyncio.run(main())
    assert result.status is RunStatus.CANCELLED
    assert [e.status for e in ends.ends] == [RunStatus.CANCELLED]


def test_compaction_points_are_called_and_their_failures_are_typed() -> None:
    seen: list[Any] = []

    class Watches(RuntimeHook):
        async def before_compaction(self, ctx: HookContext, compaction: CompactionStart) -> None:
            seen.append(compaction)

        async def after_compaction(self, ctx: HookContext, compaction: CompactionEnd) -> None:
            raise RuntimeError("archive unavailable")

    bus = EventBus(run_id="run_1", trace_id="trace_1", agent_name="agent")
    dispatcher = HookDispatcher.for_run([Watches()], bus, [], None, "en-US")
    assert dispatcher is not None
    start = CompactionStart(trigger="threshold", message_count=40, estimated_tokens=90_000)
    end = CompactionEnd(mode="summary", before_count=40, after_count=6, reclaimed_tokens=70_000)

    async def main() -> None:
        await dispatcher.before_compaction(start)
        with pytest.raises(HookFailedError, match="Watches' failed in after_compaction"):
            await dispatcher.after_compaction(end)

    asyncio.run(main())
    assert seen == [start]
    assert [e.code for e in bus.backlog if isinstance(e, Diagnostic)] == ["hook_failed"]


def test_without_hooks_there_is_no_dispatcher() -> None:
    bus = EventBus(run_id="run_1", trace_id="trace_1")
    assert HookDispatcher.for_run([], bus, [], None, "en-US") is None


def test_a_hook_over_its_timeout_fails_its_run_as_hook_failed() -> None:
    class Slow(RuntimeHook):
        timeout = 0.05

        async def before_model_call(self, ctx: HookContext, request: ModelRequest) -> None:
            await asyncio.Event().wait()

    model = finishing_model()

    async def main() -> tuple[Any, list[RunEvent]]:
        handle = await Runner.start(Agent(model=model), "go", config=RunConfig(hooks=[Slow()]))
        result = await asyncio.wait_for(handle.result(), timeout=10)
        return result, [e async for e in handle.events()]

    result, events = asyncio.run(main())
    assert result.status is RunStatus.FAILED and result.error["code"] == "hook_failed"
    (failure,) = [e for e in events if isinstance(e, Diagnostic) and e.code == "hook_failed"]
    assert failure.details["point"] == "before_model_call"
    assert failure.details["error_type"] == "TimeoutError"
    assert "0.05 s" in failure.details["error"]
    assert model.requests == []  # the model was never called


def test_a_hooks_own_timeout_error_is_reported_as_its_own() -> None:
    class Raises(RuntimeHook):
        timeout = 30.0

        async def before_cycle(self, ctx: HookContext, cycle_index: int) -> None:
            raise TimeoutError("the audit service timed out")

    result, events = asyncio.run(run_with([Raises()]))
    assert result.status is RunStatus.FAILED
    (failure,) = [e for e in events if isinstance(e, Diagnostic) and e.code == "hook_failed"]
    assert failure.details["error"] == "the audit service timed out"


@pytest.mark.parametrize("timeout", ["5", 0, -1.0, True])
def test_a_hook_timeout_that_is_not_seconds_is_a_configuration_error(timeout: object) -> None:
    class Misconfigured(RuntimeHook):
        async def before_cycle(self, ctx: HookContext, cycle_index: int) -> None:
            """Never reached."""

    hook = Misconfigured()
    hook.timeout = timeout  # type: ignore[assignment]
    with pytest.raises(ConfigurationError, match=r"Misconfigured\.timeout must be a positive"):
        Runner.run_sync(Agent(model=finishing_model(), hooks=[hook]), "go")
