"""Request serialization per scope (§11.3) and ingress limits (§11.4), in process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from agentcycle.app_server._scheduler import Scheduler


async def test_scopes_serialize_exclusive_requests_in_arrival_order() -> None:
    scheduler = Scheduler(per_scope=10)
    log: list[str] = []
    started = {name: asyncio.Event() for name in ("w1", "r1", "r2", "w2", "other")}
    release = {name: asyncio.Event() for name in started}

    def job(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            log.append(f"start {name}")
            started[name].set()
            await release[name].wait()
            log.append(f"end {name}")

        return run

    for name, exclusive in (("w1", True), ("r1", False), ("r2", False), ("w2", True)):
        assert scheduler.submit("thread_1", exclusive, job(name))
    assert scheduler.submit("thread_2", False, job("other"))
    await started["w1"].wait()
    await started["other"].wait()  # another scope runs meanwhile
    assert log == ["start w1", "start other"]
    release["w1"].set()
    await started["r1"].wait()
    await started["r2"].wait()  # shared requests run together...
    assert "start w2" not in log  # ...and the exclusive one behind them waits
    release["r1"].set()
    release["r2"].set()
    await started["w2"].wait()
    assert log.index("start w2") > max(log.index("end r1"), log.index("end r2"))
    release["w2"].set()
    release["other"].set()
    await scheduler.drain()


async def test_a_full_scope_refuses_at_once_and_frees_its_slots() -> None:
    scheduler = Scheduler(per_scope=2)
    gate = asyncio.Event()

    async def blocked() -> None:
        await gate.wait()

    assert scheduler.submit("s", True, blocked)
    assert scheduler.submit("s", True, blocked)
    assert not scheduler.submit("s", True, blocked)
    assert scheduler.submit("other", False, blocked)
    gate.set()
    await scheduler.drain()
    assert scheduler.submit("s", True, blocked)
    await scheduler.drain()


async def test_the_server_wide_limit_is_ten_scopes_worth() -> None:
    scheduler = Scheduler(per_scope=1)
    gate = asyncio.Event()

    async def blocked() -> None:
        await gate.wait()

    accepted = [scheduler.submit(f"scope-{n}", False, blocked) for n in range(11)]
    assert accepted == [True] * 10 + [False]
    gate.set()
    await scheduler.drain()
