"""Run one trial, in a subprocess (the default, like `wandb agent`) or in this process.

Both speak the trial contract of `vgg_sweep.train` and return an `Outcome`:

- subprocess: `python -m vgg_sweep train --key=value ... --sweep --runs_dir --run_id
  [--resume]`, the command line a W&B agent builds. Its output goes to the run's
  `output.log`. After each epoch the trial rewrites its record; the runner reads the new
  history rows, hands them to `on_epoch`, and sends SIGTERM when that asks to stop (the
  trial then ends the batch, marks itself killed and exits 0). Exit 1 is a failed trial,
  2 bad arguments, anything else a crash. The child gets SIGTERM if its worker dies.
- in-process: `run_trial(config, run_dir, run_id=, sweep=, resume=, on_epoch=)`; saves the
  interpreter start and imports per trial, at the price of isolation. A trial that raises
  has crashed; its traceback goes to the run's output log.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vgg_sweep.config import TrialConfig
from vgg_sweep.record import read_record

TRAIN_COMMAND = (sys.executable, "-m", "vgg_sweep", "train")
OUTPUT_FILE = "output.log"
POLL_SECONDS = 0.5
STOP_WAIT_SECONDS = 120  # a stopped trial finishes its batch and writes its record first

OnEpoch = Callable[[int, dict[str, Any]], bool]


@dataclass
class Outcome:
    """How one trial ended. `killed` + `stopped_early`: stopped by the pruner; `killed`
    alone: interrupted (Ctrl-C, SIGTERM), to be run again."""

    state: str  # finished | failed | killed | crashed
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    stopped_early: bool = False

    @property
    def interrupted(self) -> bool:
        return self.state == "killed" and not self.stopped_early


def run_in_process(trial_fn: Callable, config: TrialConfig, run_dir: Path, *, run_id: str,
                   sweep: str, resume: bool, on_epoch: OnEpoch) -> Outcome:
    stopped = False

    def callback(epoch: int, row: dict[str, Any]) -> bool:
        nonlocal stopped
        stopped = stopped or bool(on_epoch(epoch, row))
        return stopped

    try:
        result = trial_fn(config, run_dir, run_id=run_id, sweep=sweep, resume=resume,
                          on_epoch=callback)
    except Exception as error:  # a bug or an out-of-memory: this trial crashed, not the sweep
        _log_traceback(run_dir)
        return Outcome("crashed", reason=f"{type(error).__name__}: {error}")
    return Outcome(result.state, result.summary, result.history, result.reason, stopped)


def _log_traceback(run_dir: Path) -> None:
    """The crash's traceback goes to the run's output log, as a subprocess trial's does (the
    sweep's own output has one line per trial)."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / OUTPUT_FILE, "a") as output:
            traceback.print_exc(file=output)
    except OSError:  # a full disk, say: the reason still reaches the study
        pass


def run_subprocess(command: tuple[str, ...], params: dict[str, Any], run_dir: Path, *,
                   runs_dir: Path, run_id: str, sweep: str, resume: bool, on_epoch: OnEpoch,
                   should_stop: Callable[[], bool]) -> Outcome:
    """`should_stop()` true (Ctrl-C in the worker) forwards SIGTERM to the trial."""
    args = [*command, *(f"--{key}={value}" for key, value in params.items()),
            f"--sweep={sweep}", f"--runs_dir={runs_dir}", f"--run_id={run_id}"]
    args += ["--resume"] if resume else []
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / OUTPUT_FILE, "ab") as output:
        process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    seen, stopped, signalled = 0, False, False
    while True:
        try:
            code = process.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        history = _history(run_dir)
        for row in history[seen:]:
            seen += 1
            if not stopped and on_epoch(seen, row):
                stopped = True
        if code is not None:
            break
        if (stopped or should_stop()) and not signalled:
            process.send_signal(signal.SIGTERM)
            signalled = True
            _wait_or_kill(process)
    return _outcome(process.returncode, run_dir, stopped, should_stop())


def _outcome(code: int, run_dir: Path, stopped: bool, interrupted: bool) -> Outcome:
    try:
        record = read_record(run_dir)
    except ValueError:
        record = {"state": "missing", "summary": {}, "history": []}
    summary, history = record.get("summary") or {}, record.get("history") or []
    if code in (0, 1) and record["state"] in ("finished", "failed", "killed"):
        reason = summary.get("failure_reason") if record["state"] == "failed" else None
        return Outcome(record["state"], summary, history, reason, stopped)
    tail = _last_line(run_dir / OUTPUT_FILE)
    if interrupted:  # killed by the Ctrl-C that stops this worker: run it again later
        return Outcome("killed", summary, history, f"interrupted (exit code {code})")
    if code == 2:
        return Outcome("failed", summary, history, f"bad arguments: {tail}")
    return Outcome("crashed", summary, history, f"exit code {code}: {tail}")


def _history(run_dir: Path) -> list[dict[str, Any]]:
    try:
        return read_record(run_dir).get("history") or []
    except ValueError:
        return []


def _wait_or_kill(process: subprocess.Popen) -> None:
    try:
        process.wait(timeout=STOP_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1].strip()[:300] if lines else "no output"


def _die_with_parent() -> None:
    """Linux: SIGTERM the trial when its worker dies (kill -9 included), so no orphan keeps
    training and writing into a run that is about to be retried."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
