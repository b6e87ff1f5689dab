"""The blocking boto3 client behind :class:`~agentcycle.workspace.s3.S3WorkspaceBackend`.

boto3 is imported on first use (extra ``s3``). Every call runs in a worker thread and comes
back as a response dict, an :class:`S3Expected` the backend handles (missing key, failed
precondition, unsatisfiable range, conflicting concurrent write), or a typed
``storage_error``. Error messages carry the S3 error code, never credentials.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from agentcycle.errors import ConfigurationError, WorkspaceStorageError
from agentcycle.workspace._common import show

AddressingStyle = Literal["auto", "virtual", "path"]

# One boto3 session for the process: a client from a fresh session costs ~150 ms of model
# loading, one from a warm session ~10 ms. Sessions are not thread-safe, so clients are made
# under a lock (the clients themselves are).
_SESSION: Any = None
_SESSION_LOCK = threading.Lock()

_EXPECTED = {
    "NoSuchKey": "not_found",
    "NotFound": "not_found",
    "404": "not_found",
    "PreconditionFailed": "precondition_failed",
    "412": "precondition_failed",
    "InvalidRange": "invalid_range",
    "416": "invalid_range",
    "ConditionalRequestConflict": "conflict",
    "409": "conflict",
}


@dataclass(frozen=True, slots=True)
class S3Credentials:
    """Static S3 credentials; secrets are kept out of ``repr``.

    Leave ``credentials=None`` on the backend to use boto3's usual chain (environment,
    shared config files, instance roles).
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


class S3Expected(Exception):
    """An S3 answer the backend turns into workspace semantics (``code`` says which)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(slots=True)
class S3Client:
    """One lazily created boto3 client for a bucket, shared by all threads."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    credentials: S3Credentials | None = None
    addressing_style: AddressingStyle | None = None
    _client: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._create()
        return self._client

    def _create(self) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ConfigurationError(
                "S3 workspaces need boto3: install agentcycle[s3]", code="missing_dependency"
            ) from None
        config = Config(
            s3={"addressing_style": self.addressing_style} if self.addressing_style else None,
            retries={"mode": "standard", "max_attempts": 3},
            # Newer botocore adds CRC checksums to every upload by default; several
            # S3-compatible stores reject them, so only send them where S3 requires them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=16,
        )
        keys: dict[str, str | None] = {}
        if self.credentials is not None:
            keys = {
                "aws_access_key_id": self.credentials.access_key_id,
                "aws_secret_access_key": self.credentials.secret_access_key,
                "aws_session_token": self.credentials.session_token,
            }
        global _SESSION
        with _SESSION_LOCK:
            if _SESSION is None:
                _SESSION = boto3.session.Session()
            return _SESSION.client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                config=config,
                **keys,
            )

    def _invoke(self, operation: str, rel: str, params: dict[str, Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = getattr(self._get(), operation)(Bucket=self.bucket, **params)
            if operation == "get_object":
                with response["Body"] as body:
                    return body.read()
            return response
        except ClientError as error:
            info = error.response.get("Error", {})
            code = str(info.get("Code", ""))
            status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            # HEAD answers have no body, so only their status code says what happened.
            expected = _EXPECTED.get(code or status)
            if expected is not None:
                raise S3Expected(expected) from None
            reason = "permission_denied" if code in ("AccessDenied", "403") else "s3_error"
            raise WorkspaceStorageError(
                f"S3 {operation} for {show(rel)} failed: {code or status} "
                f"({info.get('Message', 'no message')})",
                details={"path": rel, "reason": reason, "s3_code": code or status},
            ) from None
        except BotoCoreError as error:
            raise WorkspaceStorageError(
                f"S3 {operation} for {show(rel)} failed: {error}",
                details={"path": rel, "reason": "connection"},
            ) from None

    async def call(self, operation: str, rel: str, /, **params: Any) -> Any:
        """Run one client operation on the bucket in a worker thread.

        ``get_object`` returns the body's bytes; everything else the response dict.
        """
        return await asyncio.to_thread(self._invoke, operation, rel, params)

    async def close(self) -> None:
        """Close the client's connection pool (a new client is made if used again)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)
