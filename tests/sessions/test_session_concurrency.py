"""Eight runs at once on one session: every turn kept, none mixed.

SQLite is shared by threads and by processes; Redis by tasks on separate connections (its append
is one server-side script, so who the clients are does not change the atomicity).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

from agentcycle import RunConfig, Runner, RunStatus
from agentcycle.sessions import RedisSession, SQLiteSession
from agentcycle.testing._processes import released_together

from .conftest import REDIS_URL
from .turns import rendezvous_agent, worker_input, workers_in

RUNS = 8
WORKER = Path(__file__).with_name("session_worker.py")


def run_worker_processes(path: Path, session_id: str) -> None:
    """Start RUNS worker processes, release them together once all wait mid-run, and check
    each completed."""
    commands = [[sys.executable, str(WORKER), str(i), str(path), session_id] for i in range(RUNS)]
    assert released_together(commands) == ["completed\n"] * RUNS


def test_sqlite_threads(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    barrier = threading.Barrier(RUNS)
    statuses: list[RunStatus] = []

    def one_run(worker: int) -> None:
        session = SQLiteSession("shared", path)  # each thread its own handle on one file
        agent = rendezvous_agent(worker, lambda: barrier.wait(timeout=30))
        result = Runner.run_sync(agent, worker_input(worker), config=RunConfig(session=session))
        statuses.append(result.status)

    threads = [threading.Thread(target=one_run, args=(i,)) for i in range(RUNS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [RunStatus.COMPLETED] * RUNS
    items = asyncio.run(SQLiteSession("shared", path).get_items())
    assert sorted(workers_in(items)) == list(range(RUNS))


def test_sqlite_processes(tmp_path: Path) -> None:
    path = tmp_path / "sessions.sqlite3"
    run_worker_processes(path, "shared")
    items = asyncio.run(SQLiteSession("shared", path).get_items())
    assert sorted(workers_in(items)) == list(range(RUNS))


async def test_redis_tasks(redis_prefix: str) -> None:
    session = RedisSession("shared", url=REDIS_URL, key_prefix=redis_prefix)
    barrier = asyncio.Barrier(RUNS)
    results = await asyncio.gather(
        *(
            Runner.run(
                rendezvous_agent(i, barrier.wait),
                worker_input(i),
                config=RunConfig(session=session),
            )
            for i in range(RUNS)
        )
    )
    assert [r.status for r in results] == [RunStatus.COMPLETED] * RUNS
    assert sorted(workers_in(await session.get_items())) == list(range(RUNS))
    await session.aclose()
