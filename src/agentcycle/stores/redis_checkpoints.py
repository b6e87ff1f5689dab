"""``RedisCheckpointStore``: run logs in Redis (``pip install 'agentcycle[redis]'``).

Every mutating operation is one Lua script (``_checkpoint_redis_scripts.py``), so it is atomic
whatever the number of clients and processes, and lease expiry uses the server's ``TIME``. A
run's keys share the hash tag ``{run_id}`` under ``key_prefix`` (default ``ac:``):
``ac:{run}:meta``, ``ac:{run}:log``, ``ac:{run}:keys``; ``ac:running`` indexes the leased
running runs by lease expiry for the sweeper, and ``ac:runs_created`` counts the runs created
(each meta keeps its number: the order of creation ``list_runs`` sorts by). An append is an
``RPUSH`` and an ``HSET`` of the batch (an ``HSETNX`` for a single record): its cost does not
grow with the log. Reads are ``LRANGE`` from the cursor. ``list_runs`` walks the database's
keys with ``SCAN`` (no index of all runs is kept on the write path): its cost grows with the
number of keys in the database.

Durability is Redis's: with the default RDB snapshots a Redis crash loses the writes since the
last snapshot; run Redis with AOF (``appendonly yes``; ``appendfsync everysec`` can lose about
one second) for run logs that must survive it. The sweeper index spans runs, so the store needs
a single Redis server (or a primary with replicas), not Redis Cluster. ``redis`` is imported
when a store is created, never by ``import agentcycle``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from agentcycle.errors import (
    CheckpointStorageError,
    ConfigurationError,
    CorruptRunRecord,
)
from agentcycle.stores import _checkpoint_redis_scripts as scripts
from agentcycle.stores import _checkpoint_rules as rules
from agentcycle.stores.checkpoints import AppendResult, Lease, LogStatus, RenewResult, RunHead
from agentcycle.stores.run_records import NewRecord, RunRecord

_quote: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]
_SCAN_BATCH = 1000
"""Keys ``SCAN`` looks at per call of ``list_runs`` (a hint to the server)."""

DEFAULT_KEY_PREFIX = "ac:"
"""The key prefix of a store opened without one: keys ``ac:{run}:meta`` and ``ac:running``."""


class RedisCheckpointStore:
    """A ``CheckpointStore`` in Redis at ``url`` (or on a ``redis.Redis`` ``client`` you own,
    which ``close()`` leaves open)."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        client: Any = None,
        key_prefix: str = DEFAULT_KEY_PREFIX,
    ) -> None:
        self._owns_client = client is None
        if client is None:
            try:
                import redis
            except ImportError as exc:
                raise ConfigurationError(
                    "RedisCheckpointStore needs the redis package: pip install 'agentcycle[redis]'"
                ) from exc
            client = redis.Redis.from_url(url)
        from redis._parsers.base import BaseParser
        from redis.exceptions import NoScriptError

        self._no_script = NoScriptError
        self._parse_error = BaseParser.parse_error
        self._idle: list[Any] = []
        self._idle_lock = threading.Lock()
        self._pid = os.getpid()
        self._client = client
        self.key_prefix = key_prefix
        self._running = f"{key_prefix}running"
        self._runs_created = f"{key_prefix}runs_created"
        self._create = client.register_script(scripts.CREATE)
        self._append = client.register_script(scripts.APPEND)
        self._acquire = client.register_script(scripts.ACQUIRE)
        self._renew = client.register_script(scripts.RENEW)
        self._release = client.register_script(scripts.RELEASE)
        self._cancel = client.register_script(scripts.CANCEL)
        self._head = client.register_script(scripts.HEAD)
        self._recoverable = client.register_script(scripts.RECOVERABLE)
        self._delete = client.register_script(scripts.DELETE)

    def keys(self, run_id: str) -> tuple[str, str, str]:
        """The run's Redis keys: its meta hash, its log list and its key index."""
        base = f"{self.key_prefix}{{{run_id}}}"
        return f"{base}:meta", f"{base}:log", f"{base}:keys"

    def create_run(self, run_id: str, header: Mapping[str, Any]) -> bool:
        """Create the run with ``header`` at seq 1 unless it exists."""
        rules.check_run_id(run_id)
        first = rules.header_record(header)
        with self._errors(run_id):
            reply = self._eval(
                self._create,
                keys=[*self.keys(run_id), self._runs_created],
                args=[_entry_tail(0, first), first.key, first.digest],
            )
        return bool(int(reply[0]))

    def append(
        self, run_id: str, records: Sequence[NewRecord], *, expected_seq: int, epoch: int
    ) -> AppendResult:
        """Append the batch at ``expected_seq`` (see ``CheckpointStore.append``)."""
        rules.check_run_id(run_id)
        rules.check_batch(records, expected_seq, epoch)
        args: list[Any] = [
            run_id,
            expected_seq,
            epoch,
            rules.status_after(records).value,
            len(records),
        ]
        for record in records:
            args += [record.key, record.digest, _entry_tail(epoch, record)]
        with self._errors(run_id):
            reply = self._eval(self._append, keys=[*self.keys(run_id), self._running], args=args)
        outcome = str(_text(reply[0]))
        if outcome == "ok":
            ts = int(reply[2])
            written = tuple(
                RunRecord.stamped(run_id, expected_seq + i, epoch, ts, record)
                for i, record in enumerate(records)
            )
            return AppendResult(int(reply[1]), len(written), written, _text(reply[3]))
        if outcome == "duplicate":
            stored = tuple(_decode(run_id, expected_seq + i, raw) for i, raw in enumerate(reply[2]))
            return AppendResult(int(reply[1]), 0, stored, _text(reply[3]))
        raise self._refusal(run_id, outcome, reply, expected_seq, epoch)

    def read(self, run_id: str, after_seq: int = 0, limit: int | None = None) -> list[RunRecord]:
        """Records after ``after_seq``, at most ``limit``."""
        rules.check_run_id(run_id)
        rules.check_read(after_seq, limit)
        meta, log, _ = self.keys(run_id)
        with self._errors(run_id):
            pipe = self._client.pipeline(transaction=True)
            pipe.exists(meta)
            # limit 0 reads nothing (from 0, its end index -1 would mean the whole list).
            if limit != 0:
                pipe.lrange(log, after_seq, -1 if limit is None else after_seq + limit - 1)
            exists, *rest = pipe.execute()
        rules.found(run_id, exists or None)
        raws = rest[0] if rest else []
        return [_decode(run_id, after_seq + 1 + i, raw) for i, raw in enumerate(raws)]

    def head(self, run_id: str) -> RunHead | None:
        """The run's state, or ``None``."""
        rules.check_run_id(run_id)
        with self._errors(run_id):
            now, fields = self._eval(self._head, keys=[self.keys(run_id)[0]])
        last_seq, epoch, status, owner, expires, cancel = (_text(v) for v in fields)
        if last_seq is None:
            return None
        meta = rules.RunMeta(
            int(last_seq),
            int(epoch or 0),
            LogStatus(str(status)),
            owner,
            None if expires is None else int(expires),
            cancel,
        )
        return rules.head_of(run_id, meta, int(now))

    def acquire_lease(self, run_id: str, owner: str, ttl_ms: int) -> Lease | None:
        """A new epoch for ``owner`` unless the lease is live."""
        rules.check_run_id(run_id)
        rules.check_lease_args(owner, ttl_ms)
        with self._errors(run_id):
            reply = self._eval(
                self._acquire,
                keys=[self.keys(run_id)[0], self._running],
                args=[run_id, owner, ttl_ms],
            )
        outcome = self._known(run_id, reply)
        if outcome == "terminal":
            raise rules.terminated(run_id)
        if outcome == "held":
            return None
        return Lease(owner, int(reply[1]), int(reply[2]))

    def renew_lease(self, run_id: str, owner: str, epoch: int, ttl_ms: int) -> RenewResult:
        """Extend ``owner``'s live lease; carries the cancel flag."""
        rules.check_run_id(run_id)
        rules.check_lease_args(owner, ttl_ms, epoch)
        with self._errors(run_id):
            reply = self._eval(
                self._renew,
                keys=[self.keys(run_id)[0], self._running],
                args=[run_id, owner, epoch, ttl_ms],
            )
        ok = self._known(run_id, reply) == "ok"
        return RenewResult(ok, int(reply[2]) if ok else None, _text(reply[1]))

    def release_lease(self, run_id: str, owner: str, epoch: int) -> bool:
        """Give the run up."""
        rules.check_run_id(run_id)
        rules.check_lease_args(owner, epoch=epoch)
        with self._errors(run_id):
            reply = self._eval(
                self._release,
                keys=[self.keys(run_id)[0], self._running],
                args=[run_id, owner, epoch],
            )
        return self._known(run_id, reply) == "ok"

    def request_cancel(self, run_id: str, reason: str) -> bool:
        """Ask the run to stop."""
        rules.check_run_id(run_id)
        rules.check_reason(reason)
        with self._errors(run_id):
            reply = self._eval(self._cancel, keys=[self.keys(run_id)[0]], args=[reason])
        return self._known(run_id, reply) == "ok"

    def cancel_requested(self, run_id: str) -> str | None:
        """The pending cancel reason, or ``None``."""
        rules.check_run_id(run_id)
        with self._errors(run_id):
            last_seq, reason = self._request("HMGET", self.keys(run_id)[0], "last_seq", "cancel")
        rules.found(run_id, last_seq)
        return _text(reason)

    def list_recoverable(self, limit: int | None = None) -> list[str]:
        """Running runs whose lease expired, longest expired first."""
        rules.check_read(0, limit)
        with self._errors(None):
            members = self._eval(
                self._recoverable, keys=[self._running], args=[-1 if limit is None else limit]
            )
        return [str(_text(member)) for member in members]

    def list_runs(self, *, limit: int | None = None) -> list[str]:
        """Run ids, newest first: the runs' metas found by ``SCAN`` (``MATCH`` on the prefix,
        its glob characters escaped, and ``{*}:meta``), each one's ``created`` (server ms) and
        ``created_no`` read in a pipeline per batch, sorted by them (a meta without a
        ``created_no``, written before it existed, counts as created first in its ms). A run
        deleted during the scan is left out."""
        rules.check_read(0, limit)
        pattern = f"{_glob_escape(self.key_prefix)}{{*}}:meta"
        first, last = len(self.key_prefix) + 1, -len("}:meta")
        created: dict[str, tuple[int, int]] = {}
        with self._errors(None):
            cursor = 0
            while True:
                cursor, keys = self._client.scan(cursor, match=pattern, count=_SCAN_BATCH)
                pipe = self._client.pipeline(transaction=False)
                for key in keys:
                    pipe.hmget(key, "last_seq", "created", "created_no")
                for key, (last_seq, ms, number) in zip(keys, pipe.execute(), strict=True):
                    if last_seq is not None:  # else deleted since the scan found it
                        created[str(_text(key))[first:last]] = (int(ms or 0), int(number or 0))
                if int(cursor) == 0:
                    break
        newest_first = sorted(created, key=lambda run_id: (created[run_id], run_id), reverse=True)
        return newest_first[:limit]

    def delete_run(self, run_id: str) -> bool:
        """Delete the run unless its lease is live."""
        rules.check_run_id(run_id)
        with self._errors(run_id):
            reply = self._eval(
                self._delete, keys=[*self.keys(run_id), self._running], args=[run_id]
            )
        outcome = str(_text(reply[0]))
        if outcome == "held":
            raise rules.lease_held(run_id, str(_text(reply[1])))
        return outcome == "ok"

    def close(self) -> None:
        """Close the store's own connections, and the connection pool it opened (not a
        ``client`` passed in)."""
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.disconnect()
        if self._owns_client:
            self._client.close()

    # ------------------------------------------------------------------ plumbing

    def _eval(self, script: Any, keys: Sequence[str], args: Sequence[Any] = ()) -> Any:
        """Run a registered script by its SHA, loading it again if the server lost it (a
        restart)."""
        try:
            return self._request("EVALSHA", script.sha, len(keys), *keys, *args)
        except self._no_script:
            script.sha = self._client.script_load(script.script)
            return self._request("EVALSHA", script.sha, len(keys), *keys, *args)

    def _request(self, *command: str | int) -> Any:
        """Send one command and read its answer on a connection of the store's own (idle
        ones are kept for the next call; threads each take their own). The command is
        packed here and sent as is, and its answer read here: redis-py's call path (pool
        checkout with a health poll, retry wrapper, packing by concatenation) cost ~50 µs of
        an append's ~150 on the event loop, and its pure-Python reply parser ~25 µs more. A
        connection that failed mid-call is dropped (its state is unknown; an error the
        server answered, such as ``NOSCRIPT``, leaves it fine). Errors are redis-py's, as
        from the client."""
        with self._idle_lock:
            if self._pid != os.getpid():  # forked: the sockets are the parent's
                self._idle, self._pid = [], os.getpid()
            connection = self._idle.pop() if self._idle else None
        if connection is None:
            connection = self._client.connection_pool.make_connection()
        try:
            connection.send_packed_command([_command(*command)], check_health=False)
            reply = _read_reply(connection)
        except BaseException:
            connection.disconnect()
            raise
        if isinstance(reply, _ErrorReply):
            self._give_back(connection)  # the server answered: the connection is fine
            raise self._parse_error(reply.message)
        self._give_back(connection)
        return reply

    def _give_back(self, connection: Any) -> None:
        with self._idle_lock:
            self._idle.append(connection)

    def _known(self, run_id: str, reply: list[Any]) -> str:
        """The script's outcome word, after turning ``missing`` into ``RunNotFound``."""
        outcome = str(_text(reply[0]))
        if outcome == "missing":
            rules.found(run_id, None)
        return outcome

    def _refusal(
        self, run_id: str, outcome: str, reply: list[Any], expected_seq: int, epoch: int
    ) -> Exception:
        """The typed error for an append the script refused."""
        self._known(run_id, reply)
        if outcome == "terminal":
            return rules.terminated(run_id)
        if outcome == "fenced":
            return rules.fenced(run_id, epoch, int(reply[1]))
        if outcome == "seq":
            return rules.off_tail(run_id, expected_seq, int(reply[1]))
        if outcome == "key":
            seq = str(_text(reply[2])).split(" ", 1)[0]
            return rules.key_taken(run_id, str(_text(reply[1])), int(seq))
        return CheckpointStorageError(f"unexpected answer from the append script: {reply!r}")

    @contextmanager
    def _errors(self, run_id: str | None) -> Iterator[None]:
        from redis.exceptions import RedisError

        try:
            yield
        except RedisError as exc:
            raise CheckpointStorageError(
                f"checkpoint store in Redis (keys under {self.key_prefix!r}): {exc}",
                details={"run_id": run_id, "key_prefix": self.key_prefix},
            ) from exc


def _glob_escape(text: str) -> str:
    """``text`` matched literally in a ``SCAN MATCH`` pattern: its glob characters escaped."""
    return "".join(f"\\{ch}" if ch in "\\*?[]" else ch for ch in text)


def _command(*args: str | int) -> bytes:
    """A command in Redis's protocol (RESP): an array of bulk strings, UTF-8."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else b"%d" % arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


class _ErrorReply:
    """An error the server answered (``-ERR ...``), turned into redis-py's exception by the
    caller."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


class _Incomplete(Exception):
    """The bytes read so far end inside the reply."""


def _read_reply(connection: Any) -> Any:
    """One reply read from ``connection``'s socket: bulk strings as bytes, integers, ``None``
    for a null, lists for arrays, an ``_ErrorReply`` for an error; a socket failure becomes
    redis-py's ``ConnectionError`` or ``TimeoutError``. The store's connections carry nothing
    but the answers to its own commands, one at a time, so a reply is all a read holds."""
    sock = connection._sock
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError as exc:  # socket.timeout is an OSError too
            raise _socket_error(exc) from exc
        if not chunk:
            raise _socket_error(None)
        data += chunk
        try:
            reply, end = _parse(data, 0)
        except _Incomplete:
            continue
        if end != len(data):
            from redis.exceptions import InvalidResponse

            raise InvalidResponse("unexpected data after a reply")
        return reply


def _socket_error(exc: OSError | None) -> Exception:
    """redis-py's error for a failed read (``None``: the server closed the connection)."""
    from redis import exceptions

    if exc is None:
        return exceptions.ConnectionError("Connection closed by server.")
    if isinstance(exc, TimeoutError):
        return exceptions.TimeoutError("Timeout reading from socket")
    return exceptions.ConnectionError(f"Error while reading from socket: {exc}")


def _parse(data: bytes, at: int) -> tuple[Any, int]:
    """The RESP2 or RESP3 value at ``at`` and where it ends (only the types the store's
    commands answer with: bulk and simple strings, integers, nulls, arrays, errors)."""
    end = data.find(b"\r\n", at)
    if end < 0:
        raise _Incomplete
    kind, line, after = data[at], data[at + 1 : end], end + 2
    if kind == 0x24:  # $: bulk string, $-1 a RESP2 null
        size = int(line)
        if size < 0:
            return None, after
        if len(data) < after + size + 2:
            raise _Incomplete
        return data[after : after + size], after + size + 2
    if kind == 0x2A:  # *: array, *-1 a RESP2 null
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = _parse(data, after)
            items.append(item)
        return items, after
    if kind == 0x3A:  # :
        return int(line), after
    if kind == 0x5F:  # _: a RESP3 null
        return None, after
    if kind == 0x2B:  # +
        return line, after
    if kind == 0x2D:  # -
        return _ErrorReply(line.decode(errors="replace")), after
    from redis.exceptions import InvalidResponse

    raise InvalidResponse(f"Unexpected reply type {chr(kind)!r}")


def _entry_tail(epoch: int, record: NewRecord) -> str:
    """The log entry after ``[ts,``: ``epoch,"kind","key","digest"]``, a newline and the
    payload (the header quoted as ``json.dumps(..., ensure_ascii=False)`` would)."""
    header = f"{epoch},{_quote(record.kind.value)},{_quote(record.key)},{_quote(record.digest)}]"
    return f"{header}\n{record.payload_json}"


def _decode(run_id: str, seq: int, raw: Any) -> RunRecord:
    """A log entry back as a record (see ``_checkpoint_redis_scripts`` for the layout)."""
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    head, newline, payload = text.partition("\n")
    try:
        ts, epoch, kind, key, digest = json.loads(head)
    except ValueError:
        newline = ""
    if not newline:
        raise CorruptRunRecord(
            f"run {run_id!r}: the log entry at seq {seq} is not a record",
            details={"run_id": run_id, "seq": seq},
        )
    return RunRecord.from_storage(run_id, seq, epoch, kind, key, payload, digest, ts)


def _text(value: Any) -> str | None:
    """A reply value as text (clients may or may not decode responses)."""
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
