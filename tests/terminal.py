"""Run a program under a real pseudo-terminal, as a person's shell would, and read back every
byte it wrote to the screen (stdout and stderr: both are the terminal)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time

COLUMNS = 200


def run_in_terminal(args: list[str], *, env: dict[str, str] | None = None,
                    cwd=None, term: str = "xterm", timeout: float = 120) -> tuple[int, str]:
    """(exit code, what the terminal received); the terminal is COLUMNS wide, of type
    `term`."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, COLUMNS, 0, 0))
    process = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                               env={**(env or os.environ), "TERM": term},
                               start_new_session=True)
    os.close(slave)
    received, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 0.5)[0]:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the terminal has closed it
                    break
                if not data:
                    break
                received += data
        else:
            process.kill()
            raise AssertionError(f"{args} ran past {timeout} s: {received.decode()[-2000:]}")
    finally:
        os.close(master)
    return process.wait(timeout=30), received.decode(errors="replace")


def visible_lines(screen: str) -> list[str]:
    """The rows a terminal shows once `screen` is written to it: a carriage return goes back
    to the start of the row, ESC[K erases to its end, what follows overwrites."""
    rows = []
    for raw in screen.split("\n"):
        row, column = [], 0
        for part in re.split(r"(\r|\x1b\[K)", raw):
            if part == "\r":
                column = 0
            elif part == "\x1b[K":
                del row[column:]
            else:
                row[column:column + len(part)] = part
                column += len(part)
        rows.append("".join(row).rstrip())
    return rows
