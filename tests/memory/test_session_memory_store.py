"""Session memory stores, the extraction format and the prompt section, on their own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcycle.errors import InvalidNotesExtraction, SessionMemoryCorrupt
from agentcycle.memory import (
    InMemorySessionMemoryStore,
    SessionMemoryStore,
    SessionNote,
    WorkspaceSessionMemoryStore,
)
from agentcycle.memory.notes import parse_extraction
from agentcycle.memory.session import render_session_notes
from agentcycle.workspace.local import LocalWorkspaceBackend
from agentcycle.workspace.memory import MemoryWorkspaceBackend


def note(text: str, category: Any = "key_fact") -> SessionNote:
    return SessionNote(category=category, text=text, run_id="run_1", created_at=1.0)


@pytest.fixture(params=["in_memory", "local", "memory_workspace", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SessionMemoryStore]:
    if request.param == "in_memory":
        yield InMemorySessionMemoryStore()
    elif request.param == "local":
        yield WorkspaceSessionMemoryStore(tmp_path)
    elif request.param == "memory_workspace":
        yield WorkspaceSessionMemoryStore(MemoryWorkspaceBackend())
    else:
        from tests.conftest import S3_CREDENTIALS, S3_REGION

        from agentcycle.workspace.s3 import S3WorkspaceBackend

        bucket = request.getfixturevalue("s3_bucket")
        endpoint = request.getfixturevalue("s3_endpoint")
        yield WorkspaceSessionMemoryStore(
            S3WorkspaceBackend(
                bucket,
                endpoint_url=endpoint,
                region=S3_REGION,
                credentials=S3_CREDENTIALS,
                addressing_style="path",
            )
        )


async def test_a_store_appends_new_notes_once_and_keeps_the_newest(
    store: SessionMemoryStore,
) -> None:
    assert await store.load("s1") == []
    first = await store.add("s1", [note("a"), note("b")], max_notes=3)
    assert (first.added, first.dropped, first.total) == (2, 0, 2)
    again = await store.add("s1", [note("A"), note("b", "decision"), note("c")], max_notes=3)
    # "A" repeats "a" (case aside); "b" as a decision is a different note.
    assert (again.added, again.dropped, again.total) == (2, 1, 3)
    assert [(n.category, n.text) for n in await store.load("s1")] == [
        ("key_fact", "b"),
        ("decision", "b"),
        ("key_fact", "c"),
    ]
    assert await store.load("s2") == []
    await store.clear("s1")
    assert await store.load("s1") == []
    await store.clear("s1")  # clearing nothing is fine


async def test_the_workspace_file_is_the_documented_json(tmp_path: Path) -> None:
    store = WorkspaceSessionMemoryStore(LocalWorkspaceBackend(tmp_path))
    await store.add("chat-42", [note("the port is 8443")], max_notes=10)
    document = json.loads((tmp_path / ".agentcycle/memory/chat-42.json").read_text())
    assert document["format"] == "agentcycle.session_memory" and document["version"] == 1
    assert document["notes"] == [
        {"category": "key_fact", "text": "the port is 8443", "run_id": "run_1", "created_at": 1.0}
    ]
    # Replaced atomically: no temporary file is left next to it.
    assert [p.name for p in (tmp_path / ".agentcycle/memory").iterdir()] == ["chat-42.json"]


async def test_an_id_that_is_not_a_plain_name_never_becomes_a_path(tmp_path: Path) -> None:
    store = WorkspaceSessionMemoryStore(tmp_path)
    for session_id in ("../../etc/passwd", "user/7", ".hidden", "ü"):
        path = store.path(session_id)
        assert path.startswith(".agentcycle/memory/+") and path.count("/") == 2
        await store.add(session_id, [note(session_id)], max_notes=5)
        assert [n.text for n in await store.load(session_id)] == [session_id]
    assert len(list((tmp_path / ".agentcycle/memory").iterdir())) == 4


async def test_a_file_that_is_not_this_sessions_notes_is_corrupt(tmp_path: Path) -> None:
    store = WorkspaceSessionMemoryStore(tmp_path)
    await store.add("s1", [note("x")], max_notes=5)
    (tmp_path / ".agentcycle/memory/s1.json").rename(tmp_path / ".agentcycle/memory/s2.json")
    with pytest.raises(SessionMemoryCorrupt, match="belongs to session 's1'"):
        await store.load("s2")
    (tmp_path / ".agentcycle/memory/s3.json").write_text('{"format": "other"}')
    with pytest.raises(SessionMemoryCorrupt):
        await store.add("s3", [note("y")], max_notes=5)
    assert (tmp_path / ".agentcycle/memory/s3.json").read_text() == '{"format": "other"}'


def test_an_extraction_is_parsed_into_clipped_notes_in_category_order() -> None:
    answer = json.dumps(
        {
            "key_facts": ["  spaced\n  out  ", "x" * 50],
            "user_intent": ["wants CSV"],
            "decisions": ["", "   "],
        }
    )
    notes = parse_extraction(answer, run_id="r", created_at=5.0, max_note_chars=20)
    assert [(n.category, n.text) for n in notes] == [
        ("user_intent", "wants CSV"),
        ("key_fact", "spaced out"),
        ("key_fact", "x" * 17 + "..."),
    ]
    assert parse_extraction("{}", run_id=None, created_at=0.0, max_note_chars=20) == []


@pytest.mark.parametrize(
    "answer",
    ["", "notes: none", "[]", '{"key_facts": [1, 2]}', '{"key_facts": null}', '{"extra": []}'],
)
def test_anything_but_the_asked_object_is_an_invalid_extraction(answer: str) -> None:
    with pytest.raises(InvalidNotesExtraction):
        parse_extraction(answer, run_id=None, created_at=0.0, max_note_chars=100)


def test_the_prompt_section_keeps_the_newest_notes_that_fit() -> None:
    notes = [note(f"fact number {i}") for i in range(50)] + [note("wants a PDF", "user_intent")]
    section = render_session_notes(notes, 200)
    assert len(section) <= 200
    assert section.startswith("## Session memory")
    assert "wants a PDF" in section and "fact number 49" in section
    assert "fact number 0\n" not in section
    # Grouped: the user intent comes first, the facts oldest first below it.
    assert section.index("### User intent") < section.index("### Key facts")
    assert section.index("fact number 48") < section.index("fact number 49")
    assert render_session_notes([], 200) == ""
    assert render_session_notes([note("x" * 500)], 200) == ""
