"""A workspace in an S3 bucket (AWS, MinIO, R2, Ceph and other S3-compatible stores).

Layout: the file ``a/b.txt`` is the object ``<prefix>a/b.txt``. Directories are virtual —
a directory exists while any key lies under it — except that ``mkdir`` writes a zero-byte
marker object ``<prefix>dir/`` so empty directories exist too, and deleting or moving the
last entry out of a directory leaves a marker for that directory so it stays, like a real one.
Listing reports markers as directories, never as files.

Semantics and their costs:

- Exclusive create is a conditional put (``If-None-Match: *``, also on multipart
  completion), so concurrent creators cannot both win. Append is read-modify-write guarded
  by ``If-Match`` on the ETag read, retried a few times, then ``concurrent_modification``.
  Appending downloads the whole object: S3 has no append.
- Writes check that no parent is a file and that the target is not a directory (a few
  parallel requests), so S3 behaves like the other backends.
- ``write_stream`` buffers at most ``part_size`` bytes and switches to a multipart upload for
  bigger streams; a failing stream aborts the upload, leaving the path as it was.
- Moves copy then delete (``copy_object``, so files up to 5 GiB); a directory move is not
  atomic, and moves and ``mkdir`` check for conflicts before acting rather than atomically.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

from agentcycle.errors import WorkspaceConflict
from agentcycle.workspace._common import (
    STREAM_MODES,
    WRITE_MODES,
    already_exists,
    as_bytes,
    check_mode,
    check_move,
    check_range,
    decode_utf8_slice,
    invalid_operation,
    is_a_directory,
    not_a_directory,
    not_empty,
    not_found,
)
from agentcycle.workspace._glob import GlobMatcher
from agentcycle.workspace._s3_client import AddressingStyle, S3Client, S3Credentials, S3Expected
from agentcycle.workspace.base import (
    DescendPredicate,
    Listing,
    StreamWriteMode,
    WorkspaceEntry,
    WriteMode,
)
from agentcycle.workspace.paths import (
    ancestors,
    is_addressable_name,
    join_path,
    normalize_path,
    parent_path,
    path_error,
    relative_to,
)

MAX_KEY_BYTES = 1024
"""S3's limit on key length, prefix included."""

_MIN_PART_SIZE = 5 * 1024 * 1024
_APPEND_ATTEMPTS = 5
_COPY_CONCURRENCY = 8
_SKIP_BEFORE_SEEK = 1000
"""Keys of a pruned directory a flat listing pages past before it restarts the listing after
that directory instead: one list request's worth, so small pruned directories cost nothing
extra and big ones one request."""
_MAX_CHAR = "\U0010ffff"


class S3WorkspaceBackend:
    """A :class:`~agentcycle.workspace.base.WorkspaceBackend` on an S3 bucket.

    ``prefix`` roots the workspace inside the bucket (it follows the path policy). For
    S3-compatible stores pass ``endpoint_url`` (and often ``addressing_style="path"`` for
    MinIO); ``credentials=None`` uses boto3's default credential chain. ``part_size`` (at least
    5 MiB) is the multipart chunk of streamed writes. The client is created on first use.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        credentials: S3Credentials | None = None,
        addressing_style: AddressingStyle | None = None,
        *,
        part_size: int = 8 * 1024 * 1024,
    ) -> None:
        if not bucket:
            raise ValueError("bucket must be a non-empty bucket name")
        if part_size < _MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {_MIN_PART_SIZE} bytes (S3's minimum)")
        normalized = normalize_path(prefix)
        self._prefix = normalized + "/" if normalized else ""
        self._part_size = part_size
        self._client = S3Client(bucket, endpoint_url, region, credentials, addressing_style)

    def __repr__(self) -> str:
        return f"S3WorkspaceBackend(bucket={self._client.bucket!r}, prefix={self._prefix!r})"

    @property
    def local_root(self) -> Path | None:
        """Always ``None``: objects in a bucket are not a local directory."""
        return None

    async def aclose(self) -> None:
        """Release the client's connections (the backend stays usable)."""
        await self._client.close()

    # -- keys and lookups ------------------------------------------------------------------

    def _key(self, rel: str) -> str:
        key = self._prefix + rel
        if len(key.encode("utf-8")) > MAX_KEY_BYTES:
            raise path_error(rel, "path_too_long")
        return key

    def _dir_prefix(self, rel: str) -> str:
        return self._key(rel) + "/" if rel else self._prefix

    async def _call(self, operation: str, rel: str, /, **params: Any) -> Any:
        return await self._client.call(operation, rel, **params)

    async def _head(self, rel: str) -> dict[str, Any] | None:
        """The object's metadata, or ``None`` if there is no file at ``rel``."""
        if not rel:
            return None
        try:
            response: dict[str, Any] = await self._call("head_object", rel, Key=self._key(rel))
        except S3Expected as expected:
            if expected.code == "not_found":
                return None
            raise
        return response

    async def _is_dir(self, rel: str) -> bool:
        if not rel:
            return True
        page = await self._call("list_objects_v2", rel, Prefix=self._dir_prefix(rel), MaxKeys=1)
        return bool(page.get("KeyCount"))

    async def _kind(self, rel: str) -> tuple[str | None, dict[str, Any] | None]:
        """``("file", head)``, ``("dir", None)`` or ``(None, None)``."""
        head = await self._head(rel)
        if head is not None:
            return "file", head
        return ("dir" if await self._is_dir(rel) else None), None

    async def _check_writable(self, rel: str, *, target_may_be_dir: bool = False) -> None:
        """Fail like a file system would: no file among the parents, no directory in the way.

        Relies on the layout: no key is both a file and a directory prefix. So if the parent
        is a directory, no ancestor is a file (one request). Otherwise directory existence is
        monotonic along the path: a binary search finds the deepest existing ancestor
        directory, and only the ancestor just below it can be a file.
        """
        parents = ancestors(rel)
        checks = [self._is_dir(parents[-1])] if parents else []
        if not target_may_be_dir:
            checks.append(self._is_dir(rel))
        results = await asyncio.gather(*checks)
        if not target_may_be_dir and results[-1]:
            raise is_a_directory(rel)
        if not parents or results[0]:
            return
        low, high = -1, len(parents) - 2  # index -1 is the root, which always exists
        while low < high:
            middle = (low + high + 1) // 2
            if await self._is_dir(parents[middle]):
                low = middle
            else:
                high = middle - 1
        blocker = parents[low + 1]
        if await self._head(blocker) is not None:
            raise not_a_directory(rel, blocker=blocker)

    async def _keep_dir(self, rel: str) -> None:
        """Leave a marker so a directory whose last entry went away still exists."""
        if rel:
            await self._call("put_object", rel, Key=self._dir_prefix(rel), Body=b"")

    async def _keys_under(
        self, rel: str, *, start_after: str | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Every object below the directory ``rel`` (its marker included), page by page."""
        token: str | None = None
        while True:
            extra: dict[str, str] = {"StartAfter": start_after} if start_after else {}
            if token:
                extra = {"ContinuationToken": token}
            page = await self._call("list_objects_v2", rel, Prefix=self._dir_prefix(rel), **extra)
            for item in page.get("Contents", ()):
                yield item
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    # -- listing ---------------------------------------------------------------------------

    def _rel(self, key: str) -> str:
        """The workspace path of a key (a directory marker's trailing ``/`` dropped)."""
        rel = key[len(self._prefix) :]
        return rel[:-1] if rel.endswith("/") else rel

    def _entry(self, key: str, item: dict[str, Any] | None) -> WorkspaceEntry:
        rel = self._rel(key)
        if item is None or key.endswith("/"):
            return WorkspaceEntry(rel, True)
        return WorkspaceEntry(rel, False, item["Size"], item["LastModified"].timestamp())

    def _addressable(self, key: str, start: str) -> bool:
        """Whether every segment of the key below ``start`` passes the path policy."""
        tail = relative_to(self._rel(key), start)
        top_level = not start
        for name in tail.split("/"):
            if not is_addressable_name(name, top_level=top_level):
                return False
            top_level = False
        return True

    async def _children(self, rel: str) -> AsyncIterator[tuple[str, dict[str, Any] | None]]:
        """Direct children of a directory as ``(key, item-or-None-for-dirs)``, in order."""
        prefix = self._dir_prefix(rel)
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = await self._call("list_objects_v2", rel, Prefix=prefix, Delimiter="/", **extra)
            merged: builtins.list[tuple[str, dict[str, Any] | None]] = [
                (item["Key"], item) for item in page.get("Contents", ()) if item["Key"] != prefix
            ]
            merged.extend((common["Prefix"], None) for common in page.get("CommonPrefixes", ()))
            merged.sort(key=lambda pair: pair[0])
            for pair in merged:
                yield pair
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    async def _walk_tree(
        self,
        base: str,
        directory: str,
        matcher: GlobMatcher,
        descend: DescendPredicate | None,
    ) -> AsyncIterator[WorkspaceEntry | None]:
        """Depth-first with delimiter listings: for patterns without ``**`` (pruned)."""
        async for key, item in self._children(directory):
            if not self._addressable(key, directory):
                continue
            entry = self._entry(key, item)
            relative = relative_to(entry.path, base)
            yield entry if matcher.matches(relative) else None
            if (
                entry.is_dir
                and matcher.may_descend(relative)
                and (descend is None or descend(entry.path))
            ):
                async for found in self._walk_tree(base, entry.path, matcher, descend):
                    yield found

    async def _keys_outside_pruned(
        self, start: str, pruned: builtins.list[str]
    ) -> AsyncIterator[dict[str, Any]]:
        """Keys below ``start`` in order, minus those under the directories ``pruned`` names.

        The walk appends a directory to ``pruned`` as it decides not to descend into it; keys
        under it are skipped, and once a page's worth has been skipped the listing restarts
        just after the directory's last possible key rather than paging through the rest.
        """
        start_after: str | None = None
        while True:
            skipped = 0
            restart: str | None = None
            keys = self._keys_under(start, start_after=start_after)
            try:
                async for item in keys:
                    # Keys come sorted, so only the latest pruned directory can hold this one.
                    if not pruned or not self._rel(item["Key"]).startswith(pruned[-1] + "/"):
                        yield item
                        continue
                    skipped += 1
                    if skipped >= _SKIP_BEFORE_SEEK:
                        restart = self._key(pruned[-1]) + "/" + _MAX_CHAR
                        break
            finally:
                await keys.aclose()
            if restart is None:
                return
            start_after = restart

    async def _walk_flat(
        self,
        base: str,
        start: str,
        matcher: GlobMatcher,
        descend: DescendPredicate | None,
    ) -> AsyncIterator[WorkspaceEntry | None]:
        """One flat listing of every key below ``start``, with directories synthesised.

        S3 returns keys in UTF-8 byte order, which is the canonical order once each
        directory is reported just before its first key.
        """
        chain: builtins.list[str] = []  # directories already reported, outermost first
        pruned: builtins.list[str] = []  # directories ``descend`` refused
        async for item in self._keys_outside_pruned(start, pruned):
            key = item["Key"]
            segments = relative_to(self._rel(key), start).split("/")
            if segments == [""]:  # the marker of ``start`` itself
                continue
            good = 0  # leading segments the path policy accepts
            while good < len(segments) and is_addressable_name(
                segments[good], top_level=not start and good == 0
            ):
                good += 1
            complete, is_marker = good == len(segments), key.endswith("/")
            # A key with a bad segment still proves that the directories above it exist.
            depth = good if complete and is_marker else min(good, len(segments) - 1)
            dirs = [join_path(start, "/".join(segments[: i + 1])) for i in range(depth)]
            while chain and (len(chain) > len(dirs) or chain[-1] != dirs[len(chain) - 1]):
                chain.pop()
            refused = False
            for directory in dirs[len(chain) :]:
                chain.append(directory)
                relative = relative_to(directory, base)
                yield WorkspaceEntry(directory, True) if matcher.matches(relative) else None
                if descend is not None and not descend(directory):
                    pruned.append(directory)
                    refused = True
                    break
            if complete and not is_marker and not refused:
                entry = self._entry(key, item)
                yield entry if matcher.matches(relative_to(entry.path, base)) else None

    async def _scan(
        self, base: str, matcher: GlobMatcher, descend: DescendPredicate | None
    ) -> AsyncIterator[WorkspaceEntry | None]:
        start = join_path(base, matcher.start)
        walk = (
            self._walk_flat(base, start, matcher, descend)
            if matcher.recursive
            else self._walk_tree(base, start, matcher, descend)
        )
        empty = True
        async for found in walk:
            empty = False
            yield found
        if empty and base:
            # Only now is it worth asking whether the base exists at all (or is a file).
            kind, _ = await self._kind(base)
            if kind is None:
                raise not_found(base)
            if kind == "file":
                raise not_a_directory(base)

    # -- protocol --------------------------------------------------------------------------

    def list(
        self,
        path: str = "",
        *,
        glob: str | None = None,
        limit: int | None = None,
        scan_limit: int | None = None,
        descend: DescendPredicate | None = None,
    ) -> Listing:
        """Entries under ``path`` (see :meth:`WorkspaceBackend.list`)."""
        base = normalize_path(path)
        self._key(base)
        matcher = GlobMatcher(glob)
        return Listing(self._scan(base, matcher, descend), limit=limit, scan_limit=scan_limit)

    async def info(self, path: str) -> WorkspaceEntry:
        """Type, size and modification time of ``path`` (directories have no mtime)."""
        rel = normalize_path(path)
        kind, head = await self._kind(rel)
        if kind is None:
            raise not_found(rel)
        if head is None:
            return WorkspaceEntry(rel, True)
        return WorkspaceEntry(rel, False, head["ContentLength"], head["LastModified"].timestamp())

    async def exists(self, path: str) -> bool:
        """Whether ``path`` exists."""
        kind, _ = await self._kind(normalize_path(path))
        return kind is not None

    async def read_bytes(self, path: str, *, start: int = 0, end: int | None = None) -> bytes:
        """The bytes ``[start, end)`` of a file, fetched with a ranged GET."""
        check_range(start, end)
        rel = normalize_path(path)
        if not rel:
            raise is_a_directory(rel)
        if end == start:  # an empty range: only the file's existence matters
            kind, _ = await self._kind(rel)
            if kind == "file":
                return b""
            raise is_a_directory(rel) if kind == "dir" else not_found(rel)
        params: dict[str, Any] = {"Key": self._key(rel)}
        if start or end is not None:
            params["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            data: bytes = await self._call("get_object", rel, **params)
            return data
        except S3Expected as expected:
            if expected.code == "invalid_range":  # the range starts at or after the end
                return b""
            if expected.code != "not_found":
                raise
        raise is_a_directory(rel) if await self._is_dir(rel) else not_found(rel)

    async def read_text(self, path: str, *, start: int = 0, end: int | None = None) -> str:
        """UTF-8 text of the byte range ``[start, end)``."""
        data = await self.read_bytes(path, start=start, end=end)
        return decode_utf8_slice(data, normalize_path(path), start=start, end=end)

    async def _append(self, rel: str, payload: bytes) -> None:
        key = self._key(rel)
        for _ in range(_APPEND_ATTEMPTS):
            try:
                head = await self._head(rel)
                if head is None:
                    await self._call("put_object", rel, Key=key, Body=payload, IfNoneMatch="*")
                    return
                current: bytes = await self._call("get_object", rel, Key=key, IfMatch=head["ETag"])
                await self._call(
                    "put_object", rel, Key=key, Body=current + payload, IfMatch=head["ETag"]
                )
                return
            except S3Expected as expected:
                if expected.code not in ("precondition_failed", "conflict", "not_found"):
                    raise
        raise WorkspaceConflict(
            f"{rel!r} kept changing while appending to it; try again",
            details={"path": rel},
        )

    async def write(self, path: str, data: bytes | str, *, mode: WriteMode = "overwrite") -> int:
        """Write ``data`` to ``path`` (see the module docstring for S3 specifics)."""
        check_mode(mode, WRITE_MODES)
        payload = as_bytes(data)
        rel = normalize_path(path)
        if not rel:
            raise is_a_directory(rel)
        key = self._key(rel)
        await self._check_writable(rel)
        if mode == "append":
            await self._append(rel, payload)
        elif mode == "create":
            try:
                await self._call("put_object", rel, Key=key, Body=payload, IfNoneMatch="*")
            except S3Expected as expected:
                if expected.code in ("precondition_failed", "conflict"):
                    raise already_exists(rel) from None
                raise
        else:
            await self._call("put_object", rel, Key=key, Body=payload)
        return len(payload)

    async def write_stream(
        self,
        path: str,
        chunks: AsyncIterable[bytes],
        *,
        mode: StreamWriteMode = "overwrite",
    ) -> int:
        """Write ``path`` from streamed chunks, as a multipart upload once it is big."""
        check_mode(mode, STREAM_MODES)
        rel = normalize_path(path)
        if not rel:
            raise is_a_directory(rel)
        key = self._key(rel)
        await self._check_writable(rel)
        if mode == "create" and await self._head(rel) is not None:
            raise already_exists(rel)
        condition = {"IfNoneMatch": "*"} if mode == "create" else {}
        buffer = bytearray()
        parts: builtins.list[dict[str, Any]] = []
        upload_id: str | None = None
        total = 0
        try:
            async for chunk in chunks:
                data = as_bytes(chunk)
                buffer += data
                total += len(data)
                while len(buffer) >= self._part_size:
                    if upload_id is None:
                        created = await self._call("create_multipart_upload", rel, Key=key)
                        upload_id = created["UploadId"]
                    part = bytes(buffer[: self._part_size])
                    del buffer[: self._part_size]
                    number = len(parts) + 1
                    uploaded = await self._call(
                        "upload_part",
                        rel,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=part,
                    )
                    parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})
            if upload_id is None:
                await self._call("put_object", rel, Key=key, Body=bytes(buffer), **condition)
            else:
                if buffer:
                    number = len(parts) + 1
                    uploaded = await self._call(
                        "upload_part",
                        rel,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=bytes(buffer),
                    )
                    parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})
                await self._call(
                    "complete_multipart_upload",
                    rel,
                    Key=key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                    **condition,
                )
        except BaseException as error:
            if upload_id is not None:
                # Best effort: an upload left open only costs storage until a lifecycle rule.
                with contextlib.suppress(Exception):  # the original error matters more
                    await self._call("abort_multipart_upload", rel, Key=key, UploadId=upload_id)
            if isinstance(error, S3Expected) and error.code in ("precondition_failed", "conflict"):
                raise already_exists(rel) from None
            raise
        return total

    async def mkdir(self, path: str) -> None:
        """Create a directory (a marker object) unless it exists."""
        rel = normalize_path(path)
        if not rel:
            return
        head, is_dir = await asyncio.gather(self._head(rel), self._is_dir(rel))
        if head is not None:
            raise already_exists(rel)
        if is_dir:
            return
        await self._check_writable(rel, target_may_be_dir=True)
        await self._call("put_object", rel, Key=self._dir_prefix(rel), Body=b"")

    async def _delete_keys(self, rel: str, keys: builtins.list[str]) -> None:
        for offset in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[offset : offset + 1000]]
            await self._call("delete_objects", rel, Delete={"Objects": batch, "Quiet": True})

    async def delete(self, path: str, *, recursive: bool = False) -> None:
        """Delete a file, or a directory's keys (all of them when ``recursive``)."""
        rel = normalize_path(path)
        if not rel:
            raise invalid_operation("the workspace root cannot be deleted", rel)
        if await self._head(rel) is not None:
            await self._call("delete_object", rel, Key=self._key(rel))
        else:
            marker = self._dir_prefix(rel)
            keys: builtins.list[str] = []
            async for item in self._keys_under(rel):
                keys.append(item["Key"])
                if not recursive and item["Key"] != marker:
                    raise not_empty(rel)
            if not keys:
                raise not_found(rel)
            await self._delete_keys(rel, keys)
        await self._keep_dir(parent_path(rel))

    async def move(self, src: str, dst: str, *, overwrite: bool = False) -> None:
        """Copy then delete: one object for a file, every key below a directory."""
        source, target = normalize_path(src), normalize_path(dst)
        check_move(source, target)
        self._key(target)
        kind, _ = await self._kind(source)
        if kind is None:
            raise not_found(source)
        if source == target:
            return
        target_kind, _ = await self._kind(target)
        if target_kind == "dir" or (target_kind == "file" and (kind == "dir" or not overwrite)):
            raise already_exists(target)
        await self._check_writable(target, target_may_be_dir=True)
        if kind == "file":
            await self._copy(source, self._key(source), self._key(target))
            await self._call("delete_object", source, Key=self._key(source))
        else:
            old_prefix, new_prefix = self._dir_prefix(source), self._dir_prefix(target)
            keys = [item["Key"] async for item in self._keys_under(source)]
            limiter = asyncio.Semaphore(_COPY_CONCURRENCY)

            async def copy(key: str) -> None:
                async with limiter:
                    await self._copy(source, key, new_prefix + key[len(old_prefix) :])

            await asyncio.gather(*(copy(key) for key in keys))
            await self._delete_keys(source, keys)
        await self._keep_dir(parent_path(source))

    async def _copy(self, rel: str, from_key: str, to_key: str) -> None:
        if len(to_key.encode("utf-8")) > MAX_KEY_BYTES:
            raise path_error(rel, "path_too_long")
        await self._call(
            "copy_object",
            rel,
            Key=to_key,
            CopySource={"Bucket": self._client.bucket, "Key": from_key},
        )
