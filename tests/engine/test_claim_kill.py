"""A worker killed at the precise moments of a claim, driven step by step (no timing luck).

The random kill -9 test (tests/reliability/test_rel_kill9.py) once lost a grid point this
way: a worker was killed after it claimed a trial (WAITING -> RUNNING) and before it wrote the
trial's lease, so nothing named the dead process. The sweep started next (the final resume)
found nothing WAITING and exited 0 while the lease-less trial was still inside its grace
period: the point stayed RUNNING, never COMPLETE.
"""

from __future__ import annotations

import time

from fake_trial import run_trial as fake_trial
from optuna.trial import TrialState
from study_helpers import completed_points, load_study

from vgg_sweep.engine import work_queue
from vgg_sweep.engine.local import run_sweep
from vgg_sweep.engine.spec import load_spec
from vgg_sweep.engine.storage import open_storage

GRID_3 = """
    name: claims
    method: grid
    metric: {name: val_acc, goal: maximize}
    parameters:
      lr: {values: [0.1, 0.01, 0.001]}
      epochs: {value: 2}
"""
HEARTBEAT = 1.0  # grace: 3 s


def journal_url(runs, name):
    return str(runs / name / "study.log")


def _queued_study(spec, runs):
    url = journal_url(runs, spec.name)
    study, created = work_queue.open_study(spec, open_storage(url), create=True)
    work_queue.fill_queue(study, spec, created)
    return study


def _check_each_point_once(spec, runs, points):
    study = load_study(spec.name, journal_url(runs, spec.name))
    assert completed_points(study) == {point: 1 for point in range(points)}
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    return study


def test_worker_killed_between_claim_and_lease_then_resume_runs_the_point(tmp_path,
                                                                          write_sweep):
    spec = load_spec(write_sweep(GRID_3))
    runs = tmp_path / "runs"
    study = _queued_study(spec, runs)
    # The dead worker's last act: the claim of point 0. No lease, no run id, no trial started.
    claimed = work_queue.claim_waiting(study)
    assert claimed is not None and claimed.user_attrs["point"] == 0
    started = time.monotonic()
    summary = run_sweep(spec, runs_dir=runs, workers=1, heartbeat=HEARTBEAT, in_process=True,
                        trial_fn=fake_trial)
    assert summary.states.get("finished") == 3, summary.states
    study = _check_each_point_once(spec, runs, 3)
    # retried for free (never started): attempt 0, and the claim's trial failed without a run
    [dead] = [t for t in study.get_trials() if t.number == claimed.number]
    assert dead.state == TrialState.FAIL and "run_id" not in dead.user_attrs
    [retry] = [t for t in study.get_trials() if t.user_attrs.get("retry_of") == dead.number]
    assert retry.user_attrs["attempt"] == 0 and retry.state == TrialState.COMPLETE
    # the worker waited for the claim's grace, no longer
    assert time.monotonic() - started < 3 * HEARTBEAT + 15


def test_lease_less_claim_of_a_live_worker_is_waited_for_not_retried(tmp_path, write_sweep):
    """The other side: a claim whose worker is alive and writes its lease a moment later is
    not failed by a worker that finds nothing else to do; that worker waits for the lease,
    then leaves the trial to its holder."""
    spec = load_spec(write_sweep(GRID_3))
    runs = tmp_path / "runs"
    study = _queued_study(spec, runs)
    claimed = work_queue.claim_waiting(study)
    for _ in range(2):  # the other points, run here
        trial = work_queue.claim_waiting(study)
        study.tell(trial, 1.0)
    waiter = load_study(spec.name, journal_url(runs, spec.name))
    deadline = time.monotonic() + 0.5
    calls = []

    def lease_soon(seconds):  # the holder writes its lease while the other worker waits
        calls.append(seconds)
        if time.monotonic() > deadline and "lease" not in claimed.user_attrs:
            claimed.set_user_attr("lease", work_queue.lease())
        time.sleep(seconds)

    assert work_queue.next_trial(waiter, spec, grace=3 * HEARTBEAT, sleep=lease_soon) is None
    assert calls  # it did wait
    assert study._storage.get_trial(claimed._trial_id).state == TrialState.RUNNING
    assert not [t for t in study.get_trials() if "retry_of" in t.user_attrs]
