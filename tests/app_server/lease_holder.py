"""A live process that owns a durable run, through the public ``CheckpointStore`` API only.

``python -m tests.app_server.lease_holder STORE_URL RUN_ID TTL_MS`` waits out the run's
current lease (a dead owner's) on the store's clock, takes the lease, prints
``HELD <epoch>``, and renews it every quarter of ``TTL_MS`` (a live owner's heartbeat) until
its stdin closes; then it gives the run up and exits 0.
"""

from __future__ import annotations

import sys
import threading
import time

from agentcycle.stores.checkpoint_urls import open_checkpoint_store

OWNER = "lease-holder"


def main(url: str, run_id: str, ttl_ms: int) -> int:
    """Hold ``run_id`` until stdin closes (see the module docstring)."""
    store = open_checkpoint_store(url)
    try:
        lease = store.acquire_lease(run_id, OWNER, ttl_ms)
        while lease is None:
            head = store.head(run_id)
            if head is not None and head.lease is not None:
                # The dead owner's lease ends on the store's clock: nothing signals it.
                time.sleep(max(1, head.lease.expires_ms - head.now_ms + 1) / 1000)
            lease = store.acquire_lease(run_id, OWNER, ttl_ms)
        print(f"HELD {lease.epoch}", flush=True)
        released = threading.Event()

        def beat() -> None:
            while not released.wait(ttl_ms / 4000):
                if not store.renew_lease(run_id, OWNER, lease.epoch, ttl_ms).ok:
                    print("LOST", flush=True)
                    return

        heart = threading.Thread(target=beat)
        heart.start()
        sys.stdin.read()  # until the test closes our stdin
        released.set()
        heart.join()
        store.release_lease(run_id, OWNER, lease.epoch)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
