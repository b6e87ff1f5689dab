"""App server throughput and latency, measured from a stdio client.

1. Notifications per second during a streaming turn: a scripted reply of ``--chars``
   characters streamed ``--chunk`` characters per delta (so ``chars / chunk`` deltas), counted
   from the ``turn/start`` response to ``turn/completed`` as the client reads raw lines.
2. The same turn to one WebSocket client (``--listen ws://127.0.0.1:0``; the client is this
   process, on the ``websockets`` library, so its own cost is part of the wall-clock rate).
3. ``thread/read`` latency on a thread of ``--items`` stored items (seeded into a file store
   before the server starts): median and worst of ``--reads`` round trips.

The wall-clock rate depends on the machine's load (client and server share it); the server's
CPU time per notification does not. Run: ``.venv/bin/python benchmarks/app_server.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from agentcycle.app_server._store import Store

ENTRY = "import sys; from agentcycle.cli import main; sys.exit(main(sys.argv[1:]))"


async def _spawn(args: list[str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ENTRY,
        "app-server",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=1 << 28,
    )


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stream_args(folder: Path, chars: int, chunk: int) -> list[str]:
    reply = {
        "content": "x" * chars,
        "tool_calls": [{"id": "c1", "name": "task_finish", "arguments": {"message": "done"}}],
    }
    script = folder / "stream.json"
    script.write_text(json.dumps([reply]))
    return [
        "--scripted-model",
        str(script),
        "--store",
        ":memory:",
        "--scripted-stream-chunk-chars",
        str(chunk),
    ]


_TURN = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"clientInfo": {"name": "b"}},
    },
    {"jsonrpc": "2.0", "id": 2, "method": "thread/start"},
    {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "turn/start",
        "params": {"threadId": "thread_1", "input": [{"type": "text", "text": "go"}]},
    },
]


async def ws_notifications_per_second(
    folder: Path, chars: int, chunk: int
) -> tuple[int, float, float]:
    """``notifications_per_second`` over a WebSocket."""
    from websockets.asyncio.client import connect

    cpu_before = _children_cpu()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ENTRY,
        "app-server",
        "--listen",
        "ws://127.0.0.1:0",
        *_stream_args(folder, chars, chunk),
        stdin=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    line = b""
    while b"listening on " not in line:
        line = await process.stderr.readline()
        if not line:
            raise RuntimeError("the server did not start")
    url = line.decode().rsplit("listening on ", 1)[1].strip()
    count = 0
    started = 0.0
    async with connect(url, compression=None, max_size=None, max_queue=None) as socket:
        for request in _TURN:
            await socket.send(json.dumps(request))
        async for frame in socket:
            if '"id":3,' in frame:
                started = time.perf_counter()
            elif started and '"method":"' in frame:
                count += 1
                if '"method":"turn/completed"' in frame:
                    break
        elapsed = time.perf_counter() - started
    process.send_signal(signal.SIGTERM)
    await process.wait()
    return count, count / elapsed, _children_cpu() - cpu_before


async def notifications_per_second(
    folder: Path, chars: int, chunk: int
) -> tuple[int, float, float]:
    """Notifications of the turn, their rate on the wall clock, and the server's CPU seconds
    (its whole life, start-up included: a figure the machine's load does not inflate)."""
    cpu_before = _children_cpu()
    process = await _spawn(_stream_args(folder, chars, chunk))
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"".join(json.dumps(r).encode() + b"\n" for r in _TURN))
    await process.stdin.drain()
    count = 0
    started = 0.0
    while line := await process.stdout.readline():
        if b'"id":3,' in line:
            started = time.perf_counter()
        elif started and b'"method":"' in line:
            count += 1
            if b'"method":"turn/completed"' in line:
                break
    elapsed = time.perf_counter() - started
    process.stdin.close()
    await process.wait()
    return count, count / elapsed, _children_cpu() - cpu_before


def _seed(store_path: Path, items: int) -> None:
    with Store(store_path) as store:
        thread = store.create_thread("default", None, {}, time.time())
        turn_id = store.create_turn(thread.thread_id, [{"type": "text", "text": "seed"}], 1.0)
        store.finish_turn(turn_id, "completed", {}, 2.0)
        store.set_thread_status(thread.thread_id, "idle", 2.0)
        for n in range(items):
            item = {
                "itemId": f"item_evt_seed_{n}",
                "threadId": thread.thread_id,
                "turnId": turn_id,
                "type": "agentMessage",
                "status": "inProgress",
                "payload": {"delta": f"piece {n} of a long streamed answer"},
                "createdAt": 1720000000.0 + n,
                "updatedAt": 1720000000.0 + n,
            }
            store.put_item(item, json.dumps(item))


async def thread_read_latency(folder: Path, items: int, reads: int) -> tuple[float, float]:
    """Round trips of ``thread/read`` until the response line is read (parsing 2 MB of JSON
    on the client side is the client's cost, so it is left out; one response is checked)."""
    store = folder / "bench.sqlite"
    _seed(store, items)
    script = folder / "none.json"
    script.write_text("[]")
    process = await _spawn(["--scripted-model", str(script), "--store", str(store)])
    assert process.stdin is not None and process.stdout is not None
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"clientInfo": {"name": "b"}},
    }
    process.stdin.write(json.dumps(init).encode() + b"\n")
    await process.stdout.readline()
    read = {"jsonrpc": "2.0", "id": 1, "method": "thread/read", "params": {"threadId": "thread_1"}}
    line = json.dumps(read).encode() + b"\n"
    samples = []
    answer = b""
    for _ in range(reads):
        begin = time.perf_counter()
        process.stdin.write(line)
        await process.stdin.drain()
        answer = await process.stdout.readline()
        samples.append((time.perf_counter() - begin) * 1000)
    assert len(json.loads(answer)["result"]["items"]) == items
    process.stdin.close()
    await process.wait()
    return statistics.median(samples), max(samples)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chars", type=int, default=400_000)
    parser.add_argument("--chunk", type=int, default=4)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        count, rate, cpu = await notifications_per_second(Path(tmp), args.chars, args.chunk)
        print(
            f"streaming turn: {count} notifications at {rate:,.0f}/s wall (target >= 20,000/s);"
            f" server CPU {cpu:.2f} s in all = {count / cpu:,.0f} notifications per CPU second"
        )
        count, rate, cpu = await ws_notifications_per_second(Path(tmp), args.chars, args.chunk)
        print(
            f"streaming turn over WebSocket: {count} notifications at {rate:,.0f}/s wall;"
            f" server CPU {cpu:.2f} s in all = {count / cpu:,.0f} notifications per CPU second"
        )
        median, worst = await thread_read_latency(Path(tmp), args.items, args.reads)
        print(
            f"thread/read of {args.items} items: median {median:.1f} ms, worst {worst:.1f} ms "
            "(target < 50 ms)"
        )


if __name__ == "__main__":
    asyncio.run(main())
