"""The item payload bound (APP_SERVER.md §11.6): a payload over 1 MiB serialized has its
large string fields cut, and the full payload goes to a file in the artifact directory; the
payload (an open bag, so this is wire-safe) then says what was cut and where the rest is."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from agentcycle.app_server._jsonrpc import compact_json

MAX_PAYLOAD_BYTES = 1024 * 1024
PREVIEW_CHARS = 16 * 1024
"""How much of a cut string field stays in the payload."""


class ArtifactDirectory:
    """Where full payloads go: beside a file store, or a temporary directory for
    ``:memory:`` (created on first use)."""

    def __init__(self, folder: Path | None) -> None:
        self._folder = folder

    def write(self, name: str, text: str) -> str:
        """Store ``text`` and return its ``file://`` URI."""
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="agentcycle-app-server-"))
        self._folder.mkdir(parents=True, exist_ok=True)
        safe = hashlib.sha256(name.encode()).hexdigest()[:32]
        path = self._folder / f"{safe}.json"
        path.write_text(text, encoding="utf-8")
        return path.resolve().as_uri()


def bound_item(item: dict[str, Any], artifacts: ArtifactDirectory) -> dict[str, Any]:
    """``item`` with its payload within ``MAX_PAYLOAD_BYTES`` (the item itself when it is)."""
    payload = item["payload"]
    text = compact_json(payload)
    size = len(text.encode())
    if size <= MAX_PAYLOAD_BYTES:
        return item
    uri = artifacts.write(item["itemId"], text)
    cut = dict(payload)
    fields = []
    by_size = sorted(payload, key=lambda key: -len(compact_json(payload[key])))
    for key in by_size:
        value = payload[key]
        if not isinstance(value, str) or len(value) <= PREVIEW_CHARS:
            continue
        cut[key] = value[:PREVIEW_CHARS]
        fields.append(key)
        if len(compact_json(cut).encode()) <= MAX_PAYLOAD_BYTES - 4096:
            break
    cut["truncated"] = {"fields": sorted(fields), "originalBytes": size, "artifactUri": uri}
    return {**item, "payload": cut}
