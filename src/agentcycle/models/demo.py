"""The offline ``demo`` backend: a deterministic planner that drives the real tools.

It needs no key and no network, so a new user sees a real run on any folder: it plans with
``todo_write``, lists the top of the workspace with ``find_files`` (and looks deeper for key
files when the top holds none or is too large to list at once), reads up to three files, writes
``REPORT.md`` when the request asks for a summary, marks the plan done and calls
``task_finish``, streaming the same events a real model produces. Any other request is declined
plainly: the final message says the demo follows a fixed plan and how to run a real model.

Each step is decided from the request alone (the history and the offered tools), so the planner
is stateless and resumable; a second run reads the earlier ``REPORT.md`` before replacing it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from agentcycle._json import dumps
from agentcycle.messages import AssistantMessage, ToolCall, ToolMessage, UserMessage, content_text
from agentcycle.models._demo_report import (
    REPORT,
    Findings,
    Listing,
    ReadFile,
    is_report_request,
    loads,
    pick_files,
    render_report,
)
from agentcycle.models._playback import play_response
from agentcycle.models.base import ModelInfo, ModelRequest, ModelResponse, ModelStreamItem

DEMO_BACKEND = "demo"
DEMO_MODEL = "demo-planner"

REAL_MODEL_HINT = (
    "To run a real model: `--model openai:gpt-4.1-mini` with OPENAI_API_KEY set, "
    "`--model anthropic:claude-sonnet-4-5` with ANTHROPIC_API_KEY, or `--model ollama:qwen2.5` "
    "with a local Ollama."
)
"""How to leave the demo, as the final message says it."""

_READ_LIMIT = 3
_TOP = {"path": ".", "glob": "*", "max_results": 200}
_DEEP = {
    "path": ".",
    "glob": "**/{README*,readme*,REPORT.md,*.md,*.toml,*.json,*.py,*.txt}",
    "max_results": 50,
}


@dataclass(frozen=True, slots=True)
class _Step:
    """One tool call since the request, with its result (``None`` while unanswered)."""

    name: str
    arguments: dict[str, Any]
    result: str | None
    failed: bool


class _History:
    """The tool calls made since the request, by tool."""

    def __init__(self, task: str, steps: list[_Step]) -> None:
        self.task = task
        self.steps = steps

    def calls(self, name: str) -> list[_Step]:
        return [step for step in self.steps if step.name == name]

    def listing(self, arguments: dict[str, Any]) -> Listing | None:
        """The answer to the ``find_files`` call with these arguments, if it was made."""
        for step in self.calls("find_files"):
            if step.arguments.get("glob") == arguments["glob"]:
                return Listing.parse(step.result or "")
        return None

    def listings(self) -> list[Listing]:
        return [Listing.parse(step.result or "") for step in self.calls("find_files")]

    def read_paths(self) -> list[str]:
        return [str(step.arguments.get("path", "")) for step in self.calls("read_file")]


class DemoModel:
    """The offline demo planner (``--backend demo``)."""

    def __init__(self, *, chunk_chars: int = 16) -> None:
        self._chunk = chunk_chars
        self._ids = 0
        self.info = ModelInfo(context_length=128_000, max_output_tokens=4_096)

    @property
    def name(self) -> str:
        """``demo-planner``."""
        return DEMO_MODEL

    @property
    def backend(self) -> str | None:
        """``demo``."""
        return DEMO_BACKEND

    async def stream(self, request: ModelRequest) -> AsyncIterator[ModelStreamItem]:
        """Decide the next step from the request and stream it."""
        response = self._next_step(request)
        async for item in play_response(response, self._chunk):
            yield item

    # ------------------------------------------------------------------ planning

    def _calls(self, text: str, name: str, *arguments: dict[str, Any]) -> ModelResponse:
        self._ids += 1
        calls = tuple(
            ToolCall(id=f"demo_{self._ids}_{i}", name=name, arguments=dumps(args))
            for i, args in enumerate(arguments)
        )
        return ModelResponse(text=text, tool_calls=calls, finish_reason="tool_calls")

    def _next_step(self, request: ModelRequest) -> ModelResponse:
        history = _history(request)
        # Ids go on past those in the conversation: a resumed run's earlier calls were made by
        # another process's planner, and a reused id would pair a call with another's result.
        self._ids = max(self._ids, _last_id(request))
        offered = set(request.tool_names())
        steps: list[Callable[[_History], ModelResponse | None]] = [self._plan]
        if {"find_files", "read_file", "write_file"} <= offered:
            steps += [self._survey, self._look_deeper, self._read, self._report]
        steps += [self._complete_plan]
        for step in steps:
            response = step(history)
            if response is not None:
                return response
        return self._finish(history)

    def _plan(self, history: _History) -> ModelResponse | None:
        if history.calls("todo_write"):
            return None
        return self._calls(
            "Planning the work first.",
            "todo_write",
            {"todos": _todos(history.task, ("in_progress", "pending", "pending"))},
        )

    def _survey(self, history: _History) -> ModelResponse | None:
        if history.listing(_TOP) is not None:
            return None
        return self._calls("Listing the top of the workspace.", "find_files", _TOP)

    def _look_deeper(self, history: _History) -> ModelResponse | None:
        """When the top level holds nothing to read, or more than one listing shows."""
        top = history.listing(_TOP)
        if top is None or history.listing(_DEEP) is not None or history.read_paths():
            return None
        if not top.entries or (pick_files([top], 1) and not top.truncated):
            return None
        return self._calls("Looking deeper for key files.", "find_files", _DEEP)

    def _read(self, history: _History) -> ModelResponse | None:
        reads = history.read_paths()
        writes = history.calls("write_file")
        # An earlier report not seen in a listing is read once the write asks for it.
        if writes and REPORT not in reads and "file_not_read" in (writes[-1].result or ""):
            return self._calls(
                f"Reading the earlier {REPORT} first.", "read_file", {"path": REPORT}
            )
        if reads or writes:
            return None
        listings = history.listings()
        files = pick_files(listings, _READ_LIMIT)
        if is_report_request(history.task) and any(listing.has(REPORT) for listing in listings):
            files.append(REPORT)  # write_file replaces only what the run has read
        if not files:
            return None
        return self._calls(
            f"Reading {len(files)} file(s): {', '.join(files)}.",
            "read_file",
            *({"path": path} for path in files),
        )

    def _report(self, history: _History) -> ModelResponse | None:
        if not is_report_request(history.task):
            return None
        writes = history.calls("write_file")
        retry = len(writes) == 1 and writes[0].failed and REPORT in history.read_paths()
        if writes and not retry:
            return None
        content = render_report(_findings(history))
        return self._calls(f"Writing {REPORT}.", "write_file", {"path": REPORT, "content": content})

    def _complete_plan(self, history: _History) -> ModelResponse | None:
        if len(history.calls("todo_write")) != 1:
            return None
        return self._calls(
            "Marking the plan complete.",
            "todo_write",
            {"todos": _todos(history.task, ("completed", "completed", "completed"))},
        )

    def _finish(self, history: _History) -> ModelResponse:
        findings = _findings(history)
        read = ", ".join(f.path for f in findings.read if f.path != REPORT)
        if findings.earlier_report is not None:  # read too, so the message says so
            read = f"{read} and the earlier {REPORT}" if read else f"the earlier {REPORT}"
        listed = len(findings.layout.entries)
        seen = f"listed {listed} top-level {'entry' if listed == 1 else 'entries'}"
        if findings.layout.truncated:
            seen = f"listed the first {listed} top-level entries"
        elif not listed:
            seen = "found the workspace empty"
        if read:
            seen += f" and read {read}"
        written = [s for s in history.calls("write_file") if not s.failed]
        if written:
            replaced = loads(written[-1].result or "").get("action") == "overwritten"
            wrote = f"Replaced {REPORT} with a new report" if replaced else f"Wrote {REPORT}"
            message = (
                f"{wrote}: I {seen}. This is the offline demo model: it follows a fixed "
                f"plan (list, read, report) rather than reasoning about the request. "
                f"{REAL_MODEL_HINT}"
            )
            files = [REPORT]
        else:
            if is_report_request(history.task):
                declined = f"I could not write {REPORT}."
            else:
                declined = (
                    f"The offline demo model cannot do “{history.task}”: it follows a fixed "
                    "plan, listing the workspace, reading a few files and writing REPORT.md "
                    "only when asked for a summary or report."
                )
            message = f"{declined} I {seen}. {REAL_MODEL_HINT}"
            files = []
        return self._calls("Done.", "task_finish", {"message": message, "exposed_files": files})


def _todos(task: str, statuses: tuple[str, str, str]) -> list[dict[str, str]]:
    last = (
        "Write a short report"
        if is_report_request(task)
        else "Say plainly what the offline demo cannot do"
    )
    titles = ("Survey the workspace", "Read the key files", last)
    return [
        {"id": f"t{i + 1}", "title": title, "status": status, "priority": "medium"}
        for i, (title, status) in enumerate(zip(titles, statuses, strict=True))
    ]


def _history(request: ModelRequest) -> _History:
    """The task text (last real user message) and the tool calls made since then."""
    task = ""
    start = 0
    messages = request.messages
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if isinstance(message, UserMessage) and not message.synthetic:
            task = content_text(message.content).strip()
            start = i + 1
            break
    results: dict[str, ToolMessage] = {
        m.tool_call_id: m for m in messages[start:] if isinstance(m, ToolMessage)
    }
    steps: list[_Step] = []
    for message in messages[start:]:
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls:
                answer = results.get(call.id)
                steps.append(
                    _Step(
                        call.name,
                        loads(call.arguments),
                        content_text(answer.content) if answer is not None else None,
                        answer is not None and answer.is_error,
                    )
                )
    return _History(task or "(no request)", steps)


_ID = re.compile(r"demo_(\d+)_\d+")


def _last_id(request: ModelRequest) -> int:
    """The highest call number among the demo's tool call ids in ``request`` (0 for none)."""
    numbers = [
        int(found.group(1))
        for message in request.messages
        if isinstance(message, AssistantMessage)
        for call in message.tool_calls
        if (found := _ID.fullmatch(call.id)) is not None
    ]
    return max(numbers, default=0)


def _findings(history: _History) -> Findings:
    findings = Findings(history.task, layout=history.listing(_TOP) or Listing())
    for step in history.calls("read_file"):
        path = str(step.arguments.get("path", ""))
        read = ReadFile.parse(path, step.result or "")
        if read is not None:
            findings.read.append(read)
        elif path != REPORT:
            findings.failed_reads.append(path)
    return findings
