"""The CLI as a process a user or a script drives: Ctrl+C before the run starts, and a reader
of its output that goes away."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from tests._cli import start_cli


def _open_writer_when_read(fifo: Path, proc: subprocess.Popen[str]) -> int:
    """The write end of ``fifo`` once ``proc`` has opened it for reading (a non-blocking open
    for writing fails with ENXIO until a reader is there)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or proc.poll() is not None:
                raise
            assert time.monotonic() < deadline, "the CLI never opened its --mcp-config"
            time.sleep(0.01)


def _wait_until_reading_a_pipe(proc: subprocess.Popen[str]) -> None:
    """Until ``proc`` sleeps in a pipe read (Linux: ``/proc/PID/wchan``). A signal that lands
    after Python last checked for signals but before its read started is only acted on when
    the read returns: a Ctrl+C sent at that instant would wait for the pipe's writer."""
    wchan = Path(f"/proc/{proc.pid}/wchan")
    deadline = time.monotonic() + 30
    while "pipe" not in wchan.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, "the CLI never read its pipe"
        time.sleep(0.01)


def test_ctrl_c_while_setting_up_still_prints_the_json_object(tmp_path: Path) -> None:
    # The run is being set up: the CLI waits to read its MCP config from a pipe.
    fifo = tmp_path / "mcp.json"
    os.mkfifo(fifo)
    proc = start_cli("-p", "Summarise", "--mcp-config", str(fifo), "--json", cwd=tmp_path,
                stdout=subprocess.PIPE)  # fmt: skip
    writer = _open_writer_when_read(fifo, proc)
    try:
        _wait_until_reading_a_pipe(proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(writer)
    assert proc.returncode == 130, err
    body = json.loads(out)  # exactly one object
    assert body["status"] == "cancelled" and body["error"]["code"] == "interrupted"
    assert "interrupted" in err and "Traceback" not in err


def test_a_reader_that_went_away_ends_the_cli_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Sample\n")
    # `agentcycle ... --events | head -1` once head has exited: nobody reads stdout.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = start_cli("-p", "Summarise this project", "--backend", "demo", "--events",
                    cwd=tmp_path, stdout=write_end)  # fmt: skip
    finally:
        os.close(write_end)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
