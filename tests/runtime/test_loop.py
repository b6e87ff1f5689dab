"""The cycle loop against the scripted model: control flow, tool batches, bad model output."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from agentcycle import Agent, RunConfig, Runner, StopAtTools, function_tool
from agentcycle.errors import AgentcycleError, ConfigurationError, ModelError
from agentcycle.events import CompletionReason, RunStatus
from agentcycle.messages import (
    AssistantMessage,
    AttachImage,
    ImagePart,
    ToolCall,
    ToolMessage,
    ToolResult,
    UserMessage,
)
from agentcycle.models.base import ModelResponse
from agentcycle.state import RunState
from agentcycle.testing import ScriptedModel, call_tool, reply


def finish(message: str = "done") -> object:
    return call_tool("task_finish", {"message": message})


def tool_results(messages: list) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage)]


def test_task_finish_completes_with_its_message() -> None:
    model = ScriptedModel([finish("all good")])
    result = Runner.run_sync(Agent(model=model), "do it")
    assert result.status is RunStatus.COMPLETED
    assert result.completion_reason is CompletionReason.TOOL_FINISH
    assert result.completion_tool_name == "task_finish"
    assert result.final_output == "all good"
    assert result.cycles == 1


def test_text_reply_does_not_end_the_run_by_default() -> None:
    model = ScriptedModel([reply("I think I'm done"), finish("really done")])
    result = Runner.run_sync(Agent(model=model), "task")
    assert result.final_output == "really done"
    assert result.cycles == 2
    hint = model.requests[1].messages[-1]
    assert isinstance(hint, UserMessage) and hint.synthetic
    assert "task_finish" in hint.content


@pytest.mark.parametrize(
    ("policy", "status", "reason"),
    [
        ("finish", RunStatus.COMPLETED, CompletionReason.NO_TOOL_FINISH),
        ("wait_user", RunStatus.WAIT_USER, CompletionReason.WAIT_USER),
    ],
)
def test_no_tool_policy(policy: str, status: RunStatus, reason: CompletionReason) -> None:
    model = ScriptedModel([reply("the answer is 4")])
    result = Runner.run_sync(Agent(model=model, no_tool_policy=policy), "2+2")
    assert result.status is status
    assert result.completion_reason is reason
    assert result.final_output == "the answer is 4"


def test_no_tool_policy_precedence_run_over_runner_over_agent() -> None:
    agent = Agent(model=ScriptedModel([reply("x")]), no_tool_policy="continue")
    runner = Runner(RunConfig(no_tool_policy="wait_user"))
    assert runner.run_sync(agent, "q").status is RunStatus.WAIT_USER
    agent = Agent(model=ScriptedModel([reply("x")]), no_tool_policy="continue")
    result = runner.run_sync(agent, "q", config=RunConfig(no_tool_policy="finish"))
    assert result.completion_reason is CompletionReason.NO_TOOL_FINISH


def test_ask_user_waits_with_the_question() -> None:
    model = ScriptedModel(
        [call_tool("ask_user", {"question": "Which branch?", "options": ["main", "dev"]})]
    )
    result = Runner.run_sync(Agent(model=model), "deploy")
    assert result.status is RunStatus.WAIT_USER
    assert result.completion_reason is CompletionReason.WAIT_USER
    assert result.final_output == "Which branch?"
    assert result.wait is not None and result.wait["options"] == ["main", "dev"]


def test_max_cycles_keeps_last_text_as_partial_output() -> None:
    model = ScriptedModel([reply(f"step {i}") for i in range(3)])
    result = Runner.run_sync(Agent(model=model, max_cycles=3), "loop")
    assert result.status is RunStatus.MAX_CYCLES
    assert result.completion_reason is CompletionReason.MAX_CYCLES
    assert result.partial_output == "step 2"
    assert result.cycles == 3
    assert model.calls == 3


def test_malformed_arguments_go_back_to_the_model_and_the_run_recovers() -> None:
    model = ScriptedModel(
        [
            call_tool("task_finish", '{"message": "unterminated'),
            call_tool("task_finish", {"message": 42}),
            call_tool("no_such_tool", {}),
            finish("fixed"),
        ]
    )
    result = Runner.run_sync(Agent(model=model), "x")
    assert result.status is RunStatus.COMPLETED
    assert result.final_output == "fixed"
    errors = [json.loads(m.content)["error_code"] for m in tool_results(result.messages)[:3]]
    assert errors == ["invalid_arguments_json", "invalid_tool_arguments", "tool_not_found"]
    details = json.loads(tool_results(result.messages)[1].content)["details"]
    assert details[0]["path"] == "/message" and details[0]["rule"] == "type"


def test_consecutive_invalid_calls_end_the_run_as_a_typed_failure() -> None:
    model = ScriptedModel([call_tool("nope", {}) for _ in range(3)])
    result = Runner.run_sync(Agent(model=model, max_invalid_tool_calls=3), "x")
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "too_many_invalid_tool_calls"


def test_calls_after_a_finish_are_skipped_but_answered() -> None:
    model = ScriptedModel(
        [call_tool([("task_finish", {"message": "bye"}), ("todo_write", {"todos": []})])]
    )
    result = Runner.run_sync(Agent(model=model), "x")
    assert result.final_output == "bye"
    results = tool_results(result.messages)
    assert [r.name for r in results] == ["task_finish", "todo_write"]
    assert json.loads(results[1].content)["error_code"] == "tool_call_skipped"


def test_task_finish_refused_while_todos_are_open() -> None:
    todos = {"todos": [{"title": "write tests", "status": "in_progress", "priority": "high"}]}
    model = ScriptedModel(
        [
            call_tool("todo_write", todos),
            finish("early"),
            call_tool("task_finish", {"message": "anyway", "require_all_todos_completed": False}),
        ]
    )
    result = Runner.run_sync(Agent(model=model), "x")
    refusal = json.loads(tool_results(result.messages)[1].content)
    assert refusal["error_code"] == "todo_incomplete"
    assert refusal["details"][0]["title"] == "write tests"
    assert result.final_output == "anyway"
    assert [t.title for t in result.todos] == ["write tests"]


async def test_read_only_tools_of_one_batch_run_concurrently() -> None:
    both_started = asyncio.Event()
    started = 0

    @function_tool(read_only=True)
    async def probe(n: int) -> str:
        """Wait until both probes run."""
        nonlocal started
        started += 1
        if started == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), timeout=5)
        return f"probe {n}"

    model = ScriptedModel([call_tool([("probe", {"n": 1}), ("probe", {"n": 2})]), finish()])
    result = await Runner.run(Agent(model=model, tools=[probe]), "x")
    assert [r.content for r in tool_results(result.messages)[:2]] == ["probe 1", "probe 2"]


async def test_tools_with_side_effects_run_in_order() -> None:
    order: list[str] = []

    @function_tool
    async def step(name: str) -> str:
        """Record a step."""
        order.append(f"start {name}")
        await asyncio.sleep(0)
        order.append(f"end {name}")
        return name

    model = ScriptedModel([call_tool([("step", {"name": "a"}), ("step", {"name": "b"})]), finish()])
    await Runner.run(Agent(model=model, tools=[step]), "x")
    assert order == ["start a", "end a", "start b", "end b"]


def test_tool_exceptions_and_timeouts_become_error_results() -> None:
    @function_tool
    def broken() -> str:
        """Always fails."""
        raise RuntimeError("disk on fire")

    @function_tool(timeout_seconds=0.05)
    async def slow() -> str:
        """Never returns in time."""
        await asyncio.Event().wait()
        return "unreachable"

    model = ScriptedModel([call_tool("broken", {}), call_tool("slow", {}), finish()])
    result = Runner.run_sync(Agent(model=model, tools=[broken, slow]), "x")
    first, second = (json.loads(m.content) for m in tool_results(result.messages)[:2])
    assert first["error_code"] == "tool_execution_failed" and "disk on fire" in first["error"]
    assert second["error_code"] == "tool_timeout"
    assert result.status is RunStatus.COMPLETED


def test_typed_errors_raised_by_tools_keep_their_code() -> None:
    @function_tool
    def locked() -> str:
        """Refuses with a typed error."""
        raise AgentcycleError("the vault is locked", code="vault_locked", details={"vault": 7})

    model = ScriptedModel([call_tool("locked", {}), finish()])
    result = Runner.run_sync(Agent(model=model, tools=[locked]), "x")
    body = json.loads(tool_results(result.messages)[0].content)
    assert body == {
        "ok": False,
        "error_code": "vault_locked",
        "error": "the vault is locked",
        "details": {"vault": 7},
    }


def test_stop_on_first_tool_returns_that_tools_output() -> None:
    @function_tool
    def lookup(order_id: str) -> str:
        """Read one order."""
        return f"order {order_id}: shipped"

    model = ScriptedModel([call_tool("lookup", {"order_id": "7"})])
    agent = Agent(model=model, tools=[lookup], tool_use_behavior="stop_on_first_tool")
    result = Runner.run_sync(agent, "status of 7")
    assert result.completion_reason is CompletionReason.STOP_ON_FIRST_TOOL
    assert result.final_output == "order 7: shipped"


def test_stop_at_tool_names() -> None:
    @function_tool
    def search(q: str) -> str:
        """Search."""
        return "hits"

    @function_tool
    def answer(text: str) -> str:
        """Answer."""
        return text

    model = ScriptedModel([call_tool("search", {"q": "x"}), call_tool("answer", {"text": "42"})])
    agent = Agent(model=model, tools=[search, answer], tool_use_behavior=StopAtTools(("answer",)))
    result = Runner.run_sync(agent, "q")
    assert result.completion_reason is CompletionReason.STOP_AT_TOOL_NAME
    assert result.completion_tool_name == "answer"
    assert result.final_output == "42"


class Verdict(BaseModel):
    approved: bool
    reasons: list[str]


def test_output_type_makes_final_output_typed() -> None:
    model = ScriptedModel(
        [
            call_tool("task_finish", {"message": "m"}),
            call_tool("task_finish", {"message": "m", "output": {"approved": "maybe"}}),
            call_tool(
                "task_finish", {"message": "m", "output": {"approved": True, "reasons": ["ok"]}}
            ),
        ]
    )
    result = Runner.run_sync(Agent(model=model, output_type=Verdict), "review")
    assert result.final_output == Verdict(approved=True, reasons=["ok"])
    codes = [json.loads(m.content).get("error_code") for m in tool_results(result.messages)]
    assert codes[:2] == ["invalid_tool_arguments", "invalid_tool_arguments"]
    schema = model.requests[0].request.tools[0].parameters
    assert "output" in schema["required"]


def test_model_errors_fail_the_run_with_their_code() -> None:
    model = ScriptedModel([ModelError("refused", code="content_filtered")])
    result = Runner.run_sync(Agent(model=model), "x")
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error["code"] == "content_filtered"


def test_no_model_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no model"):
        Runner.run_sync(Agent(), "x", config=RunConfig(settings_file=None))


async def test_run_sync_inside_an_event_loop_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="running event loop"):
        Runner.run_sync(Agent(model=ScriptedModel([finish()])), "x")


def test_state_is_a_spec_plus_one_record_per_cycle_and_round_trips() -> None:
    model = ScriptedModel([reply("thinking"), call_tool("todo_write", {"todos": []}), finish()])
    result = Runner.run_sync(Agent(model=model), "x")
    state = result.to_state()
    assert [c.index for c in state.cycles] == [1, 2, 3]
    assert [m.role for m in state.cycles[0].messages] == ["assistant", "user"]
    restored = RunState.from_json(state.to_json())
    assert restored.messages() == result.messages
    assert restored.status is RunStatus.COMPLETED


def test_history_messages_are_appended_not_copied() -> None:
    model = ScriptedModel([call_tool("todo_write", {"todos": []}), finish()])
    result = Runner.run_sync(Agent(model=model), "x")
    first, second = model.requests
    assert second.request.messages is first.request.messages  # one list, appended in place
    assert len(second.messages) == len(first.messages) + 2
    assert isinstance(result.messages[2], AssistantMessage)


async def test_cancel_stops_a_running_tool_and_pairs_history() -> None:
    entered = asyncio.Event()

    @function_tool
    async def hang() -> str:
        """Never finishes."""
        entered.set()
        await asyncio.Event().wait()
        return "unreachable"

    model = ScriptedModel([call_tool("hang", {})])
    handle = await Runner.start(Agent(model=model, tools=[hang]), "x")
    await asyncio.wait_for(entered.wait(), timeout=5)
    await handle.cancel("user pressed stop")
    await handle.cancel("again")  # idempotent
    result = await handle.result()
    assert result.status is RunStatus.CANCELLED
    types = [e.type for e in [e async for e in handle.events()]]
    assert types.count("run_cancelled") == 1 and types[-1] == "run_cancelled"
    assert isinstance(result.messages[-1], ToolMessage)
    assert result.messages[-1].tool_call_id == result.messages[-2].tool_calls[0].id


def test_images_from_tools_are_attached_to_the_next_model_turn() -> None:
    @function_tool
    def snapshot() -> ToolResult:
        """Return an image for the model."""
        image = AttachImage(media_type="image/png", data="iVBORw0KGgo=", label="chart.png")
        return ToolResult.success("image attached", directive=image)

    model = ScriptedModel([call_tool("snapshot", {}), finish()])
    Runner.run_sync(Agent(model=model, tools=[snapshot]), "x")
    seen = model.requests[1].messages
    assert isinstance(seen[-2], ToolMessage) and seen[-2].content == "image attached"
    attached = seen[-1]
    assert isinstance(attached, UserMessage) and attached.synthetic
    image = next(p for p in attached.content if isinstance(p, ImagePart))
    assert image.as_url() == "data:image/png;base64,iVBORw0KGgo="


def test_metadata_is_for_the_host_and_never_steers_the_loop() -> None:
    # The keys tools once steered the loop with are plain host data now: only a typed
    # directive finishes, waits, hands off, activates a skill or attaches an image.
    @function_tool
    def noisy() -> ToolResult:
        """Return host metadata."""
        metadata = {
            "output": "not final",
            "message": "not final",
            "question": "not asked",
            "handoff": {"target": "elsewhere", "input": "x"},
            "skill": {"name": "s", "instructions": "i", "allowed_tools": None, "reason": None},
            "image": {"media_type": "image/png", "data": "iVBORw0KGgo=", "label": "x.png"},
        }
        return ToolResult.success("noted", metadata=metadata)

    model = ScriptedModel([call_tool("noisy", {}), finish("the end")])
    result = Runner.run_sync(Agent(model=model, tools=[noisy]), "x")
    assert result.completed and result.final_output == "the end"
    assert result.cycles == 2
    second = model.requests[1].messages
    assert isinstance(second[-1], ToolMessage) and second[-1].content == "noted"


def test_a_repeated_tool_call_id_runs_once_and_history_stays_valid() -> None:
    runs: list[int] = []

    @function_tool
    def record(n: int) -> str:
        """Record a number."""
        runs.append(n)
        return f"recorded {n}"

    same_id = (ToolCall(id="call_x", name="record", arguments='{"n": 1}'),) * 2 + (
        ToolCall(id="call_x", name="record", arguments='{"n": 3}'),
    )
    model = ScriptedModel([ModelResponse(tool_calls=same_id), finish()])
    result = Runner.run_sync(Agent(model=model, tools=[record]), "x")
    assert result.completed
    assert runs == [1]  # the first call ran; the repeats were refused, not run again
    (assistant,) = [m for m in result.messages if isinstance(m, AssistantMessage) and m.tool_calls][
        :1
    ]
    ids = [c.id for c in assistant.tool_calls]
    assert ids == ["call_x", "call_x_repeat2", "call_x_repeat3"]
    results = [m for m in result.messages if isinstance(m, ToolMessage)][:3]
    assert [m.tool_call_id for m in results] == ids  # one result per call, ids unique
    assert [m.is_error for m in results] == [False, True, True]
    assert "duplicate_tool_call_id" in str(results[1].content)
    # What the model sees next pairs every call with exactly one result.
    assert model.requests[1].messages[-3:] == results
