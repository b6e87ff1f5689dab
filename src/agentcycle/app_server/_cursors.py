"""Catch-up cursors (ext, APP_SERVER.md §11.2): an opaque string naming one logged
notification as ``(storeEpoch, threadId, seq)``. Clients must not parse them; the server
checks every part when one comes back."""

from __future__ import annotations

import base64
import binascii

from agentcycle.app_server._jsonrpc import INVALID_CURSOR, RpcError

_PREFIX = "c1."


def encode(epoch: str, thread_id: str, seq: int) -> str:
    """The cursor of notification ``seq`` of the thread in the store of ``epoch``."""
    raw = f"{epoch}\n{thread_id}\n{seq}".encode()
    return _PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, epoch: str, thread_id: str, last_seq: int) -> int:
    """The ``seq`` a cursor names, checked against this store and thread; raises
    ``RpcError(-32026)`` with ``data.reason`` otherwise."""
    try:
        if not cursor.startswith(_PREFIX):
            raise ValueError(cursor)
        body = cursor[len(_PREFIX) :]
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        cursor_epoch, cursor_thread, seq_text = raw.split("\n")
        seq = int(seq_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _invalid("malformed") from None
    if cursor_epoch != epoch:
        raise _invalid("epoch_mismatch")
    if cursor_thread != thread_id:
        raise _invalid("thread_mismatch")
    if not 0 < seq <= last_seq:
        raise _invalid("unknown")
    return seq


def _invalid(reason: str) -> RpcError:
    return RpcError(INVALID_CURSOR, "Invalid cursor", {"reason": reason})
