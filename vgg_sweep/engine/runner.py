"""Run one trial, in a process of its own (the default, like `wandb agent`) or in this one.

Both speak the trial contract of `vgg_sweep.train` and return a `vgg_sweep.outcome.Outcome`;
`on_epoch(epoch, row)` is called after every epoch the trial finishes and, when it returns
True, the trial stops there as `pruned` (tested with that epoch's weights), in either mode.

- subprocess: `python -m vgg_sweep train --key=value ... --sweep --runs_dir --run_id
  [--resume]`, the command line a W&B agent builds; with `warm`, the same arguments to a
  process forked from the worker's warm server (`vgg_sweep.engine.warm`), which has done the
  imports already, else a fresh interpreter (`--cold-start`). Its output goes to the run's
  `output.log`. The trial reports each epoch on the epoch channel (`vgg_sweep.outcome`) once
  its record holds it, and waits for the verdict before training on; the runner hands the
  record's new row to `on_epoch` and answers. The record's state is the outcome; exit 1 is a
  failed trial, 2 bad arguments, anything else (or no record) a crash. Ctrl-C in the worker
  forwards SIGTERM (the trial ends its batch, marks itself killed, exits 0). The child gets
  SIGTERM if its worker dies (a warm trial: when its server does, which ends with the worker).
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
from pathlib import Path
from typing import Any

from vgg_sweep.config import TrialConfig
from vgg_sweep.engine.warm import WarmTrial
from vgg_sweep.errors import UserError
from vgg_sweep.outcome import EpochChannel, OnEpoch, Outcome, State
from vgg_sweep.record import read_history, read_record

TRAIN_ARGS = ("train",)  # after `python -m vgg_sweep`: the CLI's arguments
TRAIN_COMMAND = (sys.executable, "-m", "vgg_sweep", *TRAIN_ARGS)
OUTPUT_FILE = "output.log"
POLL_SECONDS = 0.5
STOP_WAIT_SECONDS = 120  # a stopped trial finishes its batch and writes its record first


def run_in_process(trial_fn: Callable, config: TrialConfig, run_dir: Path, *, run_id: str,
                   sweep: str, resume: bool, on_epoch: OnEpoch,
                   group: str | None = None) -> Outcome:
    try:
        return trial_fn(config, run_dir, run_id=run_id, sweep=sweep, resume=resume,
                        on_epoch=on_epoch, **({"group": group} if group else {}))
    except UserError as error:  # refused before training (e.g. a val_split of zero images):
        return Outcome(State.FAILED, reason=str(error))  # failed for good, as exit 2 is
    except Exception as error:  # a bug or an out-of-memory: this trial crashed, not the sweep
        _log_traceback(run_dir)
        return Outcome(State.CRASHED, reason=f"{type(error).__name__}: {error}")


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
                   should_stop: Callable[[], bool], group: str | None = None,
                   warm: bool = False) -> Outcome:
    """`should_stop()` true (Ctrl-C in the worker) forwards SIGTERM to the trial; `warm`:
    `command` is our trainer's (TRAIN_COMMAND), run forked from the worker's warm server
    (`warm.WarmTrial`) instead of in a fresh interpreter."""
    options = [*(f"--{key}={value}" for key, value in params.items()),
               f"--sweep={sweep}", f"--runs_dir={runs_dir}", f"--run_id={run_id}"]
    options += ["--resume"] if resume else []
    options += [f"--group={group}"] if group else []
    run_dir.mkdir(parents=True, exist_ok=True)
    channel = EpochChannel()
    interrupted = False
    try:
        if warm:
            process = WarmTrial([*TRAIN_ARGS, *options], run_dir / OUTPUT_FILE, channel.env,
                                channel.fds)
        else:
            with open(run_dir / OUTPUT_FILE, "ab") as output:
                process = subprocess.Popen([*command, *options], stdout=output,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           env=channel.env, pass_fds=channel.fds,
                                           preexec_fn=die_with_parent)
        channel.started()
        for epoch in channel.epochs(POLL_SECONDS):
            if epoch is not None:
                history = read_history(run_dir)
                channel.answer(bool(history) and on_epoch(epoch, history[-1]))
            elif process.poll() is not None:  # exited; a child of its own holds the pipe
                break
            if should_stop():
                process.send_signal(signal.SIGTERM)
                interrupted = True
                break
    finally:
        channel.close()  # a trial waiting for a verdict goes on (and stops, if signalled)
    _wait_or_kill(process)
    # A Ctrl-C to the terminal's process group also reaches a trial still starting, before its
    # handler: it dies of SIGINT, interrupted like the rest, not crashed.
    return _outcome(process.returncode, run_dir, interrupted or should_stop())


def _outcome(code: int, run_dir: Path, interrupted: bool) -> Outcome:
    """What the record says when the trial wrote its end (exit 0 or 1), else why it ended."""
    try:
        record = read_record(run_dir)
    except ValueError:
        record = {}
    summary, history = record.get("summary") or {}, record.get("history") or []
    ended = (State.FINISHED, State.FAILED, State.KILLED, State.PRUNED)
    if code in (0, 1) and record.get("state") in ended:
        state = State(record["state"])
        reason = summary.get("failure_reason") if state == State.FAILED else None
        return Outcome(state, summary, history, reason)
    tail = last_line(run_dir / OUTPUT_FILE)
    if interrupted:  # killed by the Ctrl-C that stops this worker: run it again later
        return Outcome(State.KILLED, summary, history, f"interrupted (exit code {code})")
    if code == 2:
        return Outcome(State.FAILED, summary, history, f"bad arguments: {tail}")
    return Outcome(State.CRASHED, summary, history, f"exit code {code}: {tail}")


def _wait_or_kill(process: subprocess.Popen | WarmTrial) -> None:
    try:
        process.wait(timeout=STOP_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def last_line(path: Path) -> str:
    """The last non-blank line of a trial's output (the error a failed program printed)."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1].strip()[:300] if lines else "no output"


def die_with_parent() -> None:
    """Linux: SIGTERM the trial when its worker dies (kill -9 included), so no orphan keeps
    training and writing into a run that is about to be retried."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
