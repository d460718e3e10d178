"""The local engine: create or join a study, start the workers, wait, summarise.

`run_sweep` enqueues the planned points (once, whoever comes first), then spawns one worker
process per `--workers` (or per GPU, each with its CUDA_VISIBLE_DEVICES) and prints their
lines (each epoch, each trial's end) and the sweep's status: trials done of how many, the
best so far, elapsed, ETA (`vgg_sweep.progress`). Workers are spawned, not forked: a fork
of a process holding storage connections and threads is unsafe, and spawned workers start
without torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
import warnings
from collections import Counter
from pathlib import Path

import optuna
from optuna.trial import TrialState

from vgg_sweep.engine import work_queue
from vgg_sweep.engine.spec import SweepSpec
from vgg_sweep.engine.storage import check_storage, default_journal, open_storage, quiet_optuna
from vgg_sweep.engine.worker import Job, work
from vgg_sweep.outcome import State
from vgg_sweep.phases import add_up
from vgg_sweep.progress import Console, SweepStatus, best_text, eta
from vgg_sweep.record import RECORD_FILE


@dataclasses.dataclass
class SweepSummary:
    name: str
    states: dict[str, int]  # finished | pruned | failed | no metric | retried | waiting | running
    best: optuna.trial.FrozenTrial | None
    interrupted: bool = False
    stopped: str | None = None  # why the sweep stopped after failures in a row
    new_failures: int = 0  # trials of this invocation that failed for good
    rerun: int = 0  # failed trials enqueued again by --retry-failed
    errors: list[str] = dataclasses.field(default_factory=list)  # "w0, w1: message"
    broken_workers: int = 0  # workers that died (their trials are retried)
    no_metric: list[str] = dataclasses.field(default_factory=list)  # run ids, see summarise
    done_before: int = 0  # trials done before this run: --count counts them
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # per phase, all runs
    timed_runs: int = 0  # the runs whose records hold their phases (vgg_sweep.phases)


def run_sweep(spec: SweepSpec, *, storage: str | None = None, runs_dir: Path = Path("runs"),
              workers: int = 1, count: int | None = None, gpus: list[str] | None = None,
              create: bool = True, seed: int = 0, retry_failed: bool = False,
              **job_options) -> SweepSummary:
    """Run (or join, `create=False`) the sweep until done, `count` trials done in all (those
    of earlier runs count: Ctrl-C and the same command runs the rest), Ctrl-C, or the stop
    after `max_failures` failed trials in a row; `retry_failed` enqueues the trials that
    failed for good again first.

    `job_options` go to `Job` (in_process, heartbeat, max_failures, trial_fn, trial_command)."""
    quiet_optuna()
    workers = len(gpus) if gpus else workers
    url = storage or default_journal(runs_dir, spec.name)
    check_storage(url, workers)
    study, created = work_queue.open_study(spec, open_storage(url), create=create, seed=seed)
    planned = work_queue.fill_queue(study, spec, created)
    if spec.metric:  # the dashboard's name for the objective, not "Objective 0"
        with warnings.catch_warnings(category=optuna.exceptions.ExperimentalWarning,
                                     action="ignore"):
            study.set_metric_names([spec.metric])
    job = Job(spec=spec, storage_url=url, runs_dir=Path(runs_dir), **job_options)
    work_queue.restart(study)
    work_queue.reclaim_stale(study, job.grace)  # before --retry-failed looks for failed trials
    rerun = len(work_queue.retry_failed(study)) if retry_failed else 0
    failed_before = _failed(study)
    done_before = summarise(study, None).states["done"]
    if count is not None:
        count = max(0, count - done_before)  # from here on: trials left to this run
    context = multiprocessing.get_context("spawn")
    budget = context.Value("i", count) if count is not None else None
    errors = context.SimpleQueue()
    pipes = [context.Pipe(duplex=False) for _ in range(workers)]  # (read, write) per worker
    # CPU workers share the cores: N workers each using every core would thrash.
    threads = None if gpus else max(1, (os.cpu_count() or 1) // workers)
    processes = [context.Process(target=work, name=f"w{index}",
                                 args=(job, f"w{index}", errors, pipes[index][1], budget,
                                       gpus[index] if gpus else None, threads))
                 for index in range(workers)]
    for process in processes:
        process.start()
    for _, writer in pipes:
        writer.close()  # the workers hold them now
    whole = planned or spec.run_cap  # the status line's "of N": what this run ends at
    total = whole if count is None else min(done_before + count, whole or done_before + count)
    interrupted = _wait(processes, [reader for reader, _ in pipes], study, spec, total)
    summary = summarise(study, spec, interrupted)
    summary.stopped = work_queue.stop_reason(study)
    summary.new_failures = len(_failed(study) - failed_before)
    summary.rerun = rerun
    summary.done_before = done_before
    summary.errors = _error_lines(errors)
    summary.broken_workers = sum(1 for p in processes if p.exitcode not in (0, None)
                                 and not interrupted)
    summary.seconds, summary.timed_runs = add_up(
        path.parent for path in (Path(runs_dir) / spec.name).glob(f"*/{RECORD_FILE}"))
    return summary


def _failed(study: optuna.Study) -> set[int]:
    """Trials that failed for good (a trial without its metric is counted apart)."""
    return {t.number for t in work_queue.failed_for_good(study.get_trials(deepcopy=False))
            if not _no_metric(t)}


def _no_metric(trial: optuna.trial.FrozenTrial) -> bool:
    """The run finished, but its record holds no value of the sweep's metric (the worker
    failed it: nothing to rank it by)."""
    return trial.state == TrialState.FAIL and trial.user_attrs.get("state") == State.FINISHED


def _error_lines(errors) -> list[str]:
    """The workers' errors, one line per distinct message naming the workers it stopped."""
    labels: dict[str, list[str]] = {}
    while not errors.empty():
        label, message = errors.get()
        labels.setdefault(message, []).append(label)
    return [f"{', '.join(names)}: {message}" for message, names in labels.items()]


def _wait(processes, readers, study: optuna.Study, spec: SweepSpec, total: int | None,
          ) -> bool:
    """Join the workers, printing their lines and, once a second, the sweep's status
    (`total`: the trials done when this run ends, None: no end); Ctrl-C is passed on once
    and waited out."""
    console, interrupted, shown = Console(), False, 0.0
    while any(p.is_alive() for p in processes):
        try:
            sentinels = [p.sentinel for p in processes if p.is_alive()]
            ready = multiprocessing.connection.wait([*readers, *sentinels], timeout=1.0)
            with _ctrl_c_held():
                readers = [r for r in readers if r not in ready or _print_lines(r, console)]
                if time.monotonic() - shown >= 1.0:
                    console.status(_status(study, spec, total, len(processes)))
                    shown = time.monotonic()
        except KeyboardInterrupt:
            interrupted = True
            for process in processes:
                if process.is_alive():
                    os.kill(process.pid, signal.SIGINT)
            time.sleep(0.1)
    for reader in readers:
        _print_lines(reader, console)
    console.close()
    return interrupted


@contextlib.contextmanager
def _ctrl_c_held():
    """A Ctrl-C during the block waits for its end: a pipe or the study cut off mid-read
    would be left unreadable (a message's length without its body)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _print_lines(reader, console: Console) -> bool:
    """Every line a worker has sent so far; False once it has exited (end of file)."""
    try:
        while reader.poll():
            console.say(reader.recv())
    except EOFError:
        return False
    return True


def _status(study: optuna.Study, spec: SweepSpec, total: int | None, workers: int,
            ) -> SweepStatus:
    summary = summarise(study, spec)
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    durations = [t.duration.total_seconds() for t in trials if t.duration is not None]
    done = summary.states["done"]
    best = summary.best
    return SweepStatus(done, summary.states.get("running", 0), total,
                       best and best_text(spec.metric, best.value, best.user_attrs.get("run_id")),
                       eta(done, total, durations, workers))


def summarise(study: optuna.Study, spec: SweepSpec | None, interrupted: bool = False,
              ) -> SweepSummary:
    """Counts per outcome (a retried failure counts as `retried`, not `failed`; a finished run
    without the metric as `no metric`, its run id in `no_metric`) and the best."""
    trials = study.get_trials(deepcopy=False)
    failed = {t.number for t in work_queue.failed_for_good(trials)}
    states: Counter = Counter()
    no_metric = []
    for t in trials:
        if t.user_attrs.get("over_run_cap"):
            continue
        if t.number in failed and _no_metric(t):
            states["no metric"] += 1
            no_metric.append(t.user_attrs.get("run_id"))
        elif t.state == TrialState.COMPLETE:
            states[State.FINISHED] += 1
        elif t.state == TrialState.PRUNED:
            states[State.PRUNED] += 1
        elif t.state == TrialState.FAIL:
            states[State.FAILED if t.number in failed else "retried"] += 1
        else:
            states[t.state.name.lower()] += 1
    states["done"] = (states[State.FINISHED] + states[State.PRUNED] + states[State.FAILED]
                      + states["no metric"])
    best = None
    if spec is not None and spec.metric and states[State.FINISHED]:
        best = study.best_trial
    return SweepSummary(study.study_name, dict(states), best, interrupted, no_metric=no_metric)
