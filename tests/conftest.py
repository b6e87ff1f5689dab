"""Fixtures shared by every test package: a real S3-protocol server (moto) on loopback."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from agentcycle.workspace import S3Credentials

S3_CREDENTIALS = S3Credentials("testing", "testing-secret")
S3_REGION = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of moto's S3 server application, served over HTTP on 127.0.0.1 (a free port).

    This is the app ``moto_server`` serves for S3, without its multi-service dispatcher, which
    spends milliseconds per request working out which of 150 services is meant.
    """
    from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class QuietHandler(MotoRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            """One line per request would only slow the tests down."""

    server = make_server(
        "127.0.0.1", 0, create_backend_app("s3"), threaded=True, request_handler=QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="session")
def s3_admin(s3_endpoint: str) -> Any:
    """A plain boto3 client for arranging and inspecting buckets behind the backend's back."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_CREDENTIALS.access_key_id,
        aws_secret_access_key=S3_CREDENTIALS.secret_access_key,
    )


@pytest.fixture
def s3_bucket(s3_admin: Any) -> str:
    """A fresh, empty bucket for one test."""
    name = f"ws-{uuid.uuid4().hex[:20]}"
    s3_admin.create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["openat2", "walk"])
def resolver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a local-workspace test with the kernel's ``openat2`` (when present) and again with
    the fallback component-by-component walk."""
    from agentcycle.workspace import _beneath

    if request.param == "walk":
        monkeypatch.setattr(_beneath, "_openat2", None)
    elif _beneath._openat2 is None:
        pytest.skip("this kernel has no openat2")
    return str(request.param)
