"""Failed trials through the `vgg-sweep` program: exit codes, the stop after failures in a
row, --retry-failed, an error in the worker itself. Trials are fake_trial's, in-process:
`device=cuda` fails at once with the trainer's reason, `seed=13` crashes its first attempt."""

import re
import subprocess
import sys
from collections import Counter

import pytest
from contract import CliResult, assert_contract
from fake_trial import CRASH_SEED, NO_GPU
from optuna.trial import TrialState
from study_helpers import FAKE_CLI, completed_points, load_study

from vgg_sweep.record import read_record

GRID_8 = """
    name: g8
    method: grid
    metric: {name: val_acc, goal: maximize}
    parameters:
      lr: {values: [0.1, 0.01, 0.001, 0.0001, 0.2, 0.3, 0.4, 0.5]}
      device: {value: cuda}
      epochs: {value: 2}
"""
STOPPED = "vgg-sweep: error: sweep stopped: "


def cli(*args, command=(*FAKE_CLI,)) -> CliResult:
    done = subprocess.run([*command, *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    result = CliResult(done.returncode, done.stdout, done.stderr)
    assert_contract(result, allowed=(0, 1))
    return result


def sweep(path, runs, *args, command="sweep") -> CliResult:
    """`vgg-sweep sweep PATH --runs-dir RUNS --in-process ARGS`, fake trials."""
    return cli(command, path, "--runs-dir", runs, "--in-process", *args)


def study_of(runs, name="g8"):
    return load_study(name, str(runs / name / "study.log"))


def states(runs, name="g8") -> Counter:
    return Counter(t.state.name for t in study_of(runs, name).trials)


def test_exit_code_1_when_a_trial_of_this_run_failed_for_good_else_0(write_sweep, tmp_path):
    path = write_sweep(GRID_8.replace("0.1, 0.01, 0.001, 0.0001, 0.2, 0.3, 0.4, 0.5", "0.1, 0.01")
                       .replace("device: {value: cuda}", "device: {values: [cpu, cuda]}"))
    runs = tmp_path / "runs"
    first = sweep(path, runs, "--max-consecutive-failures", "0")
    assert first.code == 1
    assert "2 finished, 0 pruned, 2 failed, 0 retried" in first.out
    assert first.out.count(f"failed ({NO_GPU})") == 2
    assert "2 trial(s) of this run failed" in first.err
    # Nothing left to run: this run failed nothing, so 0, though the study keeps 2 failures.
    again = sweep(path, runs)
    assert again.code == 0 and "2 finished, 0 pruned, 2 failed, 0 retried" in again.out
    assert again.err == ""


def test_an_error_in_the_worker_fails_that_trial_in_one_line_and_the_sweep_exits_1(
        write_sweep, tmp_path):
    path = write_sweep(GRID_8.replace("device: {value: cuda}", "device: {value: cpu}"))
    runs = tmp_path / "runs"
    assert sweep(path, runs, "--count", "1").code == 0
    # A queued point the worker cannot use (a bad draw): it raised out of the worker loop,
    # printed a traceback, left the trial RUNNING and the sweep exited 0.
    study_of(runs).enqueue_trial({}, user_attrs={"point": 8, "params": "a bad draw",
                                                 "attempt": 0})
    result = sweep(path, runs, "--workers", "2")
    assert result.code == 1, result.err
    bad = [line for line in result.out.splitlines() if "worker error" in line]
    assert len(bad) == 1 and "trial 8 " in bad[0], result.out + result.err
    assert "failed (worker error: TypeError: 'str' object is not a mapping)" in bad[0]
    assert "8 finished, 0 pruned, 1 failed, 0 retried" in result.out
    assert "1 trial(s) of this run failed" in result.err
    study = study_of(runs)
    assert Counter(t.state.name for t in study.trials) == {"COMPLETE": 8, "FAIL": 1}
    assert study.trials[8].user_attrs["state"] == "failed"
    assert completed_points(study) == Counter(range(8))


def test_stop_after_failures_in_a_row_then_fix_resume_and_retry_failed(write_sweep, tmp_path):
    path, runs = write_sweep(GRID_8), tmp_path / "runs"
    stopped = sweep(path, runs, "--workers", "2", "--max-consecutive-failures", "3")
    assert stopped.code == 1
    lines = [line for line in stopped.err.splitlines() if line.startswith(STOPPED)]
    assert len(lines) == 1, stopped.err
    # the other worker's trial, already running, may fail too before the stop is read (warm
    # trials fail in a tenth of a second): then the line counts 4
    counted = re.search(r"(\d) trials in a row failed or crashed \((\d) of them: "
                        + re.escape(NO_GPU) + r"\)", lines[0])
    assert counted and counted[1] == counted[2] and counted[1] in "34", lines[0]
    failed = states(runs)["FAIL"]
    assert 3 <= failed <= 4
    assert states(runs) == {"FAIL": failed, "WAITING": 8 - failed}
    # The fix on the agent side (device is a constant); the stop is cleared, the rest runs.
    fixed = sweep(path, runs, "--override", "device=cpu", "--workers", "2", command="agent")
    assert fixed.code == 0, fixed.err
    assert f"{8 - failed} finished, 0 pruned, {failed} failed, 0 retried" in fixed.out
    finished_ids = {t.user_attrs["run_id"] for t in study_of(runs).trials
                    if t.state == TrialState.COMPLETE}
    rerun = sweep(path, runs, "--override", "device=cpu", "--retry-failed")
    assert rerun.code == 0, rerun.err
    assert (f"8 finished, 0 pruned, 0 failed, {failed} retried ({failed} failed trials run "
            "again)") in rerun.out
    study = study_of(runs)
    assert len(study.trials) == 8 + failed and completed_points(study) == Counter(range(8))
    for old in study.get_trials(states=(TrialState.FAIL,)):  # new runs; the old ones stay
        new = next(t for t in study.trials if t.user_attrs.get("retry_of") == old.number)
        assert new.user_attrs["run_id"] != old.user_attrs["run_id"]
        assert new.user_attrs["point"] == old.user_attrs["point"]
        assert read_record(runs / "g8" / old.user_attrs["run_id"])["state"] == "failed"
        assert read_record(runs / "g8" / new.user_attrs["run_id"])["state"] == "finished"
    assert finished_ids <= {t.user_attrs["run_id"] for t in study.trials
                            if t.state == TrialState.COMPLETE}  # not run again
    nothing = sweep(path, runs, "--override", "device=cpu", "--retry-failed")
    assert nothing.code == 0 and "(0 failed trials run again)" in nothing.out
    assert len(study_of(runs).trials) == 8 + failed


def test_the_failure_count_carries_across_a_resume(write_sweep, tmp_path):
    path, runs = write_sweep(GRID_8), tmp_path / "runs"
    first = sweep(path, runs, "--count", "2", "--max-consecutive-failures", "3")
    assert first.code == 1 and STOPPED not in first.err  # 2 in a row: not yet
    second = sweep(path, runs, "--max-consecutive-failures", "3")
    assert second.code == 1 and "3 trials in a row failed or crashed" in second.err
    assert states(runs) == {"FAIL": 3, "WAITING": 5}  # the resumed sweep ran one trial


def test_max_consecutive_failures_0_never_stops(write_sweep, tmp_path):
    path, runs = write_sweep(GRID_8), tmp_path / "runs"
    result = sweep(path, runs, "--max-consecutive-failures", "0", "--workers", "2")
    assert result.code == 1 and STOPPED not in result.err
    assert "0 finished, 0 pruned, 8 failed, 0 retried" in result.out
    assert states(runs) == {"FAIL": 8}


def test_crashes_followed_by_their_retries_do_not_stop_the_sweep(write_sweep, tmp_path):
    # Every point crashes once and finishes on its retry (as in test_rel_kill9's planned
    # kills). A retry is claimed before fresh points, so two workers see at most 2 crashes in
    # a row; were retries queued last, the first 3 crashes would stop the sweep.
    path = write_sweep(GRID_8.replace("device: {value: cuda}", f"seed: {{value: {CRASH_SEED}}}"))
    runs = tmp_path / "runs"
    result = sweep(path, runs, "--workers", "2", "--max-consecutive-failures", "3")
    assert result.code == 0, result.err
    assert "8 finished, 0 pruned, 0 failed, 8 retried" in result.out
    assert states(runs) == {"COMPLETE": 8, "FAIL": 8}


def test_the_real_trainer_on_cuda_without_a_gpu_stops_the_sweep_with_its_reason(
        write_sweep, tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: device=cuda does not fail here")
    path = write_sweep("""
        name: real
        method: grid
        parameters:
          seed: {values: [1, 2, 3]}
          device: {value: cuda}
          dataset: {value: synthetic}
          epochs: {value: 1}
    """)
    runs = tmp_path / "runs"
    result = cli("sweep", path, "--runs-dir", runs, "--in-process",
                 "--max-consecutive-failures", "2", command=(sys.executable, "-m", "vgg_sweep"))
    assert result.code == 1
    assert (f"{STOPPED}2 trials in a row failed or crashed (2 of them: {NO_GPU})"
            in result.err)
    assert states(runs, "real") == {"FAIL": 2, "WAITING": 1}


def test_a_crash_counts_through_its_retry_in_the_failure_streak():
    """The interleaving two loaded workers produced (seen once in ~14 runs of the test above):
    points 2, 3 and 4 crash one after the other, each with its retry queued, before any retry
    ends. Those crashes are mended by their retries, so they are no streak; a point that
    failed for good (no retry) is."""
    import optuna
    from optuna.trial import create_trial

    from vgg_sweep.engine.work_queue import failure_streak

    study = optuna.create_study()
    for point in (2, 3, 4):
        study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={
            "point": point, "attempt": 0, "state": "crashed"}))
    for number in (0, 1, 2):  # their retries, queued before each crash was marked failed
        study.add_trial(create_trial(state=TrialState.WAITING, user_attrs={"retry_of": number}))
    assert failure_streak(study) == []
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"point": 5, "attempt": 0,
                                                                    "state": "failed"}))
    assert [t.user_attrs["point"] for t in failure_streak(study)] == [5]
