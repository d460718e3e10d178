"""One worker: claim a trial, run it, report it, until the sweep has nothing left.

Each worker process opens its own storage connection and loads the study; several workers
(on one machine or many) share nothing else. Ctrl-C or SIGTERM sets a flag: the running trial
stops at the end of its batch, is enqueued again, and the worker exits; re-running the same
command resumes the sweep. A worker also stops claiming when the study says the sweep stopped
(too many failures in a row, `work_queue.stop_after_failures`).

An error in the worker's own code while it handles a trial fails that trial for good (its
reason names the error) and the worker goes on; any other error ends the worker: its one-line
message goes to `errors` for the sweep to print, and its exit code is 1.

A worker prints nothing itself: its lines (one per epoch of its trial, told by the trial's
`on_epoch` or the epoch channel; one when a trial ends) go to `lines`, which the sweep's
process prints above its status line (`vgg_sweep.progress`).
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.queues import SimpleQueue
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from vgg_sweep.config import FIELDS, ConfigError, make_config
from vgg_sweep.engine import work_queue
from vgg_sweep.engine.bayes import optuna_distribution
from vgg_sweep.engine.foreign import run_program
from vgg_sweep.engine.runner import TRAIN_COMMAND, run_in_process, run_subprocess
from vgg_sweep.engine.spec import SweepSpec
from vgg_sweep.engine.storage import open_storage, quiet_optuna
from vgg_sweep.engine.warm import warm_server
from vgg_sweep.errors import UserError
from vgg_sweep.outcome import Outcome, State, StopFlag
from vgg_sweep.progress import duration, epoch_line
from vgg_sweep.record import RECORD_FILE, read_history, read_record
from vgg_sweep.tracking import wandb_mode


@dataclass(frozen=True)
class Job:
    """What every worker of a sweep needs (picklable: workers are spawned processes)."""

    spec: SweepSpec
    storage_url: str
    runs_dir: Path
    in_process: bool = False
    heartbeat: float = 10.0
    max_failures: int = 5  # stop the sweep after this many failed trials in a row; 0: never
    trial_fn: Callable | None = None  # in-process trial; default vgg_sweep.train.run_trial
    trial_command: tuple[str, ...] = TRAIN_COMMAND  # subprocess trial
    cold_start: bool = False  # our trainer in a fresh interpreter per trial, not warm.py's fork

    @property
    def grace(self) -> float:
        return 3 * self.heartbeat

    @property
    def warm(self) -> bool:
        """Trials fork from the worker's warm server (vgg_sweep/engine/warm.py): our trainer's
        subprocess trials, unless `cold_start`."""
        return (not (self.cold_start or self.in_process or self.spec.foreign)
                and self.trial_command == TRAIN_COMMAND)


def work(job: Job, label: str, errors: SimpleQueue, lines: Connection,
         budget: Synchronized | None = None, gpu: str | None = None,
         threads: int | None = None) -> None:
    """The worker loop, its progress lines sent on `lines` (a pipe of its own: a worker
    killed mid-send holds no lock the others need) as "[label] ...";
    `budget` is the trial count left to all workers (--count);
    `threads` caps the CPU threads of its trials (set before torch is imported, and
    inherited by trial subprocesses)."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    quiet_optuna()
    say = _sender(lines, label)
    with StopFlag().installed() as stop:  # Ctrl-C: the trial ends its batch, then we leave
        try:
            server = (warm_server(job.spec, wandb_mode() != "disabled") if job.warm
                      else nullcontext())
            with server:
                _serve(job, stop, say, budget)
        except Exception as error:  # the sweep prints it; the study stays consistent (leases)
            errors.put((label, error_line(error)))
            sys.exit(1)


def _serve(job: Job, stop: StopFlag, say: Callable[[str], None],
           budget: Synchronized | None) -> None:
    """Claim and run trials until the sweep has none left, is stopped, or Ctrl-C."""
    study, _ = work_queue.open_study(job.spec, open_storage(job.storage_url), create=False)
    while not stop.raised and work_queue.stop_reason(study) is None and _take(budget):
        trial = work_queue.next_trial(
            study, job.spec, job.grace,
            stopping=lambda: stop.raised or work_queue.stop_reason(study) is not None)
        if trial is None:
            _give_back(budget)
            return
        started = time.monotonic()
        outcome = run_one(job, study, trial, stop, say)
        say(f"{describe(job.spec, trial, outcome)}, {duration(time.monotonic() - started)}")
        if outcome.interrupted:
            return


def _sender(lines: Connection, label: str) -> Callable[[str], None]:
    def say(line: str) -> None:
        try:
            lines.send(f"[{label}] {line}")
        except OSError:  # the sweep's process is gone: nobody reads them
            pass

    return say


def error_line(error: Exception) -> str:
    """An error in one line: a user error's own message, else its type and message."""
    text = " ".join(str(error).split())
    if isinstance(error, UserError):
        return text
    cause = error.__cause__  # Optuna's storage errors name the driver's in their cause
    because = f" ({type(cause).__name__}: {' '.join(str(cause).split())[:300]})" if cause else ""
    return f"{type(error).__name__}: {text}{because}"


def run_one(job: Job, study: optuna.Study, trial: optuna.Trial, stop: StopFlag,
            say: Callable[[str], None]) -> Outcome:
    """Run a claimed trial under a lease and tell the study how it ended; `say` gets one
    line per epoch."""
    spec = job.spec
    heartbeat = work_queue.Heartbeat(trial, job.heartbeat)
    try:
        resume = "run_id" in trial.user_attrs  # a retry of the same run
        run_id = trial.user_attrs.get("run_id") or uuid.uuid4().hex[:8]
        trial.set_user_attr("run_id", run_id)
        first = run_id if spec.seeds == 1 else seed_run_id(run_id, 0)
        trial.set_user_attr("record", str(run_dir(job, first).resolve() / RECORD_FILE))
        params = spec.search.point(spec, trial, work_queue.study_seed(study))
        trial.set_user_attr("params", params)
        _as_optuna_params(trial, spec, params)
        outcome = (_execute(job, trial, params, run_id, resume, stop, say) if spec.seeds == 1
                   else _execute_seeds(job, trial, params, run_id, stop, say))
    except Exception as error:  # a bad draw, a bug here: this trial failed, not the sweep
        outcome = Outcome(State.FAILED, reason=f"worker error: {error_line(error)}")
    finally:
        heartbeat.stop()
    trial.set_user_attr("state", outcome.state)
    if outcome.reason:
        trial.set_user_attr("reason", outcome.reason[:500])
    try:
        state = _tell(study, trial, spec, outcome)
    except UpdateFinishedTrialError:  # this worker was silent past the grace period
        outcome.reason = "reclaimed as stale by another worker, which runs it again"
        return outcome
    if state == TrialState.FAIL and not outcome.interrupted and job.max_failures:
        work_queue.stop_after_failures(study, job.max_failures)
    return outcome


def _as_optuna_params(trial: optuna.Trial, spec: SweepSpec, params: dict[str, Any]) -> None:
    """The swept values as the trial's Optuna parameters too (a bayes trial has them from TPE
    already), under the distributions the bayes search uses: the dashboard's parameter plots
    (importance, parallel coordinates, slices) read those. A value its distribution cannot
    hold (a normal draw past the searched range) stays in the `params` attribute alone.
    Through the storage: Optuna's public API sets a parameter only through a sampler."""
    for name, param in spec.params.items():
        if param.kind == "constant" or name in trial.params or name not in params:
            continue
        try:
            distribution = optuna_distribution(param)
            internal = distribution.to_internal_repr(params[name])
        except (ValueError, TypeError):  # a value Optuna cannot store (a list, say)
            continue
        if distribution._contains(internal):
            trial.storage.set_trial_param(trial._trial_id, name, internal, distribution)


def run_dir(job: Job, run_id: str) -> Path:
    return Path(job.runs_dir) / job.spec.name / run_id


def seed_run_id(run_id: str, index: int) -> str:
    """The run of a configuration's `index`-th seed (0-based): `<run_id>-s1`, `-s2`, ..."""
    return f"{run_id}-s{index + 1}"


def _execute_seeds(job: Job, trial: optuna.Trial, params: dict, run_id: str, stop: StopFlag,
                   say: Callable[[str], None]) -> Outcome:
    """A configuration trained with `spec.seeds` seeds in turn (seed, seed + 1, ...), one run
    each (`seed_run_id`), grouped under `run_id`; the trial's value is their mean. Hyperband
    judges the configuration by its first seed: pruned there, the other seeds never train. A
    seed run that ended in an earlier attempt of the trial is kept, one cut short resumes."""
    spec, first_seed = job.spec, int(params.get("seed", FIELDS["seed"].default))
    outcomes = []
    for index in range(spec.seeds):
        seed_id = seed_run_id(run_id, index)
        folder = run_dir(job, seed_id)
        outcome = _ended(folder) or _execute(
            job, trial, {**params, "seed": first_seed + index}, seed_id,
            (folder / RECORD_FILE).exists(), stop, say, group=run_id, judged=index == 0)
        if outcome.state != State.FINISHED:
            return outcome
        outcomes.append(outcome)
    values = [objective(spec, outcome) for outcome in outcomes]
    if spec.metric is None or None in values:
        return Outcome(State.FINISHED, reason="a seed run logged no metric")
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return Outcome(State.FINISHED, {spec.metric: mean, f"{spec.metric}_std": spread,
                                    f"{spec.metric}_seeds": values})


def _ended(folder: Path) -> Outcome | None:
    """The outcome a seed run's record holds when it ended (finished, pruned, failed)."""
    try:
        record = read_record(folder)
    except ValueError:
        return None
    ended = (State.FINISHED, State.PRUNED, State.FAILED)
    if record.get("state") not in ended:
        return None
    summary = record.get("summary") or {}
    return Outcome(State(record["state"]), summary, record.get("history") or [],
                   summary.get("failure_reason"))


def _execute(job: Job, trial: optuna.Trial, params: dict, run_id: str, resume: bool,
             stop: StopFlag, say: Callable[[str], None], group: str | None = None,
             judged: bool = True) -> Outcome:
    """One run of the trial's point; `judged`: its epochs are the trial's (reported, and
    hyperband may prune it), `group`: the configuration it is one seed of."""
    spec, started = job.spec, time.monotonic()
    try:
        config = None if spec.foreign else make_config(params)
    except ConfigError as error:  # a draw of an unbounded distribution left the field's range
        return Outcome(State.FAILED, reason=str(error))
    folder = run_dir(job, run_id)
    epochs = params.get("epochs") if config is None else config.epochs

    def on_epoch(epoch: int, row: dict[str, Any]) -> bool:
        say(f"trial {trial.number} {run_id} "
            f"{epoch_line(epoch, epochs, row, time.monotonic() - started)}")
        return judged and _report(trial, spec, epoch, row) and trial.should_prune()

    if spec.foreign:  # the sweep file's own program, as a W&B agent runs it; from its start
        return run_program(spec.command, spec.program, spec.program_params(params), folder,
                           run_id=run_id, sweep=spec.name, metric=spec.metric,
                           on_epoch=on_epoch, should_stop=lambda: stop.raised, group=group)
    if resume and judged:  # the trial calls on_epoch for new epochs only; the pruner needs all
        for epoch, row in enumerate(read_history(folder), start=1):
            _report(trial, spec, epoch, row)
    if job.in_process:
        trial_fn = job.trial_fn or _default_trial_fn()
        return run_in_process(trial_fn, config, folder, run_id=run_id, sweep=spec.name,
                              resume=resume, on_epoch=on_epoch, group=group)
    return run_subprocess(job.trial_command, params, folder, runs_dir=Path(job.runs_dir),
                          run_id=run_id, sweep=spec.name, resume=resume, on_epoch=on_epoch,
                          should_stop=lambda: stop.raised, group=group, warm=job.warm)


def _report(trial: optuna.Trial, spec: SweepSpec, epoch: int, row: dict[str, Any]) -> bool:
    """Report the epoch's metric to Optuna (every method: the dashboard's learning curves);
    True when hyperband should now be asked."""
    value = row.get(spec.metric) if spec.metric else None
    if isinstance(value, int | float) and math.isfinite(value):
        trial.report(float(value), epoch)
        return spec.hyperband is not None
    return False


def _default_trial_fn() -> Callable:
    from vgg_sweep.train import run_trial

    return run_trial


def _tell(study: optuna.Study, trial: optuna.Trial, spec: SweepSpec, outcome: Outcome,
          ) -> TrialState:
    """Tell the study how the trial ended; returns the state it now has."""
    if outcome.state == State.FINISHED:
        value = objective(spec, outcome)
        if value is not None:
            study.tell(trial, value)
            return TrialState.COMPLETE
        trial.set_user_attr("reason", outcome.reason
                            or f"metric {spec.metric!r} missing from the run's summary")
    if outcome.state == State.PRUNED:
        study.tell(trial, state=TrialState.PRUNED)
        return TrialState.PRUNED
    work_queue.fail(study, trial, requeue=outcome.state in (State.CRASHED, State.KILLED),
                    interrupted=outcome.interrupted)
    return TrialState.FAIL


def objective(spec: SweepSpec, outcome: Outcome) -> float | None:
    """The metric from the summary (else the last epoch); 0 when the YAML names no metric."""
    if spec.metric is None:
        return 0.0
    value = outcome.summary.get(spec.metric)
    if value is None and outcome.history:
        value = outcome.history[-1].get(spec.metric)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def describe(spec: SweepSpec, trial: optuna.Trial, outcome: Outcome) -> str:
    """One progress line: trial, run id, swept values, metric, state."""
    params = trial.user_attrs.get("params")
    params = params if isinstance(params, dict) else {}  # a point the worker could not use
    swept = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items() if k not in spec.constants)
    value = objective(spec, outcome) if spec.metric else None
    metric = f" {spec.metric}={value:.4g}" if value is not None else ""
    reason = f" ({outcome.reason})" if outcome.reason else ""
    return (f"trial {trial.number} {trial.user_attrs.get('run_id')} {swept}:{metric} "
            f"{outcome.state}{reason}")


def _take(budget: Synchronized | None) -> bool:
    if budget is None:
        return True
    with budget.get_lock():
        if budget.value <= 0:
            return False
        budget.value -= 1
        return True


def _give_back(budget: Synchronized | None) -> None:
    if budget is not None:
        with budget.get_lock():
            budget.value += 1
