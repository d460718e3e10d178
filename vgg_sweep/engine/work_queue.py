"""The Optuna study as a work queue shared by workers on any number of machines.

Why not `study.optimize` with a GridSampler: parallel workers then duplicate or lose grid
points, and a crashed trial is never run again. Instead:

- Planned points (`methods.py`: a grid, or the `run_cap` draws of a random search) are
  enqueued once, by
  whoever creates the study; a study user attribute `queued` marks the queue complete, so a
  second starter never enqueues twice. Only swept values are enqueued: each worker adds its
  own constants, so `--override data_dir=...` works per machine. Workers only claim WAITING
  trials; the claim (WAITING -> RUNNING) is atomic in both the journal file and an RDB.
- A method that plans nothing (bayes, random without run_cap) asks the study for new trials
  while `run_cap` allows.
- A running trial carries a lease (host, pid, time) renewed every few seconds. A lease whose
  holder is a dead process on this host, or that is older than the grace period (another
  host; the machines' clocks must agree well within it), marks the trial crashed. Optuna's
  own heartbeat exists only for RDB storages; one lease works for both.
- A worker leaves only when nothing is WAITING and no trial is claimed without a lease: a
  claim whose worker died before writing the lease is judged only by its grace period, and
  the last worker waits it out rather than leave that point RUNNING for good.
- A crashed trial is failed and enqueued again once, with the same run id, and resumes from
  its checkpoint; a Ctrl-C'd trial, or one whose worker died before starting it, is enqueued
  again without using up its retry. Retries are claimed before fresh points, so a crash is
  followed by its retry.
- `--retry-failed` enqueues the trials that failed for good again, as new runs (new run ids).
- After `max_failures` trials in a row failed or crashed (in the order they ended, across all
  workers and machines) the study attribute `stopped` holds the reason and every worker stops
  claiming. Running the sweep again clears it and counts from there (`failures_from`).

Trial user attributes: `params` (the point), `point` (its index), `run_id`, `attempt`,
`retry_of` (the trial this one repeats), `lease`, `state` and `reason` (the run's outcome).
Study user attributes: `spec` (the search, `spec.fingerprint`) and `settings` (the constants
and overrides, `spec.settings`), which a resume must match; `seed`, `queued`, `stopped`,
`failures_from`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from itertools import takewhile
from typing import Any

import optuna
from optuna.exceptions import DuplicatedStudyError, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from vgg_sweep.engine.hyperband import WandbHyperbandPruner
from vgg_sweep.engine.spec import SweepSpec, changed_settings, fingerprint, settings
from vgg_sweep.errors import UserError
from vgg_sweep.outcome import State

MAX_RETRIES = 1
QUEUE_WAIT = 30.0  # seconds a joiner waits for the creator to finish enqueueing
CLAIM_POLL = 0.5  # seconds between looks at a claim that has no lease yet


# --- the study -----------------------------------------------------------------------------------

def open_study(spec: SweepSpec, storage, *, create: bool, seed: int = 0,
               ) -> tuple[optuna.Study, bool]:
    """Create the study (True) or load it (False); refuse a study of a different search."""
    pruner = (WandbHyperbandPruner(spec.hyperband, spec.goal) if spec.hyperband
              else optuna.pruners.NopPruner())
    if create:
        try:
            study = optuna.create_study(study_name=spec.name, storage=storage,
                                        direction=spec.goal,
                                        sampler=spec.search.sampler(seed),
                                        pruner=pruner)
        except DuplicatedStudyError:
            pass
        else:
            study.set_user_attr("settings", settings(spec))  # before "spec", which joiners await
            study.set_user_attr("spec", fingerprint(spec))
            study.set_user_attr("seed", seed)
            return study, True
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage,
                                  sampler=spec.search.sampler(seed), pruner=pruner)
    except KeyError:
        raise UserError(f"no sweep {spec.name!r} in this storage yet; start it with "
                        f"vgg-sweep sweep {spec.path}") from None
    saved = _wait_for_attr(study, "spec")
    if saved is not None and saved != _jsonable(fingerprint(spec)):
        raise UserError(f"sweep {spec.name!r} already exists with another search space, "
                        f"metric, method or seeds; set name: in {spec.path} to start a new "
                        "sweep")
    saved = study.user_attrs.get("settings")  # None: a study of an earlier version
    changed = [] if saved is None else changed_settings(saved, spec)
    if changed:
        raise UserError(f"sweep {spec.name!r} was created with other settings: "
                        f"{', '.join(changed)}; run it with the --override values and YAML it "
                        f"was created with, or set name: in {spec.path} to start a new sweep")
    stored_seed = study.user_attrs.get("seed", seed)
    study.sampler = spec.search.sampler(stored_seed)
    return study, False


def study_seed(study: optuna.Study) -> int:
    return study.user_attrs.get("seed", 0)


def fill_queue(study: optuna.Study, spec: SweepSpec, created: bool) -> int | None:
    """Enqueue the method's planned points once; returns their number (None: nothing
    planned, trials are asked for one at a time)."""
    if not spec.search.plans(spec):
        return None
    points = spec.search.planned(spec, study_seed(study))
    if not created and _wait_for_attr(study, "queued") is not None:
        return len(points)
    present = {t.user_attrs.get("point") for t in study.get_trials(deepcopy=False)}
    for index, point in enumerate(points):
        if index not in present:  # a creator that died mid-way left the rest to us
            swept = {k: v for k, v in point.items() if k not in spec.constants}
            study.enqueue_trial({}, user_attrs={"point": index, "params": swept, "attempt": 0})
    study.set_user_attr("queued", len(points))
    return len(points)


def _wait_for_attr(study: optuna.Study, key: str) -> Any:
    deadline = time.monotonic() + QUEUE_WAIT
    while True:
        value = study.user_attrs.get(key)
        if value is not None or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def _jsonable(value: Any) -> Any:
    """A value as it comes back from storage (tuples become lists)."""
    return json.loads(json.dumps(value))


# --- claiming ------------------------------------------------------------------------------------

def next_trial(study: optuna.Study, spec: SweepSpec, grace: float,
               stopping: Callable[[], bool] = lambda: False,
               sleep: Callable[[float], None] = time.sleep) -> optuna.Trial | None:
    """The next trial this worker runs, or None when the sweep has nothing left for it.

    "Nothing left" is not said while a trial is claimed without a lease: its worker may have
    died between the claim and the lease (a kill -9), and nothing but its grace period can
    tell. Leaving then would leave that point RUNNING and never run (the sweep started next
    exits at once too); so the worker waits until the lease is written (a live worker: the
    trial is its) or the claim goes stale (it is then retried, for free, and claimed here);
    `stopping()` true (Ctrl-C, the sweep stopped) ends the wait."""
    while True:
        trial = _next_trial(study, spec, grace)
        if trial is not None or stopping() or not unleased_claims(study):
            return trial
        sleep(CLAIM_POLL)


def unleased_claims(study: optuna.Study) -> list[FrozenTrial]:
    """Running trials whose claimer has not written a lease yet (within its grace period)."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if "lease" not in t.user_attrs]


def _next_trial(study: optuna.Study, spec: SweepSpec, grace: float) -> optuna.Trial | None:
    reclaim_stale(study, grace)
    trial = claim_waiting(study)
    if trial is not None or spec.search.plans(spec):
        return trial
    if spec.run_cap is not None and len(fresh_trials(study)) >= spec.run_cap:
        return None
    trial = study.ask()
    if spec.run_cap is not None and _rank(study, trial.number) > spec.run_cap:
        trial.set_user_attr("over_run_cap", True)  # lost a race for the last slot
        study.tell(trial, state=TrialState.FAIL)
        return None
    trial.set_user_attr("attempt", 0)
    return trial


def claim_waiting(study: optuna.Study) -> optuna.Trial | None:
    """Atomically take the oldest WAITING retry, else the oldest WAITING trial (uses
    FrozenTrial._trial_id, as Optuna's own
    `Study._pop_waiting_trial_id` does: the public API has no claim-only call)."""
    storage = study._storage
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    for frozen in sorted(waiting, key=lambda t: ("retry_of" not in t.user_attrs, t.number)):
        try:
            if storage.set_trial_state_values(frozen._trial_id, TrialState.RUNNING):
                return optuna.Trial(study, frozen._trial_id)
        except UpdateFinishedTrialError:
            continue
    return None


def fresh_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Trials that count towards run_cap: not retries, not refused over the cap."""
    return [t for t in study.get_trials(deepcopy=False)
            if "retry_of" not in t.user_attrs and not t.user_attrs.get("over_run_cap")]


def _rank(study: optuna.Study, number: int) -> int:
    return sum(1 for t in fresh_trials(study) if t.number <= number)


# --- leases and retries --------------------------------------------------------------------------

def lease() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "beat": time.time()}


class Heartbeat:
    """Renews a running trial's lease from a background thread until stopped."""

    def __init__(self, trial: optuna.Trial, interval: float):
        self.trial, self.interval = trial, interval
        self._stop = threading.Event()
        trial.set_user_attr("lease", lease())
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.trial.set_user_attr("lease", lease())
            except UpdateFinishedTrialError:  # reclaimed as stale by another worker
                return
            except Exception:  # a storage blip: the next beat tries again within the grace
                continue

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def is_stale(trial: FrozenTrial, grace: float) -> bool:
    held = trial.user_attrs.get("lease")
    if held is None:  # claimed, lease not yet written: judge by the claim time
        started = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        return time.time() - started > grace
    if held["host"] == socket.gethostname() and not _alive(held["pid"]):
        return True
    return time.time() - held["beat"] > grace


def _alive(pid: int) -> bool:
    """Whether the process runs; a zombie does not: a worker killed with its sweep is one
    until something reaps it, which the PID 1 of a container or VM may never do (a resume
    right after a kill -9 then took its trial for a live one and ended with it unrun)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: `pid (name) state ...`; the name may hold spaces and parentheses
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def reclaim_stale(study: optuna.Study, grace: float) -> None:
    """Fail the running trials whose worker died, and enqueue their retry (unless the worker
    queued it before it died); a trial it died before starting is retried for free."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for frozen in trials:
        if frozen.state != TrialState.RUNNING or not is_stale(frozen, grace):
            continue
        try:
            study._storage.set_trial_state_values(frozen._trial_id, TrialState.FAIL)
        except UpdateFinishedTrialError:
            continue  # another worker got there first
        if frozen.number not in retried:
            retry(study, frozen, free="lease" not in frozen.user_attrs)


def retry(study: optuna.Study, frozen: FrozenTrial, *, free: bool = False,
          rerun: bool = False) -> bool:
    """Enqueue the trial again with its run id (it resumes from its checkpoint); `free`:
    without using up its retry (interrupted, or never started); `rerun`: as a new run with a
    fresh retry (--retry-failed)."""
    attempt = 0 if rerun else frozen.user_attrs.get("attempt", 0)
    if not (free or rerun):
        if attempt >= MAX_RETRIES:
            return False
        attempt += 1
    dropped = ("lease", "state", "reason", "over_run_cap") + (("run_id",) if rerun else ())
    kept = {k: v for k, v in frozen.user_attrs.items() if k not in dropped}
    study.enqueue_trial(frozen.params, user_attrs={**kept, "attempt": attempt,
                                                   "retry_of": frozen.number})
    return True


def fail(study: optuna.Study, trial: optuna.Trial, *, requeue: bool, interrupted: bool,
         ) -> None:
    """Mark a trial failed; a crashed or interrupted one is enqueued again first, so that a
    worker dying in between (a kill, a full disk) leaves a RUNNING trial with its retry
    queued, never a failed one without it."""
    if requeue:
        frozen = study._storage.get_trial(trial._trial_id)
        if frozen.state != TrialState.RUNNING:  # reclaimed as stale: the reclaimer retries it
            raise UpdateFinishedTrialError(f"trial {frozen.number} was reclaimed")
        retry(study, frozen, free=interrupted)
    study.tell(trial, state=TrialState.FAIL)


def failed_for_good(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The failed trials that nothing runs again (no retry, no rerun)."""
    repeated = {t.user_attrs.get("retry_of") for t in trials}
    return [t for t in trials if t.state == TrialState.FAIL and t.number not in repeated
            and not t.user_attrs.get("over_run_cap")]


def retry_failed(study: optuna.Study) -> list[FrozenTrial]:
    """--retry-failed: enqueue every trial that failed for good again, as a new run."""
    failed = failed_for_good(study.get_trials(deepcopy=False))
    for frozen in failed:
        retry(study, frozen, rerun=True)
    return failed


# --- stopping after failures ---------------------------------------------------------------------

def stop_reason(study: optuna.Study) -> str | None:
    """Why the sweep stopped (every worker checks before claiming), or None."""
    return study.user_attrs.get("stopped")


def restart(study: optuna.Study) -> None:
    """A new run of a stopped sweep: clear the stop, count failures from the next trial."""
    if stop_reason(study) is not None:
        study.set_user_attr("failures_from", len(study.get_trials(deepcopy=False)))
        study.set_user_attr("stopped", None)


def failure_streak(study: optuna.Study) -> list[FrozenTrial]:
    """The trials that failed or crashed since the last one that finished or was pruned, in
    the order they ended; an interrupted (Ctrl-C'd) trial counts neither way, and a crashed
    one that was queued again counts through its retry (two workers whose crashes and
    retries interleave would otherwise see crashes "in a row" that their retries mend)."""
    since = study.user_attrs.get("failures_from", 0)
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    ended = sorted((t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED,
                                                     TrialState.FAIL)
                    and t.number >= since and t.number not in retried and not _interrupted(t)
                    and not t.user_attrs.get("over_run_cap")),
                   key=lambda t: t.datetime_complete)
    return list(takewhile(lambda t: t.state == TrialState.FAIL, reversed(ended)))[::-1]


def _interrupted(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.FAIL and trial.user_attrs.get("state") == State.KILLED


def stop_after_failures(study: optuna.Study, limit: int) -> None:
    """Stop the sweep once `limit` (> 0) trials in a row have failed or crashed."""
    streak = failure_streak(study)
    if len(streak) < limit or stop_reason(study) is not None:
        return
    reasons = Counter(t.user_attrs.get("reason") or "no reason recorded" for t in streak)
    reason, count = reasons.most_common(1)[0]
    study.set_user_attr("stopped", f"{len(streak)} trials in a row failed or crashed "
                                   f"({count} of them: {reason})")
