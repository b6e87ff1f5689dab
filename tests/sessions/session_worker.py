"""One process of the multi-process SQLite session test.

    python session_worker.py WORKER PATH SESSION_ID

Runs one turn on the session; the rendezvous prints ``ready`` and waits for a line on stdin,
so the test releases every process at once. Prints the run's status at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from turns import rendezvous_agent, worker_input

from agentcycle import RunConfig, Runner
from agentcycle.sessions import SQLiteSession


def wait_for_release() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    worker, path, session_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    session = SQLiteSession(session_id, path)
    agent = rendezvous_agent(worker, wait_for_release)
    result = Runner.run_sync(agent, worker_input(worker), config=RunConfig(session=session))
    print(result.status.value, flush=True)
