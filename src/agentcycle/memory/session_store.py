"""Where session memory keeps its notes: the ``SessionMemoryStore`` protocol and two stores.

- ``WorkspaceSessionMemoryStore``: one JSON file per session in a workspace,
  ``.agentcycle/memory/<session_id>.json`` (a session id outside ``[A-Za-z0-9_.-]``, or
  starting with ``.``, is stored under ``+<sha256 of the id>.json``). Each write replaces the
  file atomically (the workspace backend's ``overwrite``), so a reader sees the old notes or the
  new ones, never a torn file. Adds from one run are sequential; two processes adding to one
  session at the same moment keep the last writer's list.
- ``InMemorySessionMemoryStore``: a dict in the process, for tests and short-lived hosts.

Both bound a session to ``max_notes`` notes, dropping the oldest first (see ``merge_notes``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import TypeAdapter, ValidationError

from agentcycle.errors import FileNotFoundInWorkspace, SessionMemoryCorrupt
from agentcycle.memory.notes import SessionNote, merge_notes

if TYPE_CHECKING:
    from agentcycle.workspace.base import WorkspaceBackend

MEMORY_DIRECTORY = ".agentcycle/memory"
"""Where ``WorkspaceSessionMemoryStore`` keeps its files, relative to the workspace root."""
FILE_FORMAT = "agentcycle.session_memory"
FILE_VERSION = 1
_SAFE_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_NOTES = TypeAdapter(list[SessionNote])


@dataclass(frozen=True, slots=True)
class NotesAdded:
    """What ``SessionMemoryStore.add`` did: notes added (new ones only), old notes dropped to
    stay within the bound, and the session's note count after."""

    added: int
    dropped: int
    total: int


@runtime_checkable
class SessionMemoryStore(Protocol):
    """Keeps each session's notes, oldest first."""

    async def load(self, session_id: str) -> list[SessionNote]:
        """The session's notes, oldest first (``[]`` for a session with none)."""
        ...

    async def add(
        self, session_id: str, notes: Sequence[SessionNote], *, max_notes: int
    ) -> NotesAdded:
        """Append the notes the session does not hold yet, then drop the oldest beyond
        ``max_notes``."""
        ...

    async def clear(self, session_id: str) -> None:
        """Forget the session's notes."""
        ...


class InMemorySessionMemoryStore:
    """Notes in a dict; safe to share between threads and event loops, gone with the
    process."""

    def __init__(self) -> None:
        self._notes: dict[str, list[SessionNote]] = {}
        self._lock = threading.Lock()

    async def load(self, session_id: str) -> list[SessionNote]:
        """The session's notes, oldest first."""
        with self._lock:
            return list(self._notes.get(session_id, ()))

    async def add(
        self, session_id: str, notes: Sequence[SessionNote], *, max_notes: int
    ) -> NotesAdded:
        """Append the new notes and keep the latest ``max_notes``."""
        with self._lock:
            stored = self._notes.get(session_id, [])
            merged, dropped = merge_notes(stored, notes, max_notes)
            self._notes[session_id] = merged
        return NotesAdded(len(merged) + dropped - len(stored), dropped, len(merged))

    async def clear(self, session_id: str) -> None:
        """Forget the session's notes."""
        with self._lock:
            self._notes.pop(session_id, None)


class WorkspaceSessionMemoryStore:
    """Notes as JSON files in a workspace (see the module docstring). ``workspace`` is a
    ``WorkspaceBackend`` or a local directory."""

    def __init__(
        self, workspace: WorkspaceBackend | str | PurePath, *, directory: str = MEMORY_DIRECTORY
    ) -> None:
        if isinstance(workspace, str | PurePath):
            from agentcycle.workspace.local import LocalWorkspaceBackend

            workspace = LocalWorkspaceBackend(workspace)
        self._workspace = workspace
        self._directory = directory.strip("/")

    def path(self, session_id: str) -> str:
        """The workspace path of the session's notes file."""
        if _SAFE_ID.fullmatch(session_id):
            name = session_id
        else:
            name = "+" + hashlib.sha256(session_id.encode("utf-8")).hexdigest()
        return f"{self._directory}/{name}.json"

    async def load(self, session_id: str) -> list[SessionNote]:
        """The session's notes; raises ``SessionMemoryCorrupt`` for a file that is not a
        notes file of this session."""
        path = self.path(session_id)
        try:
            text = await self._workspace.read_text(path)
        except FileNotFoundInWorkspace:
            return []
        return _decode(text, path, session_id)

    async def add(
        self, session_id: str, notes: Sequence[SessionNote], *, max_notes: int
    ) -> NotesAdded:
        """Read the file, append the new notes, keep the latest ``max_notes`` and replace the
        file atomically. A corrupt file raises ``SessionMemoryCorrupt`` and stays as it is."""
        stored = await self.load(session_id)
        merged, dropped = merge_notes(stored, notes, max_notes)
        added = len(merged) + dropped - len(stored)
        if added or dropped:
            document: dict[str, Any] = {
                "format": FILE_FORMAT,
                "version": FILE_VERSION,
                "session_id": session_id,
                "notes": _NOTES.dump_python(merged, mode="json"),
            }
            text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
            await self._workspace.write(self.path(session_id), text, mode="overwrite")
        return NotesAdded(added, dropped, len(merged))

    async def clear(self, session_id: str) -> None:
        """Delete the session's notes file (nothing happens when there is none)."""
        with contextlib.suppress(FileNotFoundInWorkspace):
            await self._workspace.delete(self.path(session_id))


def _decode(text: str, path: str, session_id: str) -> list[SessionNote]:
    try:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("format") != FILE_FORMAT:
            raise ValueError("not a session memory file")
        if document.get("version") != FILE_VERSION:
            raise ValueError(f"unsupported version {document.get('version')!r}")
        if document.get("session_id") != session_id:
            raise ValueError(f"it belongs to session {document.get('session_id')!r}")
        return _NOTES.validate_python(document.get("notes"))
    except (ValueError, ValidationError) as exc:
        raise SessionMemoryCorrupt(
            f"{path} is not a valid session memory file: {exc}",
            details={"path": path, "session_id": session_id},
        ) from exc
