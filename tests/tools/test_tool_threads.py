"""The worker threads sync function tools run in: what a function sees, results and errors,
concurrency, cancellation."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from agentcycle.tools._tool_threads import ToolThreads, tool_threads

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


async def test_a_call_runs_in_another_thread_without_a_running_loop() -> None:
    def where() -> tuple[int, bool]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return threading.get_ident(), False
        return threading.get_ident(), True

    ident, has_loop = await tool_threads.run(where)
    assert ident != threading.get_ident()
    assert not has_loop


async def test_a_call_sees_a_copy_of_the_callers_context_variables() -> None:
    def read_and_set() -> str:
        seen = request_id.get()
        request_id.set("changed in the thread")
        return seen

    token = request_id.set("r-1")
    try:
        assert await tool_threads.run(read_and_set) == "r-1"
        assert request_id.get() == "r-1"
    finally:
        request_id.reset(token)


async def test_arguments_results_and_exceptions_pass_through() -> None:
    def combine(a: int, *, b: int) -> int:
        return a * 10 + b

    def fail() -> None:
        raise KeyError("missing")

    assert await tool_threads.run(combine, 4, b=2) == 42
    with pytest.raises(KeyError, match="missing"):
        await tool_threads.run(fail)


async def test_stop_iteration_arrives_as_a_runtime_error() -> None:
    def stop() -> None:
        raise StopIteration

    with pytest.raises(RuntimeError, match="StopIteration"):
        await tool_threads.run(stop)


async def test_concurrent_calls_run_concurrently() -> None:
    pool = ToolThreads(max_workers=4)
    barrier = threading.Barrier(3, timeout=5)

    def meet() -> str:
        barrier.wait()  # passes only when all three calls run at the same time
        return "met"

    results = await asyncio.gather(*(pool.run(meet) for _ in range(3)))
    assert results == ["met", "met", "met"]


async def test_a_cancelled_caller_leaves_the_worker_usable() -> None:
    pool = ToolThreads(max_workers=1)
    release = threading.Event()
    call = asyncio.ensure_future(pool.run(release.wait, 5))
    await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    release.set()
    assert await pool.run(lambda: "next") == "next"
