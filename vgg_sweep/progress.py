"""What a person watching a trial or a sweep reads, as text: one line per epoch, the sweep's
status (trials done of how many, best so far, elapsed, ETA) and its closing table.

On a terminal the sweep's status is one line redrawn in place at the bottom, the trials'
lines scrolling above it; anywhere else (a log file, a pipe, CI) every line is plain, with no
control characters, and the status is printed once each time the count of done trials
changes. Standard library only: the engine's main process imports it, torch-free.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

# What an epoch's line shows of its history row, in this order, when the row has it.
EPOCH_FIELDS = (("train_loss", "train loss {:.3f}"), ("train_acc", "acc {:.1f}%"),
                ("val_loss", "val loss {:.3f}"), ("val_acc", "val acc {:.1f}%"),
                ("images_per_sec", "{:.0f} img/s"))
CLEAR_LINE = "\r\x1b[K"  # carriage return, erase to the end of the line


def duration(seconds: float) -> str:
    """`0:07`, `12:34`, `1:02:03`."""
    minutes, secs = divmod(int(round(max(seconds, 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def epoch_line(epoch: int, epochs: Any, row: dict[str, Any], elapsed: float) -> str:
    """`epoch 2/5: train loss 0.512, acc 81.2%, val loss 0.480, val acc 82.4%, 4120 img/s,
    0:31 elapsed` (the fields the row has); `epoch 2: ...` when the epochs are not known
    (a foreign program without an `epochs` parameter)."""
    parts = [form.format(row[key]) for key, form in EPOCH_FIELDS
             if isinstance(row.get(key), int | float)]
    of = "" if epochs is None else f"/{epochs}"
    return f"epoch {epoch}{of}: {', '.join([*parts, f'{duration(elapsed)} elapsed'])}"


def eta(done: int, total: int | None, durations: list[float], workers: int) -> float | None:
    """Seconds left: the trials not done, at the mean duration of the finished ones, `workers`
    at a time; None while nothing has finished or the sweep has no end."""
    if total is None or not durations:
        return None
    left = max(total - done, 0)
    return left * (sum(durations) / len(durations)) / max(1, min(workers, left))


def best_text(metric: str, value: float, run_id: Any) -> str:
    return f"best {metric}={value:.4g} (run {run_id})"


@dataclass
class SweepStatus:
    """What the status line says; `text()` renders it."""

    done: int = 0
    running: int = 0
    total: int | None = None  # None: the sweep has no end (random or bayes without run_cap)
    best: str | None = None  # best_text(...)
    eta: float | None = None

    def text(self, elapsed: float) -> str:
        of = f"{self.done} of {self.total} trials done" if self.total is not None else \
            f"{self.done} trials done (unbounded: Ctrl-C stops)"
        parts = [of, f"{self.running} running", *([self.best] if self.best else []),
                 f"elapsed {duration(elapsed)}"]
        if self.eta is not None:
            parts.append(f"ETA {duration(self.eta)}")
        return "sweep: " + ", ".join(parts)


class Console:
    """Lines that scroll, and the sweep's status line under them, on `stream` (stdout)."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout
        self.started = time.monotonic()
        self.live = self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self._status: SweepStatus | None = None
        self._shown: int | None = None  # the done count of the last plain status line

    def say(self, line: str) -> None:
        """One line above the status line."""
        self._write((CLEAR_LINE if self.live else "") + line + "\n")
        self._draw()

    def status(self, status: SweepStatus) -> None:
        """Redraw the status line (a terminal) or print it when more trials are done."""
        self._status = status
        if self.live:
            self._draw()
        elif status.done != self._shown:
            self._shown = status.done
            self._write(status.text(time.monotonic() - self.started) + "\n")

    def close(self) -> None:
        """Erase the status line (a terminal): the closing summary follows."""
        if self.live and self._status is not None:
            self._write(CLEAR_LINE)
        self._status = None

    def _draw(self) -> None:
        if self.live and self._status is not None:
            width = shutil.get_terminal_size().columns - 1
            self._write(CLEAR_LINE + self._status.text(time.monotonic() - self.started)[:width])

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def table(rows: list[tuple[str, Any]], indent: str = "  ") -> str:
    """Two aligned columns."""
    width = max((len(name) for name, _ in rows), default=0)
    return "\n".join(f"{indent}{name:<{width}}  {value}" for name, value in rows)


def closing(metric: str | None, best: Any, fixed: dict[str, Any], report: str) -> str:
    """The end of a sweep's output: its best trial (an Optuna trial, or None) as a table of
    its swept parameters (those not in `fixed`) and its record, then the command that builds
    the report."""
    rows: list[tuple[str, Any]] = [("report", report)]
    if best is None:
        return table(rows, indent="")
    attrs = best.user_attrs
    params = attrs.get("params") if isinstance(attrs.get("params"), dict) else {}
    swept = [(key, f"{value:.4g}" if isinstance(value, float) else value)
             for key, value in params.items() if key not in fixed]
    record = [("record", attrs["record"])] if attrs.get("record") else []
    return (f"best {metric}={best.value:.4g}: run {attrs.get('run_id')}\n"
            f"{table(swept + record + rows)}")
