"""How a trial ends, and how it is told to stop: one vocabulary for the trainer, the engine and
the run record (standard library only: the engine's workers and analysis import it, not torch).

- `State`: a run's state, in its record, in `Outcome` and in the engine's trial attributes.
- `Outcome`: what a trial returns (in-process) or what its record says (subprocess).
- `StopFlag`: SIGINT/SIGTERM set it; the trial stops at the end of its batch, the worker
  stops claiming.
- The epoch channel: how the local engine learns a subprocess trial's epochs and tells it
  "go on" or "pruned" before the next epoch starts, exactly as `run_trial(on_epoch=...)`
  does in-process; so a pruned run is the same run in both modes (docs/architecture.md).
"""

from __future__ import annotations

import os
import select
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

OnEpoch = Callable[[int, dict[str, Any]], bool]  # (epoch, its history row) -> stop: pruned


class State(StrEnum):
    FINISHED = "finished"  # trained every epoch, tested
    FAILED = "failed"  # cannot succeed as configured (diverged, no GPU, bad arguments)
    CRASHED = "crashed"  # died (an exception, a kill -9, a non-zero exit): retried once
    KILLED = "killed"  # interrupted (Ctrl-C, SIGTERM): resumed later, the retry not used up
    PRUNED = "pruned"  # stopped by the sweep's early termination (hyperband) after an epoch,
    #                    tested with that epoch's weights: a result, never run again
    RUNNING = "running"  # still training (or its process died without a word)


@dataclass
class Outcome:
    """How one trial ended."""

    state: State
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.state == State.KILLED


class StopFlag:
    """Raised by SIGINT or SIGTERM while installed: stop at the end of the current batch."""

    def __init__(self):
        self.raised = False

    def __call__(self, *_):
        self.raised = True

    @contextmanager
    def installed(self):
        """Catch SIGINT and SIGTERM (in the main thread only: Python's rule) until the end of
        the block, then restore the previous handlers."""
        signals = (signal.SIGINT, signal.SIGTERM)
        main = threading.current_thread() is threading.main_thread()
        previous = {sig: signal.signal(sig, self) for sig in signals} if main else {}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


# --- the epoch channel ---------------------------------------------------------------------------
# Two pipes: the trial writes "<epoch>\n" once that epoch's record is written, then waits for a
# line back: PRUNE, or anything else (GO, or end of file: no engine any more) to go on. A
# verdict is a line on a pipe, not a signal: nothing can arrive before the trial listens, and
# nothing is lost while it trains.

CHANNEL_ENV = "VGG_SWEEP_EPOCH_FDS"  # "<notices fd>,<verdicts fd>" of a subprocess trial
PRUNE, GO = b"prune\n", b"go\n"


def engine_on_epoch() -> OnEpoch | None:
    """The trial's end: an `on_epoch` speaking to the engine that started this process, or
    None when no engine did (a W&B agent, a person). Taken out of the environment, so that
    the trial's own subprocesses do not answer for it."""
    fds = os.environ.pop(CHANNEL_ENV, None)
    if not fds:
        return None
    notices, verdicts = (int(fd) for fd in fds.split(","))
    answers = os.fdopen(verdicts, "rb")

    def on_epoch(epoch: int, row: dict[str, Any]) -> bool:
        try:
            os.write(notices, f"{epoch}\n".encode())
        except OSError:  # the engine is gone; its lease lapses and the trial is retried
            return False
        return answers.readline() == PRUNE

    return on_epoch


class EpochChannel:
    """The engine's end, for one subprocess trial: `env` and `fds` go to the child, then
    `epochs()` yields each epoch it finishes (None every `poll` seconds of silence) and
    `answer()` sends the verdict on it; `close()` lets a trial waiting for one go on."""

    def __init__(self):
        self._notices, notices_w = os.pipe()
        verdicts_r, self._verdicts = os.pipe()
        self.fds = (notices_w, verdicts_r)
        self.env = {**os.environ, CHANNEL_ENV: f"{notices_w},{verdicts_r}"}
        self._buffer = b""

    def started(self) -> None:
        """The child holds its ends now: close ours, so its exit reads as end of file."""
        for fd in self.fds:
            os.close(fd)
        self.fds = ()

    def epochs(self, poll: float) -> Iterator[int | None]:
        while True:
            if b"\n" not in self._buffer:
                if not select.select([self._notices], [], [], poll)[0]:
                    yield None
                    continue
                data = os.read(self._notices, 4096)
                if not data:  # the trial closed its end: it has exited
                    return
                self._buffer += data
                continue
            line, self._buffer = self._buffer.split(b"\n", 1)
            yield int(line)

    def answer(self, prune: bool) -> None:
        try:
            os.write(self._verdicts, PRUNE if prune else GO)
        except OSError:  # the trial has exited; its exit code tells the rest
            pass

    def close(self) -> None:
        for fd in (self._notices, self._verdicts, *self.fds):
            os.close(fd)
        self.fds = ()
