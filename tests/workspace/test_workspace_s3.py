"""The S3 backend against a real S3-protocol server (moto's server mode on 127.0.0.1).

The shared suites run with a prefix inside a fresh bucket per test; the probe plants canaries
around the prefix (including a sibling that shares its first characters) and checks that
every other key in the bucket is left exactly as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from workspace_probes import CANARY, S3_CREDENTIALS, S3_REGION

from agentcycle.testing.workspace_conformance import (
    ONE_PER_METHOD,
    WorkspaceBackendConformance,
    WorkspaceSecurityConformance,
    expect_error,
)
from agentcycle.workspace import S3Credentials, S3WorkspaceBackend, WorkspaceBackend
from agentcycle.workspace import s3 as s3_module

PREFIX = "ws/inner"
PART_SIZE = 5 * 1024 * 1024


def make_backend(
    endpoint: str, bucket: str, prefix: str = PREFIX, **options: Any
) -> S3WorkspaceBackend:
    return S3WorkspaceBackend(
        bucket,
        prefix,
        endpoint_url=endpoint,
        region=S3_REGION,
        credentials=S3_CREDENTIALS,
        addressing_style="path",
        part_size=PART_SIZE,
        **options,
    )


class BucketProbe:
    """Everything in the bucket outside the workspace prefix, by key and ETag."""

    secrets = (CANARY,)

    def __init__(self, admin: Any, bucket: str) -> None:
        self.admin, self.bucket = admin, bucket
        for key in (
            "canary.txt",
            "outside/canary.txt",
            "ws/canary.txt",
            "ws/outside/canary.txt",
            "ws/inner-sibling/canary.txt",
            "ws/innercanary.txt",
        ):
            admin.put_object(Bucket=bucket, Key=key, Body=CANARY)

    async def snapshot(self) -> Any:
        return await asyncio.to_thread(self._keys)

    def _keys(self) -> list[tuple[str, str]]:
        pages = self.admin.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(
            (item["Key"], item["ETag"])
            for page in pages
            for item in page.get("Contents", ())
            if not item["Key"].startswith(PREFIX + "/")
        )


class TestS3Backend(WorkspaceBackendConformance, WorkspaceSecurityConformance):
    big_stream_bytes = 2 * PART_SIZE + 1024 * 1024  # three multipart parts
    # Every method, not every mode: each request to the test server costs milliseconds, and
    # the modes map paths to keys exactly as their methods do.
    hostile_operations = ONE_PER_METHOD

    @pytest.fixture
    async def backend(self, s3_endpoint: str, s3_bucket: str) -> AsyncIterator[WorkspaceBackend]:
        backend = make_backend(s3_endpoint, s3_bucket)
        yield backend
        await backend.aclose()

    @pytest.fixture
    def outside(self, s3_admin: Any, s3_bucket: str) -> BucketProbe:
        return BucketProbe(s3_admin, s3_bucket)


# -- layout -------------------------------------------------------------------------------


async def test_files_are_objects_under_the_prefix(
    s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    backend = make_backend(s3_endpoint, s3_bucket)
    await backend.write("docs/a.md", "hello")
    await backend.mkdir("empty/dir")
    keys = [item["Key"] for item in s3_admin.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == ["ws/inner/docs/a.md", "ws/inner/empty/dir/"]
    body = s3_admin.get_object(Bucket=s3_bucket, Key="ws/inner/docs/a.md")["Body"].read()
    assert body == b"hello"


async def test_foreign_keys_are_listed_only_when_addressable(
    s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    for key in (
        "ws/inner/good.txt",
        "ws/inner/a//double.txt",
        "ws/inner/../escape.txt",
        "ws/inner/dot/./x.txt",
        "ws/inner/ctrl\x01name",
        "ws/inner/back\\slash",
        "ws/inner/implicit/dir/file.txt",
        "ws/inner/marker/",
    ):
        s3_admin.put_object(Bucket=s3_bucket, Key=key, Body=b"x")
    backend = make_backend(s3_endpoint, s3_bucket)
    # Directories holding only unaddressable keys still exist; the keys themselves are hidden.
    assert [e.path for e in await backend.list(glob="**").collect()] == [
        "a",
        "dot",
        "good.txt",
        "implicit",
        "implicit/dir",
        "implicit/dir/file.txt",
        "marker",
    ]
    assert [e.path for e in await backend.list().collect()] == [
        "a",
        "dot",
        "good.txt",
        "implicit",
        "marker",
    ]
    assert (await backend.info("marker")).is_dir


async def test_a_bucket_root_workspace(s3_endpoint: str, s3_bucket: str) -> None:
    backend = make_backend(s3_endpoint, s3_bucket, prefix="")
    await backend.write("top.txt", "t")
    assert [e.path for e in await backend.list().collect()] == ["top.txt"]
    with expect_error("path_escapes_workspace"):
        make_backend(s3_endpoint, s3_bucket, prefix="../other")


async def test_keys_longer_than_s3_allows_are_refused(s3_endpoint: str, s3_bucket: str) -> None:
    backend = make_backend(s3_endpoint, s3_bucket)
    with expect_error("path_escapes_workspace"):
        await backend.write("/".join(["x" * 200] * 6), "too long for a key")


# -- conditional writes -------------------------------------------------------------------


async def test_exclusive_create_is_a_conditional_put(
    s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    backend = make_backend(s3_endpoint, s3_bucket)
    # Another client creates the key after our pre-checks could have run: only the server's
    # If-None-Match check can catch that, so go straight at it with many racing writers.
    results = await asyncio.gather(
        *(backend.write("race.txt", str(i), mode="create") for i in range(10)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1
    assert {r.code for r in results if isinstance(r, BaseException)} == {"file_exists"}  # type: ignore[attr-defined]


async def test_concurrent_appends_all_land(s3_endpoint: str, s3_bucket: str) -> None:
    backend = make_backend(s3_endpoint, s3_bucket)
    await asyncio.gather(*(backend.write("log", f"{i}\n", mode="append") for i in range(4)))
    assert sorted((await backend.read_text("log")).split()) == ["0", "1", "2", "3"]


async def test_flat_listing_seeks_past_big_pruned_directories(
    s3_endpoint: str, s3_bucket: str, s3_admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "_SKIP_BEFORE_SEEK", 2)
    for key in ("a.txt", "deps/1", "deps/2", "deps/3", "deps/4", "deps/x/5", "deps0", "z/y"):
        s3_admin.put_object(Bucket=s3_bucket, Key=f"ws/inner/{key}", Body=b"x")
    backend = make_backend(s3_endpoint, s3_bucket)
    requests: list[dict[str, Any]] = []
    call = backend._call

    async def counting(operation: str, rel: str, /, **params: Any) -> Any:
        requests.append(params)
        return await call(operation, rel, **params)

    monkeypatch.setattr(backend, "_call", counting)
    listing = backend.list(glob="**", descend=lambda path: path != "deps")
    assert [e.path for e in await listing.collect()] == ["a.txt", "deps", "deps0", "z", "z/y"]
    assert listing.scanned == 5
    assert [params.get("StartAfter") for params in requests] == [
        None,
        "ws/inner/deps/\U0010ffff",
    ]


# -- failures -----------------------------------------------------------------------------


async def test_missing_bucket_is_a_storage_error(s3_endpoint: str) -> None:
    backend = make_backend(s3_endpoint, "no-such-bucket-here")
    with expect_error("storage_error") as _:
        await backend.read_bytes("x.txt")


async def test_unreachable_endpoint_is_a_storage_error() -> None:
    backend = make_backend("http://127.0.0.1:9", "bucket")
    with expect_error("storage_error"):
        await backend.exists("x.txt")


def test_credentials_stay_out_of_repr(s3_endpoint: str) -> None:
    credentials = S3Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI-secret", "session-token")
    backend = S3WorkspaceBackend("bucket", "p", endpoint_url=s3_endpoint, credentials=credentials)
    text = repr(backend) + repr(credentials)
    assert "secret" not in text and "session-token" not in text
    assert backend.local_root is None


def test_part_size_below_s3_minimum_is_rejected() -> None:
    with pytest.raises(ValueError, match="part_size"):
        S3WorkspaceBackend("bucket", part_size=1024)
