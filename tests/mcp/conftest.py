"""Fixtures for the MCP tests: the in-repo server over stdio and over streamable HTTP."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcycle.mcp import HttpServerConfig, StdioServerConfig

pytest.importorskip("mcp")

SERVER = Path(__file__).with_name("server.py")


def stdio(name: str = "t", *extra: str, **options: Any) -> StdioServerConfig:
    """The in-repo server over stdio."""
    return StdioServerConfig(
        name=name, command=sys.executable, args=(str(SERVER), *extra), **options
    )


def gone(pid: int) -> bool:
    """True when no process ``pid`` exists (a stopped server was reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def http_server(port: int) -> Iterator[subprocess.Popen[str]]:
    """The in-repo server over streamable HTTP on 127.0.0.1:``port``, yielded once uvicorn
    says it listens; terminated on exit (a test may kill it earlier)."""
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    for line in process.stderr:  # uvicorn logs to stderr once it listens
        seen.append(line)
        if "Uvicorn running on" in line:
            break
    else:
        process.kill()
        raise AssertionError("the HTTP server did not start:\n" + "".join(seen))
    # Keep reading its request log so a full pipe never blocks the server.
    drain = threading.Thread(target=process.stderr.read, daemon=True)
    drain.start()
    try:
        yield process
    finally:
        process.terminate()
        process.wait(10)
        drain.join(10)


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    """The URL of the in-repo server over streamable HTTP, shared by a module's tests."""
    port = free_port()
    with http_server(port):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture
def http(http_url: str) -> Callable[..., HttpServerConfig]:
    """A config factory for the HTTP server."""

    def make(name: str = "h", **options: Any) -> HttpServerConfig:
        return HttpServerConfig(name=name, url=http_url, **options)

    return make
