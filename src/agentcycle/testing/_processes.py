"""Processes released together: the cross-process tests' barrier."""

from __future__ import annotations

import subprocess


def released_together(
    commands: list[list[str]], first_lines: list[str] | None = None, *, timeout: float = 60
) -> list[str]:
    """Start every command, give each its line of ``first_lines`` (if any) on stdin, wait
    until each has printed ``ready``, then release them all at once with a line ``go``. Returns
    what each printed after ``ready``; a process that does not get ready or exits non-zero
    fails the call (``AssertionError``), and none is left running."""
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for command in commands
    ]
    try:
        for proc, line in zip(procs, first_lines or [], strict=False):
            assert proc.stdin is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.close()
        outputs = []
        for proc in procs:
            assert proc.stdout is not None
            outputs.append(proc.stdout.read())
            assert proc.wait(timeout=timeout) == 0
        return outputs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
