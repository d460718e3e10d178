"""Where a trial's time goes: seconds per phase, kept in its run summary as `seconds`.

Phases: `startup` (the process's start to the trial's, interpreter and imports: Linux),
`tracking` (the record and W&B: start, every epoch's write; not W&B's finish, which comes
after the summary is written), `data` (load and split), `model` (build, move, resume),
`flops`, `train`, `validation`, `checkpoint`, `test` and `telemetry` (per-epoch flows, the
test-set plots). A sweep adds them up over its runs and prints the breakdown at its end
(`add_up`, `breakdown`; docs/performance.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

from vgg_sweep.record import read_record


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


TRAIN_AND_EVALUATION = ("train", "validation", "test")


def add_up(run_dirs: Iterable[Path]) -> tuple[dict[str, float], int]:
    """Seconds per phase summed over the records of `run_dirs` that hold them (a foreign
    program's do not), and how many did."""
    totals: dict[str, float] = {}
    runs = 0
    for run_dir in run_dirs:
        try:
            seconds = read_record(run_dir).get("summary", {}).get("seconds")
        except ValueError:
            continue
        if not isinstance(seconds, dict):
            continue
        runs += 1
        for name, value in seconds.items():
            if isinstance(value, int | float):
                totals[name] = totals.get(name, 0.0) + value
    return totals, runs


def breakdown(totals: dict[str, float], runs: int) -> str:
    """One line: the phases, largest first, and what lay outside training and evaluation."""
    if not runs:
        return ""
    outside = sum(value for name, value in totals.items() if name not in TRAIN_AND_EVALUATION)
    phases = ", ".join(f"{name} {value:.1f} s" for name, value in
                       sorted(totals.items(), key=lambda item: -item[1]))
    return (f"time in {runs} run(s): {phases}; outside training and evaluation "
            f"{outside / runs:.2f} s per run")
