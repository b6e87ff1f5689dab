"""Thread-scoped notifications: who is subscribed to which thread, and ``publish``, which
persists a notification (and the item it carries) before it sends it to them."""

from __future__ import annotations

from typing import Any

from agentcycle.app_server import _cursors as cursors
from agentcycle.app_server import _jsonrpc as rpc
from agentcycle.app_server._artifacts import MAX_PAYLOAD_BYTES, ArtifactDirectory, bound_item
from agentcycle.app_server._connection import Connection
from agentcycle.app_server._store import ItemConflict, Store, now


class Fanout:
    """Subscriptions and delivery of thread-scoped notifications."""

    def __init__(self, store: Store, artifacts: ArtifactDirectory) -> None:
        self._store = store
        self._artifacts = artifacts
        self._subscribers: dict[str, set[Connection]] = {}

    def subscribe(self, connection: Connection, thread_id: str) -> None:
        """Send the thread's notifications to ``connection`` from now on."""
        self._subscribers.setdefault(thread_id, set()).add(connection)

    def unsubscribe(self, connection: Connection, thread_id: str) -> bool:
        """Stop sending the thread's notifications to ``connection``; ``True`` when nobody
        is subscribed any more."""
        subscribers = self._subscribers.get(thread_id, set())
        subscribers.discard(connection)
        if subscribers:
            return False
        self._subscribers.pop(thread_id, None)
        return True

    def is_subscribed(self, connection: Connection, thread_id: str) -> bool:
        """Whether ``connection`` gets the thread's notifications."""
        return connection in self._subscribers.get(thread_id, ())

    def disconnect(self, connection: Connection) -> None:
        """Forget every subscription of ``connection``."""
        for thread_id in list(self._subscribers):
            self.unsubscribe(connection, thread_id)

    def publish(
        self,
        thread_id: str,
        method: str,
        params: dict[str, Any],
        item: dict[str, Any] | None = None,
        only: Connection | None = None,
        ext: dict[str, Any] | None = None,
        ext_only: bool = False,
    ) -> None:
        """Persist a thread-scoped notification (and its item, bounded to 1 MiB of payload),
        then send it to the thread's subscribers (or ``only`` one connection). Experimental
        connections also get the notification's ``cursor`` and the ``ext`` fields; an
        ``ext_only`` notification (an ext item type) goes to them alone. An item
        that is stored already is not sent again (its deltas are); one whose id is stored
        with other content becomes an ``item_identity_conflict`` warning."""
        at = now()
        if item is not None and item is not params:
            # A delta notification: the item plus ``delta``; its item is encoded once.
            item_json = rpc.compact_json(item)
            if len(item_json) > MAX_PAYLOAD_BYTES:
                item = bound_item(item, self._artifacts)
                item_json = rpc.compact_json(item)
            params_json = f'{item_json[:-1]},"delta":{rpc.compact_json(params["delta"])}}}'
        else:
            params_json = item_json = rpc.compact_json(params)
            if item is not None and len(item_json) > MAX_PAYLOAD_BYTES:
                item = params = bound_item(item, self._artifacts)
                params_json = item_json = rpc.compact_json(item)
        if item is not None:
            try:
                stored = self._store.put_item(item, item_json)
            except ItemConflict:
                message = f"item {item['itemId']} came again with other content; not stored"
                warning = {"message": message, "code": "item_identity_conflict"}
                self.publish(thread_id, "error/warning", warning)
                return
            if not stored and not method.endswith("/delta"):
                return  # the identical item again: already delivered
        seq = self._store.append_event(thread_id, method, params_json, at)
        line = rpc.notification_line(method, params_json)
        ext_line = None
        targets = (only,) if only is not None else tuple(self._subscribers.get(thread_id, ()))
        for connection in targets:
            if ext_only and not connection.experimental:
                continue
            if connection.experimental:
                if ext_line is None:
                    fields = {"cursor": cursors.encode(self._store.epoch, thread_id, seq)}
                    ext_line = rpc.notification_line(
                        method, rpc.with_fields(params_json, {**fields, **(ext or {})})
                    )
                connection.notify(method, ext_line)
            else:
                connection.notify(method, line)
