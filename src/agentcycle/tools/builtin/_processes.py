"""Process machinery behind the shell tools: bounded output capture and process-group sessions.

A :class:`ShellSession` runs one ``bash -lc`` command in its own session (so its process group
id is its pid and the whole group can be signalled), captures stdout and stderr merged into an
:class:`OutputBuffer`, and watches a hard time limit. On Linux the command runs under a child
subreaper helper (``_reaper``), so descendants that leave the process group (``setsid``,
``setpgid``, double forks) are still found and ended with it. A :class:`SessionStore` holds a
run's sessions and kills whatever is still running when the run ends.

Why a hand-written subprocess protocol instead of ``asyncio.create_subprocess_exec``: the
streams API's ``Process.wait()`` (Python 3.11) only returns once every pipe is closed, so
``bash -lc 'server &'`` would look unfinished for as long as the server holds the output pipe.
The protocol's ``process_exited`` callback tells us when the command itself ended, and output
arrives through ``pipe_data_received`` straight into the bounded buffer, with no reader task
and no unbounded queue in between.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from agentcycle.tools.builtin import _reaper
from agentcycle.tools.builtin._confine import PidsCgroup

HEAD_CHARS = 5_000
"""Characters kept from the start of a command's output."""

TAIL_CHARS = 5_000
"""Characters kept from the end of a command's output."""

KILL_GRACE_SECONDS = 0.5
"""How long a process group gets between SIGTERM and SIGKILL."""

DRAIN_GRACE_SECONDS = 0.2
"""How long to wait, after the command exits, for output it wrote but we have not read yet.

Normally the pipe reports end-of-file at once; it stays open only when a background child
(``cmd &``) inherited it, and the result must not wait for that child."""

_MAX_UTF8_BYTES = 4
_YES_CHUNK = b"y\n" * 2048


class OutputBuffer:
    """Keeps the first and last bytes of a stream and counts the rest, in bounded memory.

    The byte budgets are ``4 x`` the character budgets: UTF-8 needs at most 4 bytes per
    character, so the kept bytes always decode to at least the character budget.
    """

    def __init__(self, head_chars: int = HEAD_CHARS, tail_chars: int = TAIL_CHARS) -> None:
        self._head_chars = head_chars
        self._tail_chars = tail_chars
        self._head_limit = head_chars * _MAX_UTF8_BYTES
        self._tail_limit = tail_chars * _MAX_UTF8_BYTES
        self._head = bytearray()
        self._tail = bytearray()
        self._discarding = False
        self.total_bytes = 0
        """Bytes received so far, kept or not."""

    def feed(self, data: bytes) -> None:
        """Take the next piece of the stream."""
        self.total_bytes += len(data)
        if self._discarding:
            return
        room = self._head_limit - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if data:
            self._tail += data
            # Trim only once the tail is twice its budget: amortised O(1) per byte.
            if len(self._tail) > 2 * self._tail_limit:
                del self._tail[: len(self._tail) - self._tail_limit]

    def discard(self) -> None:
        """Free the kept bytes and ignore further output (nobody will ask for it)."""
        self._discarding = True
        self._head = bytearray()
        self._tail = bytearray()

    def render(self) -> tuple[str, bool]:
        """The output as text (UTF-8, invalid bytes replaced) and whether part was omitted.

        Omitted output is replaced by a marker saying how many bytes were left out.
        """
        head = bytes(self._head)
        tail = bytes(self._tail[-self._tail_limit :])
        if self.total_bytes == len(head) + len(tail):
            text = (head + tail).decode("utf-8", "replace")
            if len(text) <= self._head_chars + self._tail_chars:
                return text, False
            head_text = text[: self._head_chars]
            tail_text = text[-self._tail_chars :]
        else:
            # A character cut at the head's end or the tail's start decodes to replacement
            # characters, but with 4 bytes per character budgeted at least the character
            # budget of whole characters remains, so the slices drop them.
            head_text = head.decode("utf-8", "replace")[: self._head_chars]
            tail_text = tail.decode("utf-8", "replace")[-self._tail_chars :]
        kept = len(head_text.encode("utf-8")) + len(tail_text.encode("utf-8"))
        omitted = max(self.total_bytes - kept, 0)
        marker = f"\n\n[... {omitted} bytes of output omitted ...]\n\n"
        return head_text + marker + tail_text, True


class _Protocol(asyncio.SubprocessProtocol):
    """Feeds output into the buffer and turns process events into futures."""

    def __init__(self, buffer: OutputBuffer, loop: asyncio.AbstractEventLoop) -> None:
        self.buffer = buffer
        self.exited: asyncio.Future[None] = loop.create_future()
        self.output_closed: asyncio.Future[None] = loop.create_future()
        self.stdin_closed = False
        self.can_write = asyncio.Event()
        self.can_write.set()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        self.buffer.feed(data if isinstance(data, bytes) else data.encode("utf-8"))

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 0:
            self.stdin_closed = True
            self.can_write.set()  # wake the stdin feeder so it notices and stops
        elif fd == 1 and not self.output_closed.done():
            self.output_closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()


class _StatusProtocol(asyncio.Protocol):
    """Reads the helper's report of the command's exit code (``None`` at end-of-file without
    one: the helper itself was killed)."""

    def __init__(self, reported: asyncio.Future[int | None]) -> None:
        self._reported = reported
        self._data = b""

    def data_received(self, data: bytes) -> None:
        self._data += data
        if b"\n" in self._data and not self._reported.done():
            self._reported.set_result(int(self._data.split(b"\n", 1)[0]))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._reported.done():
            self._reported.set_result(None)


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the process group (0: just probe); False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # the number now belongs to someone else's group: not ours
        return False
    return True


class ShellSession:
    """One ``bash -lc`` command running in its own process group.

    Create with :meth:`start`. ``finished`` completes when the command has exited (or was
    killed) and its output has been collected; the session never raises from it.
    """

    def __init__(
        self,
        command: str,
        transport: asyncio.SubprocessTransport,
        protocol: _Protocol,
        hard_limit: float,
        reported: asyncio.Future[int | None] | None = None,
        cgroup: PidsCgroup | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.id = "sh_" + secrets.token_hex(4)
        """The id the model uses to ask about the command."""
        self.command = command
        self.hard_limit = hard_limit
        """Seconds after which the command is killed and reported as ``timeout``."""
        self._transport = transport
        self._protocol = protocol
        self._pgid = transport.get_pid()  # a new session: group id == leader pid
        # Under the reaper helper the command's own exit is reported on a status pipe; the
        # helper exits (``protocol.exited``) only once every descendant is gone.
        self._reported = reported
        self._cgroup = cgroup
        if cgroup is not None:
            protocol.exited.add_done_callback(lambda _: self._release_cgroup())
        self._started = loop.time()
        self._ended: float | None = None
        self._timed_out = False
        self._killing: asyncio.Task[None] | None = None
        self._feeder: asyncio.Task[None] | None = None
        self.finished: asyncio.Task[None] = loop.create_task(self._watch())
        """Done once the command ended and its output was collected."""

    @classmethod
    async def start(
        cls,
        command: str,
        *,
        cwd: Path,
        env: Mapping[str, str],
        stdin: str | None = None,
        auto_confirm: bool = False,
        hard_limit: float,
        shell: str = "bash",
        wrapper: Sequence[str] = (),
        max_processes: int = 0,
        confine_code: str = "",
    ) -> ShellSession:
        """Start ``<shell> -lc command`` in ``cwd`` (``shell`` is bash or a path to it).

        ``stdin`` is written to the command's input and then closed; ``auto_confirm`` instead
        feeds an endless stream of ``y`` lines (like ``yes |``). With neither, stdin is
        ``/dev/null`` so a prompt sees end-of-file instead of hanging. ``wrapper`` is an
        argument vector the shell runs under (the sandbox's ``bwrap ... --``);
        ``max_processes`` caps the processes the command may have at once and
        ``confine_code`` confines it (the Landlock sandbox), both under the helper only.
        Raises ``OSError`` when bash cannot be started."""
        loop = asyncio.get_running_loop()
        buffer = OutputBuffer()
        wants_stdin = stdin is not None or auto_confirm
        argv: list[str] = [*wrapper, shell, "-lc", command]
        status_read, status_write = os.pipe() if _reaper.AVAILABLE else (-1, -1)
        cgroup: PidsCgroup | None = None
        if _reaper.AVAILABLE:
            if max_processes:
                cgroup = PidsCgroup.create(max_processes)
            argv = _reaper.helper_argv(
                status_write,
                argv,
                max_processes=max_processes,
                cgroup_join=cgroup.join_file if cgroup is not None else "",
                confine_code=confine_code,
            )
        try:
            transport, protocol = await loop.subprocess_exec(
                lambda: _Protocol(buffer, loop),
                *argv,
                stdin=subprocess.PIPE if wants_stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=dict(env),
                start_new_session=True,
                pass_fds=(status_write,) if _reaper.AVAILABLE else (),
            )
        except BaseException:
            if _reaper.AVAILABLE:
                os.close(status_read)
            if cgroup is not None:
                cgroup.remove()
            raise
        finally:
            if _reaper.AVAILABLE:
                os.close(status_write)
        reported: asyncio.Future[int | None] | None = None
        if _reaper.AVAILABLE:
            reported = loop.create_future()
            status = os.fdopen(status_read, "rb", buffering=0)
            await loop.connect_read_pipe(lambda: _StatusProtocol(reported), status)
        session = cls(command, transport, protocol, hard_limit, reported, cgroup)
        pipe = transport.get_pipe_transport(0)
        if pipe is not None:
            if auto_confirm:
                session._feeder = loop.create_task(session._feed_yes(pipe))
            else:
                # The transport buffers what the pipe cannot take yet; close() flushes first.
                assert isinstance(pipe, asyncio.WriteTransport)
                pipe.write((stdin or "").encode("utf-8"))
                pipe.close()
        return session

    async def _feed_yes(self, pipe: asyncio.BaseTransport) -> None:
        assert isinstance(pipe, asyncio.WriteTransport)
        while not (self._protocol.stdin_closed or pipe.is_closing()):
            pipe.write(_YES_CHUNK)
            await self._protocol.can_write.wait()
            await asyncio.sleep(0)  # let the loop flush before writing more

    async def _watch(self) -> None:
        exited = self._reported if self._reported is not None else self._protocol.exited
        try:
            await asyncio.wait_for(asyncio.shield(exited), self.hard_limit)
        except TimeoutError:
            self._timed_out = True
            await self.terminate()
        # After a kill the helper has exited, so its report is in the pipe already.
        await asyncio.wait({exited, self._protocol.output_closed}, timeout=DRAIN_GRACE_SECONDS)
        self._ended = asyncio.get_running_loop().time()
        if self._feeder is not None:
            self._feeder.cancel()

    def _release_cgroup(self, attempts: int = 50) -> None:
        """Remove the pids cgroup once the helper has exited (it waits for every descendant,
        so the cgroup is empty then). Called back, never awaited: the result does not wait
        for it, and the kernel may release the last pids a moment after the helper exited."""
        cgroup = self._cgroup
        if cgroup is None:
            return
        if cgroup.remove() or attempts <= 0:
            self._cgroup = None
            return
        asyncio.get_running_loop().call_later(0.01, self._release_cgroup, attempts - 1)

    # -- state ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True until the command has ended and its output was collected."""
        return not self.finished.done()

    @property
    def exit_code(self) -> int | None:
        """The exit status once the command exited; ``-N`` when signal ``N`` killed bash."""
        if self._ended is None:
            return None
        reported = self._reported
        if reported is not None and reported.done() and reported.result() is not None:
            return reported.result()
        return self._transport.get_returncode()

    @property
    def status(self) -> str:
        """``running``, ``completed`` (exit 0), ``failed`` or ``timeout`` (hard limit hit)."""
        if self._ended is None:
            return "running"
        if self._timed_out:
            return "timeout"
        return "completed" if self.exit_code == 0 else "failed"

    @property
    def duration(self) -> float:
        """Seconds since the start, or the whole run time once ended."""
        end = self._ended if self._ended is not None else asyncio.get_running_loop().time()
        return end - self._started

    def output(self) -> tuple[str, bool, int]:
        """The bounded output so far: text, whether part was omitted, total bytes."""
        text, truncated = self._protocol.buffer.render()
        return text, truncated, self._protocol.buffer.total_bytes

    # -- ending --------------------------------------------------------------------------

    async def terminate(self) -> None:
        """Kill the process group: SIGTERM, up to :data:`KILL_GRACE_SECONDS`, then SIGKILL.

        Concurrent callers share one kill.
        """
        if self._killing is None:
            self._killing = asyncio.get_running_loop().create_task(self._kill())
        await asyncio.shield(self._killing)

    async def _kill(self) -> None:
        exited = self._protocol.exited
        if _signal_group(self._pgid, signal.SIGTERM) and not exited.done():
            await asyncio.wait({exited}, timeout=KILL_GRACE_SECONDS)
        # Also reaches children that outlived bash or ignore SIGTERM.
        _signal_group(self._pgid, signal.SIGKILL)
        await exited

    def has_leftovers(self) -> bool:
        """Whether processes the command started may still be alive (the output pipe is
        still open, or the process group still has members)."""
        return not self._protocol.output_closed.done() or _signal_group(self._pgid, 0)

    def discard_output(self) -> None:
        """Drop the kept output (its result was already reported)."""
        self._protocol.buffer.discard()

    async def aclose(self) -> None:
        """Kill the command and everything it left running; release the pipes."""
        await self.terminate()
        await self.finished
        # Let the cgroup's release (a callback retrying for up to 0.5 s) finish before the
        # loop may end: an empty cgroup must not outlive the run.
        for _ in range(60):
            if self._cgroup is None:
                break
            await asyncio.sleep(0.01)
        self._transport.close()


class SessionStore:
    """The shell sessions of one run, closed (every process group killed) when the run ends."""

    def __init__(self) -> None:
        self._sessions: dict[str, ShellSession] = {}
        self._retired: list[ShellSession] = []

    def add(self, session: ShellSession) -> None:
        """Track ``session``; ``get`` finds it by id."""
        self._sessions[session.id] = session

    def get(self, session_id: str) -> ShellSession | None:
        """The session with this id, or ``None``."""
        return self._sessions.get(session_id)

    def retire(self, session: ShellSession) -> None:
        """Forget a finished foreground command whose result was reported.

        Its output is freed; it is only kept (for the final kill) when it left processes
        behind, such as ``server &``.
        """
        self._sessions.pop(session.id, None)
        session.discard_output()
        if session.has_leftovers():
            self._retired.append(session)

    async def aclose(self) -> None:
        """Kill every session's process group, running or left behind, concurrently."""
        sessions = [*self._sessions.values(), *self._retired]
        self._sessions.clear()
        self._retired.clear()
        await asyncio.gather(*(s.aclose() for s in sessions), return_exceptions=True)
