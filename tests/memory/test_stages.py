"""Each compaction stage on hand-built histories."""

from __future__ import annotations

import json
from collections.abc import Sequence

from agentcycle.memory.compaction import (
    ARCHIVED_PREFIX,
    CompactionResult,
    Compactor,
    is_memory_note,
    memory_note,
)
from agentcycle.memory.policy import MemoryPolicy
from agentcycle.memory.tokens import TokenEstimator
from agentcycle.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolMessage,
    UserMessage,
    content_text,
)
from agentcycle.workspace.output_bounds import artifact_path_in

ESTIMATOR = TokenEstimator("chars")
SYSTEM = SystemMessage(content="You are helpful.")
REQUEST = UserMessage(content="Do the task.")
PINNED = "## Current TODO list\n- [in_progress] (high) the plan (id t1)"


class Host:
    """A compaction host that archives into a dict and summarises with a fixed text."""

    def __init__(self, *, workspace: bool = True, summary: str | Exception = "S") -> None:
        self.workspace = workspace
        self.summary = summary
        self.archived: dict[str, str] = {}
        self.summarized: list[list[Message]] = []
        self.files_asked: list[bool] = []

    async def archive(self, message: ToolMessage, text: str) -> str | None:
        if not self.workspace:
            return None
        path = f"archive/{message.tool_call_id}.txt"
        self.archived[path] = text
        return path

    async def summarize(self, messages: Sequence[Message]) -> str:
        self.summarized.append(list(messages))
        if isinstance(self.summary, Exception):
            raise self.summary
        return self.summary

    async def pinned_notes(self, *, with_files: bool) -> str:
        self.files_asked.append(with_files)
        return PINNED + ("\n## Files modified\n- notes.md" if with_files else "")


def turn(n: int, chars: int = 3_000, *, tool: str = "fetch", reasoning: str | None = None):
    call = ToolCall(id=f"c{n}", name=tool)
    return [
        AssistantMessage(tool_calls=(call,), reasoning=reasoning),
        ToolMessage(tool_call_id=f"c{n}", name=tool, content=f"result {n} " + "r" * chars),
    ]


def history(*turns: list[Message], head: Sequence[Message] = (SYSTEM, REQUEST)) -> list[Message]:
    out = list(head)
    for t in turns:
        out.extend(t)
    return out


async def compact(
    messages: list[Message],
    target: int,
    host: Host,
    *,
    emergency: bool = False,
    **policy: object,
) -> CompactionResult:
    compactor = Compactor(MemoryPolicy(**policy), ESTIMATOR)  # type: ignore[arg-type]
    tokens = [ESTIMATOR.message(m) for m in messages]
    return await compactor.compact(
        messages, tokens, fixed=0, target=target, hard_limit=None, emergency=emergency, host=host
    )


def total(result: CompactionResult) -> int:
    return sum(ESTIMATOR.message(m) for m in result.messages)


async def test_micro_archives_old_large_results_oldest_first_until_under_target() -> None:
    messages = history(*(turn(n) for n in range(1, 7)))
    full = sum(ESTIMATOR.message(m) for m in messages)
    host = Host()
    result = await compact(messages, full - 1_000, host)
    assert result.mode == "micro"
    assert total(result) <= full - 1_000
    assert [r["tool_call_id"] for r in result.dropped] == ["c1", "c2"]  # stopped once under
    stub = result.messages[3]
    assert isinstance(stub, ToolMessage) and stub.tool_call_id == "c1"
    text = content_text(stub.content)
    assert text.startswith(ARCHIVED_PREFIX) and "fetch" in text and "archive/c1.txt" in text
    assert "result 1 rrr" in text  # the excerpt
    assert host.archived["archive/c1.txt"] == content_text(messages[3].content)
    assert result.archived == 2
    assert result.messages[6:] == messages[6:]  # the rest untouched
    assert [r["tokens"] > 0 for r in result.dropped] == [True, True]


async def test_micro_spares_recent_cycles_small_results_the_plan_and_skills() -> None:
    messages = history(
        turn(0, tool="activate_skill"),
        turn(1, tool="todo_write"),
        turn(2, 100),
        *(turn(n) for n in range(3, 6)),
    )
    result = await compact(messages, 0, Host(), summary=False)
    archived = [r["tool_call_id"] for r in result.dropped if r["stage"] == "micro"]
    assert archived == []  # skill, todo list, a small result, then only the last 3 cycles
    assert result.messages == messages


async def test_micro_without_a_workspace_says_the_text_was_not_kept() -> None:
    messages = history(*(turn(n) for n in range(1, 6)))
    result = await compact(messages, 0, Host(workspace=False), summary=False)
    stubs = [r for r in result.dropped if r["stage"] == "micro"]
    assert [r["artifact"] for r in stubs] == [None, None]
    assert result.archived == 0
    assert "not kept (no workspace" in content_text(result.messages[3].content)


def test_a_bounded_preview_names_its_artifact() -> None:
    path = ".agentcycle/artifacts/run_1/call_7.txt"
    preview = f"head\n\n[... 10 characters omitted. The full output is saved at {path}; read it"
    assert artifact_path_in(preview) == path
    assert artifact_path_in("plain output") is None


async def test_structural_drops_old_reasoning_collapses_replies_and_trims_images() -> None:
    image = UserMessage(
        content=[TextPart(text="[image attached]"), ImagePart(data="A" * 5_000)], synthetic=True
    )
    hint = UserMessage(content="Call a tool or finish.", synthetic=True)
    messages = history(
        turn(1, 10, reasoning="long thoughts " * 50),
        [image],
        [AssistantMessage(content="first"), hint, AssistantMessage(content="second"), hint],
        [AssistantMessage(content="third")],
        *(turn(n, 10, reasoning="recent thoughts") for n in range(2, 5)),
    )
    result = await compact(messages, 0, Host(), summary=False)
    assert result.mode == "structural"
    record = next(r for r in result.dropped if r["stage"] == "structural")
    assert record["reasoning"] == 1 and record["images"] == 1
    assert record["collapsed_replies"] == 2
    assistants = [m for m in result.messages if isinstance(m, AssistantMessage)]
    assert assistants[0].reasoning is None
    assert [m.reasoning for m in assistants[-3:]] == ["recent thoughts"] * 3
    collapsed = assistants[1]
    assert collapsed.content.endswith("third") and "2 earlier replies" in collapsed.content
    trimmed = result.messages[4]
    assert isinstance(trimmed, UserMessage) and not isinstance(trimmed.content, str)
    assert not any(isinstance(p, ImagePart) for p in trimmed.content)


async def test_structural_keeps_images_of_the_latest_user_message() -> None:
    latest = UserMessage(content=[TextPart(text="look"), ImagePart(url="https://x/a.png")])
    messages = history(turn(1, 10), [latest], *(turn(n, 10) for n in range(2, 5)))
    result = await compact(messages, 0, Host(), summary=False)
    assert latest in result.messages


async def test_pairing_is_repaired_orphans_dropped_and_missing_results_filled() -> None:
    calls = (ToolCall(id="a", name="x"), ToolCall(id="b", name="y"))
    messages: list[Message] = [
        SYSTEM,
        REQUEST,
        ToolMessage(tool_call_id="zz", name="x", content="orphan"),
        AssistantMessage(tool_calls=calls),
        ToolMessage(tool_call_id="a", name="x", content="ok"),
        UserMessage(content="next", synthetic=True),
    ]
    result = await compact(messages, 10**9, Host())
    roles = [(m.role, getattr(m, "tool_call_id", None)) for m in result.messages]
    assert roles == [
        ("system", None),
        ("user", None),
        ("assistant", None),
        ("tool", "a"),
        ("tool", "b"),
        ("user", None),
    ]
    filled = result.messages[4]
    assert isinstance(filled, ToolMessage) and filled.name == "y"
    assert json.loads(content_text(filled.content))["error_code"] == "result_compacted"
    assert result.dropped == [
        {"stage": "structural", "pairing": {"orphan_results": 1, "missing_results": 1}}
    ]


async def test_summary_replaces_the_middle_and_keeps_pinned_and_recent_messages() -> None:
    latest = UserMessage(content="Also do X.")
    old_note = memory_note("older summary", PINNED)
    messages = history(
        [old_note],
        turn(1, 100),
        [latest],
        turn(2, 100),
        *(turn(n, 100) for n in range(3, 6)),
    )
    host = Host(summary="what happened")
    room = sum(ESTIMATOR.message(m) for m in [*messages[:2], *messages[8:]]) + 20
    result = await compact(messages, room, host, micro_min_chars=10**6)
    assert result.mode == "summary"
    assert host.summarized == [messages[2:8]]  # old note, turns 1-2 and the latest message
    kept = result.messages
    assert kept[:2] == [SYSTEM, REQUEST]
    assert is_memory_note(kept[2])
    note = content_text(kept[2].content)
    assert "what happened" in note and PINNED in note and "notes.md" in note
    assert kept[3] == latest
    assert kept[4:] == messages[8:]  # the last three cycles as they were
    assert sum(is_memory_note(m) for m in kept) == 1
    record = next(r for r in result.dropped if r["stage"] == "summary")
    assert record["summarized_by"] == "model" and record["tool_call_ids"] == ["c1", "c2"]
    assert record["messages"] == 5


async def test_summary_falls_back_to_a_local_summary_when_the_call_fails() -> None:
    from agentcycle.errors import ModelError

    messages = history(*(turn(n, 100) for n in range(1, 7)))
    failing = Host(summary=ModelError("down", code="server_error"))
    first = await compact(messages, 0, failing, micro_min_chars=10**6)
    again = await compact(messages, 0, Host(summary=ModelError("down")), micro_min_chars=10**6)
    note = content_text(first.messages[2].content)
    # Nothing fits the target, so only the last cycle stays verbatim: 5 turns summarised.
    assert "local summary" in note and "fetch x5" in note and PINNED in note
    record = next(r for r in first.dropped if r["stage"] == "summary")
    assert record["summarized_by"] == "local" and record["error"] == "server_error"
    assert first.messages == again.messages  # deterministic


async def test_emergency_drops_oldest_unpinned_turns_but_never_pinned_or_the_last_turn() -> None:
    latest = UserMessage(content="Latest instruction.")
    messages = history(*(turn(n, 500) for n in range(1, 5)), [latest], turn(5, 500))
    target = sum(ESTIMATOR.message(m) for m in messages) // 3
    result = await compact(messages, target, Host(), emergency=True, summary=False)
    assert result.mode == "emergency"
    kept = result.messages
    assert kept[:2] == [SYSTEM, REQUEST] and latest in kept
    assert kept[-2:] == messages[-2:]  # the last turn
    note = next(m for m in kept if is_memory_note(m))
    assert "earlier messages were dropped" in content_text(note.content)
    record = next(r for r in result.dropped if r["stage"] == "emergency")
    assert record["tool_call_ids"] == ["c1", "c2", "c3", "c4"][: len(record["tool_call_ids"])]
    assert total(result) <= target
    assert all(isinstance(m, ToolMessage) for m in kept[kept.index(kept[-2]) + 1 :])


async def test_without_permission_there_is_no_emergency_stage() -> None:
    messages = history(*(turn(n, 500) for n in range(1, 6)))
    result = await compact(messages, 10, Host(), summary=False, micro_min_chars=10**6)
    assert result.mode == "micro"
    assert result.messages == messages
    assert result.dropped == []
