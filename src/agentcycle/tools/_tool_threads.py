"""Worker threads for sync tool functions: the hand-off of ``asyncio.to_thread`` at about half
its cost.

``asyncio.to_thread`` goes through the loop's default executor: a ``concurrent.futures`` future
per call, wrapped in an asyncio future that is chained back to it with two done-callbacks, the
executor's submit lock and thread-count check. Here a call is one queue item for a persistent
worker and one ``call_soon_threadsafe`` back, and only the thread wake-ups remain. What a tool
function sees is unchanged: it runs in another thread, in a copy of the caller's context
variables, with no running event loop (so it may block, call ``asyncio.run`` or wait on a
coroutine it submits to the run's loop). Like the default executor, the pool grows to
``min(32, cpus + 4)`` threads, a new one only when no idle thread is free, and the interpreter
waits at exit for calls still running. Unlike it, ``asyncio.run`` does not wait at loop close
for a call whose run has stopped waiting for it (cancelled, timed out).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import os
import queue
import threading
from collections.abc import Callable
from typing import Any

_Job = tuple[
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
    contextvars.Context,
    Callable[..., Any],
    tuple[Any, ...],
    dict[str, Any],
]


class ToolThreads:
    """A process-wide pool of worker threads that run sync functions for coroutines."""

    def __init__(self, max_workers: int) -> None:
        self._max = max_workers
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a forked child has none of the threads
        atexit.register(self._stop)

    def _reset(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # workers waiting for a job
        self._queued = 0  # jobs put and not taken yet

    async def run(self, func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Call ``func(*args, **kwargs)`` in a worker thread and return (or raise) its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            self._queued += 1
            # Every queued job has an idle worker to take it, or gets a new one: a batch of
            # concurrent calls runs concurrently, as with the default executor.
            if self._queued > self._idle and len(self._threads) < self._max:
                thread = threading.Thread(
                    target=self._work, name=f"agentcycle-tool-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        self._jobs.put((loop, future, contextvars.copy_context(), func, args, kwargs))
        return await future

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            with self._lock:
                self._idle += 1
            job = jobs.get()
            with self._lock:
                self._idle -= 1
                self._queued -= 1
            if job is None:
                return
            _run(job)
            del job  # drop the arguments while idle

    def _stop(self) -> None:
        """At interpreter exit: let running calls finish, then end every worker."""
        threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        for thread in threads:
            thread.join()


def _run(job: _Job) -> None:
    loop, future, context, func, args, kwargs = job
    try:
        deliver: tuple[Callable[..., None], Any] = (_succeed, context.run(func, *args, **kwargs))
    except StopIteration as exc:
        # An asyncio future cannot hold StopIteration (a coroutine would swallow it).
        error = RuntimeError("the tool function raised StopIteration")
        error.__cause__ = exc
        deliver = (_fail, error)
    except BaseException as exc:  # re-raised in the awaiting coroutine, like to_thread
        deliver = (_fail, exc)
    # RuntimeError: the loop closed while the call ran, so nobody waits for it any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(deliver[0], future, deliver[1])


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the awaiting coroutine may have been cancelled meanwhile
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


tool_threads = ToolThreads(max_workers=min(32, (os.cpu_count() or 1) + 4))
"""The pool every sync function tool uses."""
