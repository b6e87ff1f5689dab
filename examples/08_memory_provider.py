"""Long-term memory: session notes and a memory provider backed by a JSON file.

- ``KeywordNotebook`` is a ``MemoryProvider``: ``search`` ranks its notes by the words they
  share with the request, ``save`` appends notes to a JSON file, and ``after_compaction`` keeps
  a line for each tool result a compaction removed from the model's context.
- Session memory (``MemoryPolicy(session_memory=SessionMemory())``) is on for the first
  conversation: when the run ends, one extraction call turns the conversation into notes,
  stored in ``.agentcycle/memory/<session>.json`` in the workspace and handed to the
  notebook's ``save``.
- A later run in a *new* conversation recalls from the notebook: the notes most relevant to
  its request are in its system prompt.

Run: python examples/08_memory_provider.py
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from agentcycle import Agent, RunConfig, Runner, function_tool
from agentcycle.memory import (
    CompactionNotice,
    CompactionRecord,
    MemoryItem,
    MemoryPolicy,
    SessionMemory,
)
from agentcycle.messages import ToolMessage
from agentcycle.models.base import ModelRequest, ModelResponse
from agentcycle.sessions import MemorySession
from agentcycle.testing import ScriptedModel, call_tool, reply


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


class KeywordNotebook:
    """Notes in a JSON file; search by shared words."""

    name = "notebook"

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> list[dict[str, str]]:
        return json.loads(self.path.read_text()) if self.path.exists() else []

    async def search(self, query: str, limit: int) -> list[MemoryItem]:
        asked = words(query)
        scored = [(len(asked & words(n["text"])), n) for n in self._load()]
        best = sorted((s for s in scored if s[0]), key=lambda s: -s[0])[:limit]
        return [MemoryItem(n["text"], kind=n["kind"], score=score) for score, n in best]

    async def save(self, items: Sequence[MemoryItem]) -> None:
        notes = self._load() + [{"kind": i.kind, "text": i.text} for i in items]
        self.path.write_text(json.dumps(notes, indent=1))

    async def before_compaction(self, notice: CompactionNotice) -> None:
        """Nothing to do before; everything worth keeping arrives afterwards."""

    async def after_compaction(self, record: CompactionRecord) -> None:
        removed = [m for m in record.removed if isinstance(m, ToolMessage)]
        await self.save([MemoryItem(m.content[:200], kind=f"tool:{m.name}") for m in removed])


@function_tool
def export_invoices(month: str) -> str:
    """Export a month's invoices."""
    return f"Exported 42 invoices for {month} to exports/{month}.csv"


def first_conversation(request: ModelRequest) -> ModelResponse:
    """A stand-in for an LLM: exports, finishes, and answers the extraction call with notes."""
    if request.operation == "session_memory":
        notes = {
            "user_intent": ["Monthly invoice exports for the accounting team"],
            "decisions": ["Invoices are exported as CSV, one file per month"],
            "file_changes": ["exports/2024-05.csv: 42 invoices"],
        }
        return reply(json.dumps(notes))
    if request.cycle_index == 1:
        return call_tool("export_invoices", {"month": "2024-05"})
    return call_tool("task_finish", {"message": "May is exported."})


def later_conversation(request: ModelRequest) -> ModelResponse:
    """Answers from what its system prompt recalls."""
    prompt = str(request.messages[0].content)
    recalled = [line for line in prompt.splitlines() if line.startswith("- [decision]")]
    answer = recalled[0].removeprefix("- [decision] ") if recalled else "I do not know."
    return call_tool("task_finish", {"message": answer})


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        notebook = KeywordNotebook(Path(folder) / "notebook.json")
        # The demo conversation is short; by default (200 tokens) a trivial exchange is not
        # worth an extraction call.
        memory = MemoryPolicy(session_memory=SessionMemory(end_min_tokens=50))
        agent = Agent(
            model=ScriptedModel(first_conversation),
            tools=[export_invoices],
            memory_providers=[notebook],
        )
        config = RunConfig(session=MemorySession("accounting"), memory=memory, workspace=folder)
        result = Runner.run_sync(agent, "Export the invoices for May 2024.", config=config)
        extraction = [c for c in result.model_calls if c.operation == "session_memory"]
        print(f"first run: {result.final_output} ({len(extraction)} extraction call)")
        stored = json.loads((Path(folder) / ".agentcycle/memory/accounting.json").read_text())
        print(f"session notes stored: {len(stored['notes'])}")

        later = Agent(model=ScriptedModel(later_conversation), memory_providers=[notebook])
        answer = Runner.run_sync(later, "In which format should the June invoices be exported?")
        print(f"new conversation recalled: {answer.final_output}")


if __name__ == "__main__":
    main()
