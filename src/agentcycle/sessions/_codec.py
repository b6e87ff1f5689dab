"""How sessions check, store and read back items: one message as one JSON document."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import TypeAdapter, ValidationError

from agentcycle.errors import SessionCorrupt, SessionError
from agentcycle.messages import AssistantMessage, Message, SystemMessage, ToolMessage, UserMessage

_MESSAGE_TYPES = (SystemMessage, UserMessage, AssistantMessage, ToolMessage)
_MESSAGE: TypeAdapter[Message] = TypeAdapter(Message)


def checked_items(session_id: str, items: Sequence[Message]) -> list[Message]:
    """``items`` as a list, refusing anything that is not a message before any is stored."""
    checked = list(items)
    for index, item in enumerate(checked):
        if not isinstance(item, _MESSAGE_TYPES):
            raise SessionError(
                f"session {session_id!r}: item {index} of the turn is a "
                f"{type(item).__name__}, not a message",
                code="invalid_session_item",
                details={"session_id": session_id, "index": index},
            )
    return checked


def encode_items(session_id: str, items: Sequence[Message]) -> list[str]:
    """The JSON text stored for each of ``items``."""
    return [item.model_dump_json() for item in checked_items(session_id, items)]


def decode_item(session_id: str, position: int, raw: str | bytes) -> Message:
    """The message stored at ``position`` (0 = oldest) of the session."""
    try:
        return _MESSAGE.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "item"
        raise SessionCorrupt(
            f"session {session_id!r}: item {position} is not a valid message "
            f"({where}: {first['msg']})",
            details={"session_id": session_id, "position": position},
        ) from exc


def check_limit(session_id: str, limit: int | None) -> None:
    """Refuse a negative ``limit`` for ``get_items``."""
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise SessionError(
            f"session {session_id!r}: limit must be None or a non-negative integer, got {limit!r}",
            code="invalid_session_limit",
        )
