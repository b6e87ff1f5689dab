"""Shared test helpers: the probe watching around a local workspace, S3 test settings."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from tests.conftest import S3_CREDENTIALS, S3_REGION

CANARY = b"AGENTCYCLE-CANARY-do-not-read"
__all__ = ["CANARY", "S3_CREDENTIALS", "S3_REGION", "SiblingProbe"]


class SiblingProbe:
    """Watches everything next to the workspace root (``<tmp>/ws``) inside ``<tmp>``."""

    secrets = (CANARY,)

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        (tmp / "outside").mkdir()
        (tmp / "outside" / "canary.txt").write_bytes(CANARY)
        (tmp / "canary.txt").write_bytes(CANARY)
        (tmp / "ws-sibling").mkdir()  # a name that shares the root's prefix
        (tmp / "ws-sibling" / "canary.txt").write_bytes(CANARY)

    async def snapshot(self) -> Any:
        return await asyncio.to_thread(self._walk)

    def _walk(self) -> list[tuple[str, str, bytes]]:
        seen: list[tuple[str, str, bytes]] = []
        for directory, dirs, files in os.walk(self.tmp):
            relative = os.path.relpath(directory, self.tmp)
            if relative == ".":
                dirs.remove("ws")  # the workspace itself is not "outside"
            for name in dirs:
                seen.append((os.path.join(relative, name), "dir", b""))
            for name in files:
                path = os.path.join(directory, name)
                with open(path, "rb") as handle:
                    seen.append((os.path.join(relative, name), "file", handle.read()))
        return sorted(seen)
