"""read_image: accepted formats by their bytes, size limit, URLs passed by reference."""

from __future__ import annotations

import base64
import struct

import pytest

from agentcycle.messages import AttachImage, ToolResultStatus
from agentcycle.tools.builtin.files import read_image_tool
from agentcycle.workspace import WorkspaceBackend
from tests.tools_workspace.file_helpers import parse, png, tool_context

IMAGE = read_image_tool()


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88"
BMP = (
    b"BM" + struct.pack("<IHHI", 58, 0, 0, 54) + struct.pack("<IiiHH", 40, 1, 1, 1, 24) + bytes(28)
)


IMAGES = {
    "shot.png": (png(), "image/png"),
    "photo.JPG": (JPEG, "image/jpeg"),
    "photo.jpeg": (JPEG, "image/jpeg"),
    "anim.webp": (WEBP, "image/webp"),
    "old.bmp": (BMP, "image/bmp"),
    "misnamed.png": (JPEG, "image/jpeg"),  # the bytes decide the media type
}


@pytest.mark.parametrize("name", list(IMAGES))
async def test_workspace_images_are_attached_inline(workspace: WorkspaceBackend, name: str) -> None:
    data, media_type = IMAGES[name]
    await workspace.write(f"img/{name}", data)
    result = await IMAGE.invoke(tool_context(workspace), {"path": f"img/{name}"})
    body = parse(result)
    assert body == {
        "ok": True,
        "path": f"img/{name}",
        "media_type": media_type,
        "size": len(data),
        "attached": True,
    }
    image = result.directive
    assert isinstance(image, AttachImage)
    assert (image.label, image.media_type, image.url) == (f"img/{name}", media_type, None)
    assert base64.b64decode(image.data or "") == data


NOT_IMAGES = {
    "notes.png": b"just some text, not an image at all",
    "anim.gif": b"GIF89a\x01\x00\x01\x00",
    "bm.bmp": b"BM but nothing like a bitmap header",
    "empty.jpg": b"",
}


@pytest.mark.parametrize("name", list(NOT_IMAGES))
async def test_other_files_are_not_images(workspace: WorkspaceBackend, name: str) -> None:
    data = NOT_IMAGES[name]
    await workspace.write(name, data)
    result = await IMAGE.invoke(tool_context(workspace), {"path": name})
    assert parse(result)["error_code"] == "unsupported_image_type"
    assert "image" not in result.metadata


async def test_images_over_five_mebibytes_are_refused(workspace: WorkspaceBackend) -> None:
    limit = 5 * 1024 * 1024
    await workspace.write("huge.png", png() + bytes(limit))
    await workspace.write("edge.png", png() + bytes(limit - len(png())))
    ctx = tool_context(workspace)
    refused = parse(await IMAGE.invoke(ctx, {"path": "huge.png"}))
    assert (refused["error_code"], refused["details"]["limit"]) == ("image_too_large", limit)
    assert parse(await IMAGE.invoke(ctx, {"path": "edge.png"}))["size"] == limit


async def test_missing_files_directories_and_no_workspace(workspace: WorkspaceBackend) -> None:
    await workspace.write("dir/a.png", png())
    ctx = tool_context(workspace)
    assert parse(await IMAGE.invoke(ctx, {"path": "nope.png"}))["error_code"] == "file_not_found"
    assert parse(await IMAGE.invoke(ctx, {"path": "dir"}))["error_code"] == "is_a_directory"
    escaped = parse(await IMAGE.invoke(ctx, {"path": "../a.png"}))
    assert escaped["error_code"] == "path_escapes_workspace"
    alone = parse(await IMAGE.invoke(tool_context(None), {"path": "a.png"}))
    assert alone["error_code"] == "workspace_required"


async def test_urls_are_passed_by_reference_without_a_workspace() -> None:
    url = "https://example.com/charts/q3.PNG?size=large"
    result = await IMAGE.invoke(tool_context(None), {"path": url})
    assert result.status is ToolResultStatus.SUCCESS
    assert parse(result) == {"ok": True, "url": url, "attached": True}
    assert result.directive == AttachImage(label=url, url=url, media_type="image/png")
    untyped = await IMAGE.invoke(tool_context(None), {"path": "http://example.com/render"})
    assert isinstance(untyped.directive, AttachImage)
    assert untyped.directive.media_type is None


@pytest.mark.parametrize("url", ["http://", "https:///path.png", "http://[::1/x.png"])
async def test_urls_without_a_usable_host_are_refused(url: str) -> None:
    body = parse(await IMAGE.invoke(tool_context(None), {"path": url}))
    assert body["error_code"] == "invalid_url"
