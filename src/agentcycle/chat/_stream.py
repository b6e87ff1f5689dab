"""A chat session's one event stream: every entry numbered by its ``position`` (1, 2, 3 … per
session, no gaps), kept in a backlog that replays to late subscribers.

A listener subscribed with ``since=k`` is first called with the kept entries after ``k`` and
then with every new one, with no await in between, so it sees each entry once and in order. A
position the backlog no longer holds (``max_backlog``) or has not reached is refused with
``StreamPositionError`` rather than served with a hole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from agentcycle.errors import ConfigurationError, StreamPositionError
from agentcycle.events import RunEvent


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry of a chat session's stream: ``event`` (a run's event, its child runs'
    included, or one of the session's own) at ``position``."""

    position: int
    event: RunEvent


StreamListener = Callable[[StreamEntry], None]
"""Called synchronously with each entry, in order, on the session's event loop."""


class Subscription:
    """A listener's place on the stream; ``close()`` stops its calls (idempotent)."""

    __slots__ = ("_listener", "_stream")

    def __init__(self, stream: SessionStream, listener: StreamListener) -> None:
        self._stream: SessionStream | None = stream
        self._listener = listener

    @property
    def active(self) -> bool:
        """True until ``close()``, or until the listener raised (it is then dropped)."""
        return self._stream is not None and self in self._stream._subscriptions

    def close(self) -> None:
        """Call the listener no more."""
        stream = self._stream
        if stream is not None:
            if self in stream._subscriptions:
                stream._subscriptions.remove(self)
            self._stream = None


class SessionStream:
    """The backlog and the subscribers of one chat session's stream (see the module
    docstring). ``on_listener_error`` hears of a listener that raised; it has been dropped."""

    def __init__(
        self,
        max_backlog: int | None,
        on_listener_error: Callable[[StreamListener, Exception], None],
    ) -> None:
        if max_backlog is not None and max_backlog < 1:
            raise ConfigurationError("max_backlog must be at least 1 (None: keep every entry)")
        self._max = max_backlog
        self._entries: list[StreamEntry] = []
        self._last = 0
        self._subscriptions: list[Subscription] = []
        self._on_listener_error = on_listener_error
        self._closed = False
        self._wakeup: asyncio.Future[None] | None = None

    @property
    def last_position(self) -> int:
        """The position of the latest entry (0 before the first)."""
        return self._last

    @property
    def first_kept(self) -> int:
        """The position of the oldest entry the backlog still holds."""
        return self._entries[0].position if self._entries else self._last + 1

    @property
    def closed(self) -> bool:
        """True once the session closed: no entry follows."""
        return self._closed

    def append(self, event: RunEvent) -> StreamEntry:
        """Number ``event``, keep it and hand it to every listener."""
        self._last += 1
        entry = StreamEntry(self._last, event)
        self._entries.append(entry)
        if self._max is not None and len(self._entries) >= 2 * self._max:
            # Trimmed in batches: one slice per ``max_backlog`` entries, not one per append.
            del self._entries[: len(self._entries) - self._max]
        failed: list[tuple[StreamListener, Exception]] = []
        for subscription in list(self._subscriptions):
            try:
                subscription._listener(entry)
            except Exception as exc:  # one broken listener must not starve the others
                subscription.close()
                failed.append((subscription._listener, exc))
        self._wake()
        for listener, error in failed:
            self._on_listener_error(listener, error)
        return entry

    def subscribe(self, listener: StreamListener, since: int | None = None) -> Subscription:
        """Replay the entries after ``since`` (all kept ones for ``None``) to ``listener``,
        then call it with every new entry."""
        start = self._start(since)
        subscription = Subscription(self, listener)
        for entry in self._entries[start:]:
            listener(entry)
        if not self._closed:
            self._subscriptions.append(subscription)
        return subscription

    async def iterate(self, since: int | None = None) -> AsyncIterator[StreamEntry]:
        """The entries after ``since``, then each new one, until the session closes. A
        reader so slow that the backlog dropped entries it had not read yet gets
        ``StreamPositionError``."""
        next_position = self.first_kept + self._start(since)
        while True:
            first = self.first_kept
            if next_position < first:
                raise self._unavailable(next_position - 1)
            while next_position <= self._last:
                entry = self._entries[next_position - first]
                next_position += 1
                yield entry
                first = self.first_kept
                if next_position < first:
                    raise self._unavailable(next_position - 1)
            if self._closed:
                return
            if self._wakeup is None:
                self._wakeup = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._wakeup)

    def close(self) -> None:
        """No more entries: readers finish, listeners are let go."""
        self._closed = True
        self._subscriptions.clear()
        self._wake()

    def _start(self, since: int | None) -> int:
        """The backlog index after position ``since``; raises for a position it cannot
        serve without a gap."""
        if since is None:
            return 0  # everything kept: a fresh subscriber asks for no particular point
        if since < 0 or since > self._last:
            raise self._unavailable(since)
        first = self.first_kept
        if since + 1 < first:
            raise self._unavailable(since)
        return since + 1 - first

    def _unavailable(self, since: int) -> StreamPositionError:
        first, last = self.first_kept, self._last
        if since > last or since < 0:
            message = f"position {since} is not in this stream (its last position is {last})"
        else:
            message = (
                f"entries after position {since} are no longer kept (the backlog starts at "
                f"{first}); read the conversation from the session store instead"
            )
        return StreamPositionError(message, details={"first_kept": first, "last": last})

    def _wake(self) -> None:
        wakeup = self._wakeup
        if wakeup is not None:
            self._wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)
