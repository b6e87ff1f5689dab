"""``agentcycle app-server``: serve the protocol, or write its schemas.

    agentcycle app-server --listen stdio|ws://127.0.0.1:PORT
        (--scripted-model FILE | --settings-file FILE --backend NAME --model NAME)
        [--timeout-seconds 90] [--store PATH|:memory:] [--approval-timeout-seconds 30]
        [--max-queued-requests 100] [--ws-token-file FILE] [--lease-ttl-seconds 15]
    agentcycle app-server schema --out DIR        (alias: generate-json-schema)
    agentcycle app-server generate-ts --out DIR

Settings, store and listener are resolved before stdin is read. Exit codes: 0 clean exit, 2
configuration or usage error (bad flags, store in use or of an unknown version), 1 runtime
failure. Turns are durable runs logged in a checkpoint store beside the store
(``PATH.runs.sqlite``; in memory with ``--store :memory:``), so ``turn/resume`` continues a turn
a killed server left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentcycle.app_server._runtime import SdkLauncher
    from agentcycle.app_server._websocket import Listen

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``agentcycle app-server`` (serving flags)."""
    parser = argparse.ArgumentParser(
        prog="agentcycle app-server",
        description="Serve agentcycle over JSON-RPC 2.0 (the v1 app-server protocol). "
        "Subcommands: 'schema --out DIR', 'generate-ts --out DIR'.",
    )
    parser.add_argument(
        "--listen",
        default="stdio",
        help="'stdio' (default) or 'ws://HOST:PORT' (needs the 'ws' extra; port 0: any free)",
    )
    parser.add_argument(
        "--ws-token-file",
        metavar="FILE",
        help="WebSocket clients must send 'Authorization: Bearer <the file's token>'; "
        "required to listen on a non-loopback address",
    )
    parser.add_argument("--scripted-model", metavar="FILE", help="offline scripted replies")
    parser.add_argument(
        "--scripted-stream-chunk-chars",
        type=int,
        default=0,
        help="stream scripted text this many characters per delta (0: whole; for benchmarks)",
    )
    parser.add_argument(
        "--settings-file", "--settings", dest="settings_file", help="LLM settings file"
    )
    parser.add_argument("--backend", help="backend from the settings file")
    parser.add_argument("--model", help="model name within the backend")
    parser.add_argument("--timeout-seconds", type=float, default=90.0, help="per model request")
    parser.add_argument(
        "--store",
        help="SQLite store (default: <state dir>/agentcycle/app_server.sqlite; ':memory:')",
    )
    parser.add_argument("--approval-timeout-seconds", type=float, default=30.0)
    parser.add_argument("--max-queued-requests", type=int, default=100)
    parser.add_argument(
        "--lease-ttl-seconds",
        type=float,
        default=15.0,
        help="how long a killed server's runs stay owned before turn/resume may take them over",
    )
    return parser


def _schema_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"agentcycle app-server {prog}")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    return parser


def main(argv: Sequence[str]) -> int:
    """Entry point of ``agentcycle app-server``; returns the exit code."""
    args = list(argv)
    if args and args[0] in ("schema", "generate-json-schema", "generate-ts"):
        command = args[0]
        out = _schema_parser(command).parse_args(args[1:]).out
        from agentcycle.app_server.schemas import write_json_schemas, write_typescript

        written = write_typescript(out) if command == "generate-ts" else write_json_schemas(out)
        print(f"wrote {len(written)} files to {out}", file=sys.stderr)
        return EXIT_OK
    options = build_parser().parse_args(args)
    return _serve(options)


def _serve(options: argparse.Namespace) -> int:
    from agentcycle.app_server._store import MEMORY, Store, StoreError, default_store_path
    from agentcycle.errors import AgentcycleError

    problem = _check(options)
    listen: Listen | None = None
    token: str | None = None
    if problem is None and options.listen != "stdio":
        try:
            listen, token = _websocket_options(options)
        except (ValueError, OSError, ImportError) as exc:  # ListenError is a ValueError
            problem = str(exc)
    if problem is not None:
        print(f"agentcycle app-server: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        launcher = _launcher(options)
    except AgentcycleError as exc:
        print(f"agentcycle app-server: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    location = options.store or str(default_store_path())
    try:
        store = Store(location)
    except StoreError as exc:
        print(f"agentcycle app-server: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if location != MEMORY:
        launcher.sessions = Path(f"{Path(location).expanduser()}.sessions.sqlite")
        launcher.checkpoints = f"sqlite:///{Path(location).expanduser().resolve()}.runs.sqlite"
    limits = {
        "max_queued_requests": options.max_queued_requests,
        "approval_timeout": options.approval_timeout_seconds,
    }
    try:
        if listen is None:
            from agentcycle.app_server.server import serve_stdio

            return asyncio.run(serve_stdio(store, launcher, **limits))
        from agentcycle.app_server._websocket import serve_websocket

        return asyncio.run(serve_websocket(store, launcher, listen, token=token, **limits))
    except Exception as exc:
        print(f"agentcycle app-server: {exc!r}", file=sys.stderr)
        return EXIT_FAILURE
    finally:
        launcher.close()
        store.close()


def _websocket_options(options: argparse.Namespace) -> tuple[Listen, str | None]:
    """The WebSocket address and token; ``ImportError`` without the ``ws`` extra."""
    try:
        import websockets  # noqa: F401
    except ImportError:
        raise ImportError(
            "--listen ws://... needs the 'websockets' package: pip install 'agentcycle[ws]'"
        ) from None
    from agentcycle.app_server._websocket import ListenError, parse_listen

    token = None
    if options.ws_token_file:
        token = Path(options.ws_token_file).read_text(encoding="utf-8").strip()
        if not token:
            raise ListenError(f"--ws-token-file {options.ws_token_file}: the file is empty")
    return parse_listen(options.listen, token), token


def _check(options: argparse.Namespace) -> str | None:
    if options.ws_token_file and options.listen == "stdio":
        return "--ws-token-file applies to --listen ws://HOST:PORT only"
    if options.scripted_model and (options.settings_file or options.backend or options.model):
        return "use either --scripted-model or --settings-file/--backend/--model, not both"
    if options.approval_timeout_seconds <= 0:
        return "--approval-timeout-seconds must be greater than 0"
    if options.timeout_seconds <= 0:
        return "--timeout-seconds must be greater than 0"
    if options.max_queued_requests < 1:
        return "--max-queued-requests must be at least 1"
    if options.lease_ttl_seconds <= 0:
        return "--lease-ttl-seconds must be greater than 0"
    return None


def _launcher(options: argparse.Namespace) -> SdkLauncher:
    from agentcycle.app_server._models import SCRIPTED_SUMMARY, load_script, settings_model
    from agentcycle.app_server._runtime import SdkLauncher

    common = {
        "approval_timeout": options.approval_timeout_seconds,
        "request_timeout": options.timeout_seconds,
        "sessions": None,
        "lease_ttl": options.lease_ttl_seconds,
    }
    if options.scripted_model:
        model = load_script(Path(options.scripted_model), options.scripted_stream_chunk_chars)
        return SdkLauncher(model, None, [dict(SCRIPTED_SUMMARY)], **common)
    chosen, provider, summaries = settings_model(
        options.settings_file, options.backend, options.model
    )
    return SdkLauncher(chosen, provider, summaries, **common)
