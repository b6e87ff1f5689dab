"""What a durable cycle's commit costs SQLite itself, without agentcycle around it.

The SQLite checkpoint store appends a ``read`` cycle's commit as one transaction: ``BEGIN
IMMEDIATE``, the runs row's compare-and-set ``UPDATE`` (the row found by its run number), one
``INSERT`` of the record, ``COMMIT`` (WAL, ``synchronous=NORMAL``). This script runs exactly
that on a raw file with the store's table layout, for several record sizes, beside the layout
it replaced and one that writes a page fewer still, to tell the part of a durable cycle's
overhead that no Python-side change can remove:

- ``v1 (run_id, seq)``: the store's layout up to schema version 1 (records keyed by
  ``(run_id, seq)`` and unique by ``(run_id, key)``, the runs row found by ``run_id``: a commit
  writes the runs row, the table leaf and both indexes' leaves);
- ``store (int key)``: the store's layout since version 2, records keyed by an integer (run
  number << 32 | seq), so the table is its own ``seq`` index: one page fewer;
- ``int key, no runs write``: also checking the runs row instead of moving it (the tail found
  from the records): two pages fewer.

Prints, per layout and size, the median µs per commit over ``--repeat`` files of ``--commits``
commits each, and the WAL bytes per commit.

Run: ``.venv/bin/python benchmarks/sqlite_commit_floor.py`` (``--sizes 1000,2500,10000``).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

RUN_ID = "run_0123456789abcdef01"
RUN_NO = 7
RECORD_COLUMNS = "epoch INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, " + (
    "payload TEXT NOT NULL, digest TEXT NOT NULL, ts INTEGER NOT NULL"
)
V1, STORE, NO_RUNS_WRITE = "v1 (run_id, seq)", "store (int key)", "int key, no runs write"
LAYOUTS = (V1, STORE, NO_RUNS_WRITE)


def open_file(path: Path, layout: str) -> sqlite3.Connection:
    """A file with the store's pragmas, the runs table (the store's; version 1's, keyed by
    ``run_id`` alone, costs the same to find and update by ``run_id``) and ``layout``'s records
    table."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint=16384")
    conn.execute(
        "CREATE TABLE runs (run_no INTEGER PRIMARY KEY, run_id TEXT UNIQUE NOT NULL,"
        " last_seq INTEGER NOT NULL, epoch INTEGER NOT NULL, status TEXT NOT NULL,"
        " cancel_reason TEXT)"
    )
    if layout == V1:
        conn.execute(
            f"CREATE TABLE records (run_id TEXT NOT NULL, seq INTEGER NOT NULL, {RECORD_COLUMNS},"
            " PRIMARY KEY (run_id, seq), UNIQUE (run_id, key))"
        )
    else:
        conn.execute(
            f"CREATE TABLE records (rid INTEGER PRIMARY KEY, run_no INTEGER NOT NULL,"
            f" {RECORD_COLUMNS}, UNIQUE (run_no, key))"
        )
        conn.execute(
            "INSERT INTO records VALUES (?, ?, 0, 'run_created', 'run', '{}', '', 0)",
            ((RUN_NO << 32) + 1, RUN_NO),
        )
    conn.execute("INSERT INTO runs VALUES (?, ?, 1, 0, 'running', NULL)", (RUN_NO, RUN_ID))
    return conn


def commit(conn: sqlite3.Connection, layout: str, seq: int, payload: str) -> None:
    """One commit record at ``seq``, as ``layout`` appends it."""
    record = (0, "cycle_committed", f"c{seq}/committed", payload, "0" * 64, 0)
    conn.execute("BEGIN IMMEDIATE")
    if layout == NO_RUNS_WRITE:
        conn.execute(
            "SELECT 1 FROM runs WHERE run_no = ? AND epoch = 0 AND status = 'running'"
            " AND cancel_reason IS NULL",
            (RUN_NO,),
        ).fetchone()
        conn.execute(
            "INSERT INTO records SELECT ?, ?, ?, ?, ?, ?, ?, ?"
            " WHERE (SELECT max(rid) FROM records WHERE rid < ?) = ?",
            ((RUN_NO << 32) + seq, RUN_NO, *record, (RUN_NO + 1) << 32, (RUN_NO << 32) + seq - 1),
        )
    elif layout == V1:
        conn.execute(
            "UPDATE runs SET last_seq = ? WHERE run_id = ? AND last_seq = ? AND epoch = 0"
            " AND status = 'running' AND cancel_reason IS NULL",
            (seq, RUN_ID, seq - 1),
        )
        conn.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (RUN_ID, seq, *record))
    else:
        conn.execute(
            "UPDATE runs SET last_seq = ? WHERE run_no = ? AND run_id = ? AND last_seq = ?"
            " AND epoch = 0 AND status = 'running' AND cancel_reason IS NULL",
            (seq, RUN_NO, RUN_ID, seq - 1),
        )
        conn.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((RUN_NO << 32) + seq, RUN_NO, *record),
        )
    conn.execute("COMMIT")


def measure(layout: str, size: int, commits: int) -> tuple[float, float]:
    """µs per commit and WAL bytes per commit, on a fresh file."""
    payload = '{"text":"' + "x" * size + '"}'
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "floor.db"
        conn = open_file(path, layout)
        try:
            start = time.perf_counter()
            for seq in range(2, commits + 2):
                commit(conn, layout, seq, payload)
            elapsed = time.perf_counter() - start
            wal = Path(f"{path}-wal").stat().st_size
        finally:
            conn.close()
    return elapsed / commits * 1e6, wal / commits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,2500,10000", help="payload bytes")
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'layout':>24} {'bytes':>7} {'µs/commit':>10} {'WAL B/commit':>13}")
    for size in sizes:
        # The layouts take turns, so each sees the same spells of the machine's other load.
        runs: dict[str, list[tuple[float, float]]] = {layout: [] for layout in LAYOUTS}
        for _ in range(args.repeat):
            for layout in LAYOUTS:
                runs[layout].append(measure(layout, size, args.commits))
        for layout in LAYOUTS:
            micros = statistics.median(r[0] for r in runs[layout])
            print(f"{layout:>24} {size:>7} {micros:>10.1f} {runs[layout][0][1]:>13.0f}")


if __name__ == "__main__":
    main()
