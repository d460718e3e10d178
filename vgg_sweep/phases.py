"""Where a trial's time goes: seconds per phase, kept in its run summary as `seconds`.

Phases: `startup` (the process's start to the trial's, interpreter and imports: Linux),
`tracking` (the record and W&B: start, every epoch's write; not W&B's finish, which comes
after the summary is written), `data` (load and split), `model` (build, move, resume),
`flops`, `train`, `validation`, `checkpoint`, `test` and `telemetry` (per-epoch flows, the
test-set plots). The sweep adds them up per phase (docs/performance.md).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path


def process_age() -> float | None:
    """Seconds since this process started (Linux `/proc`), None where unknown."""
    try:
        stat = Path("/proc/self/stat").read_text()
        started = int(stat.rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, float(Path("/proc/uptime").read_text().split()[0]) - started)
    except (OSError, ValueError, IndexError):
        return None


class Phases:
    """Seconds per phase, summed over every `with phases.timed(name):` block."""

    def __init__(self, startup: float | None = None):
        self.seconds: dict[str, float] = {} if startup is None else {"startup": startup}

    @contextmanager
    def timed(self, name: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def summary(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in self.seconds.items()}
