"""``ChatSession`` queues: steer during a tool batch, follow-ups in order, a steer that comes
too late for its run, cancel during a queue, a failed run before a queue."""

from __future__ import annotations

import asyncio
import json

from agentcycle import Agent
from agentcycle.chat import ChatSession
from agentcycle.errors import ModelError
from agentcycle.events import (
    Diagnostic,
    RunStatus,
    SessionInputDelivered,
    SessionInputDropped,
    SessionInputQueued,
)
from agentcycle.messages import ToolMessage, UserMessage, content_text
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.sessions import MemorySession
from agentcycle.testing import ScriptedModel, call_tool
from tests.chat._helpers import (
    Gate,
    echo_finish,
    first_entry,
    last_user_text,
    of_type,
    snapshot,
)


async def test_a_steer_during_a_tool_batch_skips_the_later_calls_and_reaches_the_next_call() -> (
    None
):
    gate = Gate()
    model = ScriptedModel(
        [
            call_tool([("step", {"name": "one"}), ("step", {"name": "two"})]),
            call_tool("task_finish", {"message": "stopped after one"}),
        ]
    )
    store = MemorySession("steered")
    async with ChatSession(Agent(model=model, tools=[gate.step_tool()]), session=store) as chat:
        await chat.prompt("Do both steps.")
        await gate.entered.wait()
        steer = await chat.steer("Stop after the first step.")
        gate.open()
        result = await chat.wait_idle()
        entries = snapshot(chat)

    assert result is not None and result.status is RunStatus.COMPLETED
    assert gate.ran == ["one"]  # "two" had not started when the steer came: skipped
    skipped = json.loads(
        next(
            m for m in result.messages if isinstance(m, ToolMessage) and m.content != "did one"
        ).content
    )
    assert skipped["error_code"] == "tool_call_skipped"
    assert "the user sent a new message before this call started" in skipped["error"]
    # The transcript stays valid for providers: every call of the batch has its result.
    assert len([m for m in model.requests[1].messages if isinstance(m, ToolMessage)]) == 2
    seen = model.requests[1].messages[-1]
    assert isinstance(seen, UserMessage) and seen.content == "Stop after the first step."
    # The stream says when the steer reached the run: right after the loop applied it.
    events = [entry.event for entry in entries]
    applied = next(
        i
        for i, e in enumerate(events)
        if isinstance(e, Diagnostic) and e.code == "steering_applied"
    )
    delivered = events[applied + 1]
    assert isinstance(delivered, SessionInputDelivered)
    assert (delivered.input_id, delivered.delivery) == (steer.input_id, "steering")
    assert delivered.target_run_id == result.run_id
    # The steer is part of the conversation the session stores.
    stored = [content_text(m.content) for m in await store.get_items() if m.role == "user"]
    assert stored == ["Do both steps.", "Stop after the first step."]


async def test_follow_ups_run_after_the_current_run_in_order_on_one_conversation() -> None:
    gate = Gate()
    inputs: list[str] = []
    histories: list[int] = []

    def model_fn(request: ModelRequest) -> ModelResponse:
        text = last_user_text(request)
        if not inputs or inputs[-1] != text:
            inputs.append(text)
            histories.append(len(request.messages))
        if text == "first" and not gate.ran:
            return call_tool("step", {"name": "slow"})
        return call_tool("task_finish", {"message": f"re: {text}"})

    agent = Agent(model=ScriptedModel(model_fn), tools=[gate.step_tool()])
    async with ChatSession(agent) as chat:
        await chat.prompt("first")
        await gate.entered.wait()
        second = await chat.follow_up("second")
        third = await chat.follow_up("third")
        assert [i.text for i in chat.queued] == ["second", "third"]
        gate.open()
        result = await chat.wait_idle()
        events = [e.event for e in snapshot(chat)]
        stored = await chat.store.get_items()

    assert inputs == ["first", "second", "third"]
    assert result is not None and result.final_output == "re: third"
    assert histories[0] < histories[1] < histories[2]  # each run sees the turns before it
    delivered = [e for e in events if isinstance(e, SessionInputDelivered)]
    assert [d.input_id for d in delivered[1:]] == [second.input_id, third.input_id]
    assert all(d.delivery == "run_input" for d in delivered)
    assert len({d.target_run_id for d in delivered}) == 3
    # Each run starts after the one before it ended: its delivery follows that run's end.
    types = [e.type for e in events]
    for d in delivered[1:]:
        at = events.index(d)
        assert types[at - 1] == "run_completed" and types[at + 1] == "run_started"
    assert [content_text(m.content) for m in stored if m.role == "user"] == [
        "first",
        "second",
        "third",
    ]


async def test_a_steer_the_run_ends_without_starts_the_next_run_before_the_follow_ups() -> None:
    gate = Gate()
    inputs: list[str] = []

    def model_fn(request: ModelRequest) -> ModelResponse:
        text = last_user_text(request)
        inputs.append(text)
        if text == "wrap up":
            return call_tool("wrap_up", {"summary": "wrapped"})
        return call_tool("task_finish", {"message": f"re: {text}"})

    agent = Agent(model=ScriptedModel(model_fn), tools=[gate.finish_tool()])
    async with ChatSession(agent) as chat:
        await chat.prompt("wrap up")
        await gate.entered.wait()  # the run's last model call is behind it
        await chat.follow_up("later")
        late = await chat.steer("one more thing")
        gate.open()
        await chat.wait_idle()
        events = [e.event for e in snapshot(chat)]

    assert inputs == ["wrap up", "one more thing", "later"]
    late_delivery = next(
        e for e in events if isinstance(e, SessionInputDelivered) and e.input_id == late.input_id
    )
    assert late_delivery.delivery == "run_input"
    assert not any(isinstance(e, SessionInputDropped) for e in events)


async def test_cancel_drops_the_queue_and_the_steers_the_run_had_not_taken() -> None:
    gate = Gate()
    model = ScriptedModel(
        [call_tool("step", {"name": "slow"}), call_tool("task_finish", {"message": "after"})]
    )
    store = MemorySession("cancelled")
    async with ChatSession(Agent(model=model, tools=[gate.step_tool()]), session=store) as chat:
        await chat.prompt("start")
        await gate.entered.wait()
        steer = await chat.steer("not yet taken")
        b = await chat.follow_up("b")
        c = await chat.follow_up("c")
        await chat.cancel("user pressed stop")
        assert not chat.busy and chat.queued == []
        result = chat.last_result
        events = [e.event for e in snapshot(chat)]
        # The session goes on after a cancel: new input starts a new run.
        after = await chat.prompt("again")
        again = await chat.wait_idle()

    assert result is not None and result.status is RunStatus.CANCELLED
    dropped = [e for e in events if isinstance(e, SessionInputDropped)]
    assert [(d.input_id, d.reason) for d in dropped] == [
        (b.input_id, "cancelled"),
        (c.input_id, "cancelled"),
        (steer.input_id, "cancelled"),
    ]
    assert [d.text for d in dropped] == ["b", "c", "not yet taken"]
    types = [e.type for e in events]
    assert types.count("run_started") == 1 and "run_cancelled" in types
    assert types[-1] == "session_idle"
    assert after.kind == "prompt" and again is not None
    assert again.status is RunStatus.COMPLETED and again.final_output == "after"
    # The cancelled run stored no turn: the conversation holds only the later one.
    assert [content_text(m.content) for m in await store.get_items() if m.role == "user"] == [
        "again"
    ]


async def test_cancel_keeping_the_queue_runs_it_next() -> None:
    gate = Gate()
    inputs: list[str] = []

    def model_fn(request: ModelRequest) -> ModelResponse:
        text = last_user_text(request)
        inputs.append(text)
        if text == "start":
            return call_tool("step", {"name": "slow"})
        return call_tool("task_finish", {"message": f"re: {text}"})

    agent = Agent(model=ScriptedModel(model_fn), tools=[gate.step_tool()])
    async with ChatSession(agent) as chat:
        await chat.prompt("start")
        await gate.entered.wait()
        await chat.steer("steer kept")
        await chat.follow_up("follow-up kept")
        await chat.cancel(clear_queue=False)
        result = await chat.wait_idle()

    assert inputs == ["start", "steer kept", "follow-up kept"]
    assert result is not None and result.final_output == "re: follow-up kept"


async def test_input_given_after_cancel_is_kept() -> None:
    gate = Gate()
    model = ScriptedModel(
        [call_tool("step", {"name": "slow"}), call_tool("task_finish", {"message": "next"})]
    )
    async with ChatSession(Agent(model=model, tools=[gate.step_tool()])) as chat:
        await chat.prompt("start")
        await gate.entered.wait()
        await chat.follow_up("dropped")
        cancelling = chat.cancel()
        # cancel() clears the queue before it waits; a follow-up given now is not dropped.
        task = asyncio.ensure_future(cancelling)
        await first_entry(chat, of_type("session_input_dropped"))
        kept = await chat.follow_up("kept")
        await task
        result = await chat.wait_idle()
        events = [e.event for e in snapshot(chat)]

    assert result is not None and result.final_output == "next"
    assert [e.text for e in events if isinstance(e, SessionInputDropped)] == ["dropped"]
    assert any(isinstance(e, SessionInputDelivered) and e.input_id == kept.input_id for e in events)


async def test_a_failed_run_drops_the_queue() -> None:
    gate = Gate()
    model = ScriptedModel(
        [call_tool("step", {"name": "slow"}), ModelError("provider down", retryable=False)]
    )
    async with ChatSession(Agent(model=model, tools=[gate.step_tool()])) as chat:
        await chat.prompt("start")
        await gate.entered.wait()
        await chat.follow_up("never runs")
        gate.open()
        result = await chat.wait_idle()
        events = [e.event for e in snapshot(chat)]

    assert result is not None and result.status is RunStatus.FAILED
    dropped = [e for e in events if isinstance(e, SessionInputDropped)]
    assert [(d.text, d.reason) for d in dropped] == [("never runs", "run_failed")]
    assert len(model.requests) == 2


async def test_queue_events_carry_the_session_envelope() -> None:
    async with ChatSession(Agent(model=ScriptedModel(echo_finish))) as chat:
        await chat.prompt("hello")
        await chat.wait_idle()
        own = [e.event for e in snapshot(chat) if e.event.run_id == chat.stream_id]
    queued = own[0]
    assert isinstance(queued, SessionInputQueued) and queued.kind == "prompt"
    assert [e.seq for e in own] == list(range(1, len(own) + 1))  # the session's own sequence
    assert {e.session_id for e in own} == {chat.session_id}
    assert [e.type for e in own] == [
        "session_input_queued",
        "session_input_delivered",
        "session_idle",
    ]


async def test_several_late_steers_start_one_run_and_reach_its_first_model_call() -> None:
    gate = Gate()
    seen: list[list[str]] = []

    def model_fn(request: ModelRequest) -> ModelResponse:
        said = [content_text(m.content) for m in request.messages if isinstance(m, UserMessage)]
        seen.append(said)
        if said[-1] == "wrap up":
            return call_tool("wrap_up", {"summary": "wrapped"})
        return call_tool("task_finish", {"message": "both read"})

    agent = Agent(model=ScriptedModel(model_fn), tools=[gate.finish_tool()])
    async with ChatSession(agent) as chat:
        await chat.prompt("wrap up")
        await gate.entered.wait()
        first = await chat.steer("late one")
        second = await chat.steer("late two")
        gate.open()
        result = await chat.wait_idle()
        events = [e.event for e in snapshot(chat)]

    assert result is not None and result.final_output == "both read"
    assert len(seen) == 2 and seen[1][-2:] == ["late one", "late two"]  # one run, one call
    deliveries = {e.input_id: e.delivery for e in events if isinstance(e, SessionInputDelivered)}
    assert deliveries[first.input_id] == "run_input"
    assert deliveries[second.input_id] == "steering"
