"""The ``read_image`` handler, and which images it accepts: decided by their bytes too.

A workspace file must have an accepted suffix *and* start with the matching format's magic
bytes (the media type sent is the one the bytes announce). An http(s) URL is passed on as a
URL for the provider to fetch; nothing is downloaded here.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from agentcycle._json import dumps
from agentcycle.errors import WorkspaceError
from agentcycle.messages import AttachImage, ToolResult
from agentcycle.tools.base import ToolContext
from agentcycle.tools.builtin._file_access import file_entry, refusal, workspace_of
from agentcycle.workspace._common import show
from agentcycle.workspace.paths import normalize_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MAX_IMAGE_BYTES = 5 * 1024 * 1024
SNIFF_BYTES = 18
"""Enough leading bytes to recognise every accepted format."""
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
"""The sizes a BMP's second header (at byte 14) can have: "BM" alone proves little."""


def sniff_image(head: bytes) -> str | None:
    """The media type the leading bytes of a file announce, or ``None`` if not accepted."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    bmp_header = int.from_bytes(head[14:18], "little") if len(head) >= 18 else 0
    if head[:2] == b"BM" and bmp_header in _BMP_HEADER_SIZES:
        return "image/bmp"
    return None


def image_url(text: str) -> str | None:
    """``text`` when it is an http(s) URL, ``None`` for a workspace path; ``invalid_url`` when
    it starts like a URL but has no usable host."""
    if not text[:8].lower().startswith(("http://", "https://")):
        return None
    try:
        host = urlsplit(text).netloc
    except ValueError:
        host = ""
    if not host:
        raise refusal("invalid_url", f"{text[:200]!r} is not a usable http(s) URL.")
    return text


def url_media_type(url: str) -> str | None:
    """The media type a URL's path suggests (``None`` when it suggests none or not an image)."""
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed if guessed is not None and guessed.startswith("image/") else None


async def read_image(ctx: ToolContext, args: dict[str, Any]) -> ToolResult:
    """Attach an image to the next model turn (see ``read_image_tool``)."""
    source: str = args["path"]
    url = image_url(source)
    if url is not None:
        media_type = url_media_type(url)
        image = AttachImage(label=url, url=url, media_type=media_type)
        body = {"ok": True, "url": url, "attached": True}
        return ToolResult.success(dumps(body), directive=image)
    workspace = workspace_of(ctx)
    path = normalize_path(source)
    entry = await file_entry(workspace, path)
    if PurePosixPath(entry.name).suffix.lower() not in IMAGE_SUFFIXES:
        raise _unsupported(path, "its name does not end in one of them")
    size = entry.size or 0
    if size > MAX_IMAGE_BYTES:
        raise _too_large(path, size)
    data = await workspace.read_bytes(path, end=MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:  # it grew after the size check
        raise _too_large(path, len(data))
    media_type = sniff_image(data[:SNIFF_BYTES])
    if media_type is None:
        raise _unsupported(path, "its content is not one of them")
    encoded = base64.b64encode(data).decode("ascii")
    image = AttachImage(label=path, data=encoded, media_type=media_type)
    body = {"ok": True, "path": path, "media_type": media_type, "size": len(data), "attached": True}
    return ToolResult.success(dumps(body), directive=image)


def _unsupported(path: str, why: str) -> WorkspaceError:
    return refusal(
        "unsupported_image_type",
        f"{show(path)} is not a supported image: read_image takes PNG, JPEG, WebP and BMP files, "
        f"and {why}.",
        path=path,
        supported=list(IMAGE_SUFFIXES),
    )


def _too_large(path: str, size: int) -> WorkspaceError:
    return refusal(
        "image_too_large",
        f"{show(path)} is {size} bytes; read_image takes images up to {MAX_IMAGE_BYTES} bytes "
        "(5 MiB). Use a smaller or downscaled copy.",
        path=path,
        size=size,
        limit=MAX_IMAGE_BYTES,
    )
