"""The process tree of a running sweep, read from Linux's /proc: its workers and the trials
they run, cold (`python -m vgg_sweep train ...`, a child of its worker) or warm (forked by the
worker's fork server, vgg_sweep/engine/warm.py: a grandchild, known by its output log)."""

from __future__ import annotations

import os
from pathlib import Path


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def is_worker(pid: int) -> bool:
    """A spawned worker (multiprocessing's resource tracker is a child of the sweep too)."""
    return "multiprocessing.spawn" in cmdline(pid)


def trials(worker: int) -> list[tuple[int, str | None]]:
    """(pid, run id) of each trial process the worker runs now."""
    found = []
    for child in children(worker):
        line = cmdline(child)
        if "vgg_sweep train" in line:
            run_id = next((arg.split("=", 1)[1] for arg in line.split()
                           if arg.startswith("--run_id=")), None)
            found.append((child, run_id))
        elif "multiprocessing.forkserver" in line:
            found += [(pid, _logged_run(pid)) for pid in children(child)]
    return found


def _logged_run(pid: int) -> str | None:
    """The run whose output.log the process writes to (its stdout): runs/<sweep>/<id>/."""
    try:
        return Path(os.readlink(f"/proc/{pid}/fd/1")).parent.name
    except OSError:
        return None
