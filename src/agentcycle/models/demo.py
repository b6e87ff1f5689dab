"""The offline ``demo`` backend: a deterministic planner that drives the real tools.

It needs no key and no network, so a new user sees a real run: it plans with ``todo_write``,
surveys the workspace when workspace tools are offered (lists it, reads a few files, writes a
short ``REPORT.md``), marks the plan done and calls ``task_finish`` — streaming the same events
a real model produces. Each step is decided from the request alone (the history and the offered
tools), so the planner is stateless and resumable.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from agentcycle._json import dumps
from agentcycle.messages import AssistantMessage, ToolCall, ToolMessage, UserMessage, content_text
from agentcycle.models._playback import play_response
from agentcycle.models.base import ModelInfo, ModelRequest, ModelResponse, ModelStreamItem

DEMO_BACKEND = "demo"
DEMO_MODEL = "demo-planner"

_READ_LIMIT = 3
_REPORT = "REPORT.md"
_FAILED = ":failed"
_READ_PREFERENCE = ("README", "readme", "pyproject.toml", "package.json", "Cargo.toml")


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

    def _call(self, text: str, name: str, arguments: dict[str, Any]) -> ModelResponse:
        self._ids += 1
        call = ToolCall(id=f"demo_{self._ids}", name=name, arguments=dumps(arguments))
        return ModelResponse(text=text, tool_calls=(call,), finish_reason="tool_calls")

    def _next_step(self, request: ModelRequest) -> ModelResponse:
        task, done = _progress(request)
        offered = set(request.tool_names())
        workspace = {"find_files", "read_file", "write_file"} <= offered
        steps: list[Callable[[str, dict[str, str]], ModelResponse | None]] = [self._plan]
        if workspace:
            steps += [self._survey, self._read, self._report]
        steps += [self._complete_plan, self._finish]
        for step in steps:
            response = step(task, done)
            if response is not None:
                return response
        return self._finish(task, done)

    def _plan(self, task: str, done: dict[str, str]) -> ModelResponse | None:
        if "todo_write" in done:
            return None
        return self._call(
            "Planning the work first.",
            "todo_write",
            {"todos": _todos(("in_progress", "pending", "pending"))},
        )

    def _survey(self, task: str, done: dict[str, str]) -> ModelResponse | None:
        if _tried("find_files", done):
            return None
        return self._call("Listing the workspace.", "find_files", {"path": ".", "max_results": 200})

    def _read(self, task: str, done: dict[str, str]) -> ModelResponse | None:
        if _tried("read_file", done) or _tried("write_file", done):
            return None
        files = _pick_files(done.get("find_files", ""))
        if not files:
            return None
        self._ids += 1
        calls = tuple(
            ToolCall(id=f"demo_{self._ids}_{i}", name="read_file", arguments=dumps({"path": p}))
            for i, p in enumerate(files)
        )
        text = f"Reading {len(files)} file(s): {', '.join(files)}."
        return ModelResponse(text=text, tool_calls=calls, finish_reason="tool_calls")

    def _report(self, task: str, done: dict[str, str]) -> ModelResponse | None:
        if _tried("write_file", done):
            return None
        listing = _listed_paths(done.get("find_files", ""))
        lines = [
            "# Workspace report",
            "",
            f"Request: {task}",
            "",
            f"Entries listed: {len(listing)}",
            "",
        ]
        lines += [f"- `{p}`" for p in listing[:20]]
        if len(listing) > 20:
            lines.append(f"- … and {len(listing) - 20} more")
        read = done.get("read_file_paths", "")
        if read:
            lines += ["", "Files read: " + read]
        lines += ["", "Written by the agentcycle offline demo planner."]
        return self._call(
            "Writing REPORT.md.",
            "write_file",
            {"path": _REPORT, "content": "\n".join(lines) + "\n"},
        )

    def _complete_plan(self, task: str, done: dict[str, str]) -> ModelResponse | None:
        if done.get("todo_write_count", "0") != "1":
            return None
        return self._call(
            "Marking the plan complete.",
            "todo_write",
            {"todos": _todos(("completed", "completed", "completed"))},
        )

    def _finish(self, task: str, done: dict[str, str]) -> ModelResponse:
        if "write_file" in done:
            message = f"Surveyed the workspace for “{task}” and wrote REPORT.md."
            files = [_REPORT]
        else:
            message = f"Demo run complete for “{task}”: planned, worked the plan, finished."
            files = []
        return self._call("Done.", "task_finish", {"message": message, "exposed_files": files})


def _todos(statuses: tuple[str, str, str]) -> list[dict[str, str]]:
    titles = ("Survey the workspace", "Read the key files", "Write a short report")
    return [
        {"id": f"t{i + 1}", "title": title, "status": status, "priority": "medium"}
        for i, (title, status) in enumerate(zip(titles, statuses, strict=True))
    ]


def _progress(request: ModelRequest) -> tuple[str, dict[str, str]]:
    """The task text (last real user message) and the tool results since then, by tool."""
    task = ""
    start = 0
    messages = request.messages
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if isinstance(message, UserMessage) and not message.synthetic:
            task = content_text(message.content).strip()
            start = i + 1
            break
    done: dict[str, str] = {}
    todo_writes = 0
    read_paths: list[str] = []
    for message in messages[start:]:
        if isinstance(message, AssistantMessage):
            for call in message.tool_calls:
                if call.name == "read_file":
                    read_paths.append(str(_loads(call.arguments).get("path", "")))
        if isinstance(message, ToolMessage):
            key = f"{message.name}{_FAILED}" if message.is_error else message.name
            done[key] = content_text(message.content)
            if message.name == "todo_write" and not message.is_error:
                todo_writes += 1
    done["todo_write_count"] = str(todo_writes)
    if read_paths:
        done["read_file_paths"] = ", ".join(read_paths)
    return task or "(no request)", done


def _tried(tool: str, done: dict[str, str]) -> bool:
    """Whether the tool ran since the task began, successfully or not (never retry forever)."""
    return tool in done or f"{tool}{_FAILED}" in done


def _loads(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _listed_paths(find_files_output: str) -> list[str]:
    entries = _loads(find_files_output).get("files") or _loads(find_files_output).get("entries")
    if not isinstance(entries, list):
        return []
    paths = []
    for entry in entries:
        if isinstance(entry, str):
            paths.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("path"), str):
            paths.append(entry["path"])
    return paths


def _pick_files(find_files_output: str) -> list[str]:
    paths = [p for p in _listed_paths(find_files_output) if not p.endswith("/")]
    preferred = [p for p in paths if p.split("/")[-1].startswith(_READ_PREFERENCE)]
    rest = [p for p in paths if p not in preferred and p != _REPORT]
    picked = (preferred + rest)[:_READ_LIMIT]
    # write_file overwrites only what the run has read: an earlier report is read first.
    return [*picked, _REPORT] if _REPORT in paths else picked
