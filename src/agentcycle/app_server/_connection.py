"""One client connection: its handshake state, opt-outs, and the server requests it owes an
answer to. Writes go straight to the transport's ``write``: stdio blocks on a slow reader
(never dropping a message); a WebSocket queues, bounded, and closes a client that falls too
far behind."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from agentcycle.app_server import _jsonrpc as rpc

AnswerHandler = Callable[[rpc.Response | None], None]
"""Called with the client's response to a server request, or ``None`` when the connection
ends first."""


class Connection:
    """A client connection (the stdio pair, or one WebSocket)."""

    def __init__(self, write: Callable[[bytes], None], name: str = "stdio") -> None:
        self._write = write
        self.name = name
        self.initialized = False
        self.experimental = False
        self.opted_out: frozenset[str] = frozenset()
        self._awaiting: dict[rpc.RequestId, AnswerHandler] = {}
        self.closed = False

    def send(self, message: dict[str, Any]) -> None:
        """Write one message (nothing once the connection is closed)."""
        if not self.closed:
            self._write(rpc.encode(message))

    def notify(self, method: str, line: bytes) -> None:
        """Send a notification (its encoded ``line``) unless the client opted out of
        ``method``."""
        if method not in self.opted_out and not self.closed:
            self._write(line)

    def request(
        self, request_id: rpc.RequestId, method: str, params: Any, on_answer: AnswerHandler
    ) -> None:
        """Send a server request; ``on_answer`` gets the client's response."""
        self._awaiting[request_id] = on_answer
        self.send(rpc.request(request_id, method, params))

    def answered(self, message: rpc.Response) -> None:
        """Route an inbound response to the server request it answers."""
        handler = self._awaiting.pop(message.id, None)
        if handler is None:
            print(
                f"agentcycle app-server: response to unknown request id {message.id!r} ignored",
                file=sys.stderr,
            )
            return
        handler(message)

    def close(self) -> None:
        """End the connection: server requests it owed an answer to are failed."""
        self.closed = True
        awaiting, self._awaiting = self._awaiting, {}
        for handler in awaiting.values():
            handler(None)

    def drop(self) -> None:
        """The transport went away (a WebSocket closed): write nothing more and forget the
        server requests it owed an answer to without failing them; an approval stays
        pending for whoever resumes the thread (APP_SERVER.md §9.3)."""
        self.closed = True
        self._awaiting.clear()
